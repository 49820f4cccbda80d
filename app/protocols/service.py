"""Protocol versions: load (validated, immutable, SHA-256), approve with the password, diff,
and the dose preview. Sessions pin the version they were started with."""

from __future__ import annotations

import tomllib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.audit.domain import Actor
from app.core.errors import Conflict, NotFound, Unprocessable
from app.protocols.domain import (
    DoseCalculation,
    DoseRefused,
    ProtocolDefinition,
    WeightMeasurement,
    calculate_dose,
)
from app.protocols.domain.diff import KeyChange, diff_protocols
from app.protocols.file_schema import (
    ProtocolFileError,
    parse_protocol_bytes,
    to_protocol_definition,
)
from app.protocols.models import ProtocolVersion
from app.protocols.repository import ProtocolRepository

PENDING, ACTIVE, RETIRED = "pending", "active", "retired"


@lru_cache(maxsize=64)
def _definition(sha256: str, content: str) -> ProtocolDefinition:
    model, _ = parse_protocol_bytes(content.encode(), f"protocol {sha256[:12]}")
    return to_protocol_definition(model)


def definition_of(version: ProtocolVersion) -> ProtocolDefinition:
    """The domain rules of a stored version (parsed once per content hash)."""
    return _definition(version.sha256, version.content)


def _raw(version: ProtocolVersion) -> dict[str, Any]:
    return tomllib.loads(version.content)


@dataclass(frozen=True, slots=True)
class Loaded:
    version: ProtocolVersion
    created: bool


async def load_version(
    db: AsyncSession,
    *,
    clinic_id: uuid.UUID,
    content: bytes,
    source_name: str,
    actor: Actor,
    now: datetime,
) -> Loaded:
    """Validate and store a protocol file as a pending version; the same content loads once.

    A file with a bad value is refused naming the file, key and reason (422). Audited.
    """
    try:
        model, sha256 = parse_protocol_bytes(content, source_name)
    except ProtocolFileError as exc:
        raise Unprocessable(str(exc)) from exc
    repo = ProtocolRepository(db)
    existing = await repo.by_sha(clinic_id, sha256)
    if existing is not None:
        return Loaded(existing, created=False)
    key, version = model.protocol.id, model.protocol.version
    if await repo.by_key_version(clinic_id, key, version) is not None:
        raise Conflict(
            f"{source_name}: protocol {key!r} version {version!r} is already loaded with other "
            "content; give the changed file a new protocol.version"
        )
    row = ProtocolVersion(
        id=uuid.uuid4(),
        clinic_id=clinic_id,
        protocol_key=key,
        version=version,
        name=model.protocol.name,
        source_name=source_name,
        content=content.decode("utf-8"),
        sha256=sha256,
        status=PENDING,
        loaded_at=now,
        loaded_by=actor.actor_name or actor.actor_type,
        approved_at=None,
        approved_by=None,
        retired_at=None,
    )
    await repo.add(row)
    await audit_service.record(
        db,
        actor=actor,
        action="PROTOCOL_LOADED",
        entity_type="protocol_version",
        entity_id=row.id,
        clinic_id=clinic_id,
        now=now,
        after={"protocol": key, "version": version, "sha256": sha256, "source": source_name},
    )
    return Loaded(row, created=True)


async def get_version(
    db: AsyncSession, clinic_id: uuid.UUID, version_id: uuid.UUID
) -> ProtocolVersion:
    version = await ProtocolRepository(db).get(clinic_id, version_id)
    if version is None:
        raise NotFound("protocol version not found")
    return version


async def versions_by_id(
    db: AsyncSession, version_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, ProtocolVersion]:
    return {v.id: v for v in await ProtocolRepository(db).by_ids(version_ids)}


async def list_versions(db: AsyncSession, clinic_id: uuid.UUID) -> Sequence[ProtocolVersion]:
    return await ProtocolRepository(db).all(clinic_id)


async def active_version(
    db: AsyncSession, clinic_id: uuid.UUID, protocol_key: str | None = None
) -> ProtocolVersion | None:
    """The approved version in force (of one protocol, or the most recently approved of any)."""
    found = await ProtocolRepository(db).active(clinic_id, protocol_key)
    return found[0] if found else None


async def usable_version(
    db: AsyncSession, clinic_id: uuid.UUID, version_id: uuid.UUID
) -> ProtocolVersion:
    """A version a new session may use: it must be approved and not superseded (else 409)."""
    version = await get_version(db, clinic_id, version_id)
    if version.status != ACTIVE:
        raise Conflict(
            f"protocol {version.protocol_key} version {version.version} is {version.status}, not "
            "approved for use; a physician or admin must approve it first"
        )
    return version


def diff(old: ProtocolVersion, new: ProtocolVersion) -> tuple[KeyChange, ...]:
    return diff_protocols(_raw(old), _raw(new))


@dataclass(frozen=True, slots=True)
class Approval:
    version: ProtocolVersion
    replaced: ProtocolVersion | None
    changes: tuple[KeyChange, ...]


async def activate(
    db: AsyncSession,
    version: ProtocolVersion,
    *,
    approver: Actor,
    approver_id: uuid.UUID | None,
    now: datetime,
) -> Approval:
    """Make a pending version the one in force, retiring the previous one of the same protocol.

    Callers have already confirmed the approver (password re-entered, or the demo's own setup).
    Audited with the number of changed keys against the version it replaces.
    """
    if version.status != PENDING:
        raise Conflict(
            f"protocol version is {version.status}; only a pending version can be approved"
        )
    previous = await active_version(db, version.clinic_id, version.protocol_key)
    changes = diff(previous, version) if previous is not None else ()
    if previous is not None:
        previous.status, previous.retired_at = RETIRED, now
    version.status, version.approved_at, version.approved_by = ACTIVE, now, approver_id
    await db.flush()
    await audit_service.record(
        db,
        actor=approver,
        action="PROTOCOL_APPROVED",
        entity_type="protocol_version",
        entity_id=version.id,
        clinic_id=version.clinic_id,
        now=now,
        after={
            "protocol": version.protocol_key,
            "version": version.version,
            "sha256": version.sha256,
            "replaces": None if previous is None else previous.id,
            "changed_keys": len(changes),
        },
    )
    return Approval(version, previous, changes)


def dose_preview(
    version: ProtocolVersion, *, weight_kg: Decimal, mg_per_kg: Decimal | None, now: datetime
) -> DoseCalculation:
    """Dose, rates, volume and concentration for a weight measured now; refusals are 422."""
    rules = definition_of(version).dosing
    try:
        return calculate_dose(
            rules, WeightMeasurement(weight_kg=weight_kg, measured_at=now), now, mg_per_kg=mg_per_kg
        )
    except DoseRefused as exc:
        raise Unprocessable(str(exc)) from exc
