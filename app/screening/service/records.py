"""Recording, editing (a new version) and reading screenings."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.audit.domain import Actor
from app.core.errors import Conflict
from app.protocols import service as protocols_service
from app.protocols.models import ProtocolVersion
from app.screening.models import ScreeningVersion
from app.screening.repository import ScreeningRepository
from app.screening.schemas import ScreeningContent
from app.screening.service.common import (
    ScreeningView,
    approved_protocol,
    audit_state,
    check_times,
    content_hash,
    evaluate_at,
    evaluation_json,
    get_row,
    patient_birth_date,
    user_id_of,
)


async def _new_version(
    db: AsyncSession,
    *,
    clinic_id: uuid.UUID,
    patient_id: uuid.UUID,
    version: int,
    data: ScreeningContent,
    protocol: ProtocolVersion,
    actor: Actor,
    now: datetime,
) -> ScreeningVersion:
    check_times(data, now)
    birth_date = await patient_birth_date(db, clinic_id, patient_id)
    content, result = await evaluate_at(
        db,
        patient_id=patient_id,
        content=ScreeningContent.model_validate(data.model_dump()),
        birth_date=birth_date,
        rules=[protocols_service.definition_of(protocol).screening],
        at=now,
    )
    content_json, evaluation = content.model_dump(mode="json"), evaluation_json(result)
    row = ScreeningVersion(
        id=uuid.uuid4(),
        clinic_id=clinic_id,
        patient_id=patient_id,
        version=version,
        protocol_version_id=protocol.id,
        content=content_json,
        evaluation=evaluation,
        content_sha256=content_hash(
            patient_id=patient_id,
            version=version,
            protocol_version_id=protocol.id,
            protocol_sha256=protocol.sha256,
            content=content_json,
            evaluation=evaluation,
        ),
        created_at=now,
        created_by=user_id_of(actor),
    )
    await ScreeningRepository(db).add(row)
    return row


async def create_screening(
    db: AsyncSession,
    *,
    clinic_id: uuid.UUID,
    patient_id: uuid.UUID,
    data: ScreeningContent,
    actor: Actor,
    now: datetime,
) -> ScreeningView:
    """Record a screening, evaluated by the clinic's approved protocol (409 when there is none).

    If the patient already has one, this is the next version. Audited as SCREENING_CREATED.
    """
    await patient_birth_date(db, clinic_id, patient_id)
    protocol = await approved_protocol(db, clinic_id)
    version = await ScreeningRepository(db).latest_version_number(patient_id) + 1
    row = await _new_version(
        db,
        clinic_id=clinic_id,
        patient_id=patient_id,
        version=version,
        data=data,
        protocol=protocol,
        actor=actor,
        now=now,
    )
    await audit_service.record(
        db,
        actor=actor,
        action="SCREENING_CREATED",
        entity_type="screening",
        entity_id=row.id,
        clinic_id=clinic_id,
        now=now,
        after=audit_state(row),
    )
    return ScreeningView(row, superseded=False)


async def edit_screening(
    db: AsyncSession,
    *,
    clinic_id: uuid.UUID,
    screening_id: uuid.UUID,
    data: ScreeningContent,
    actor: Actor,
    now: datetime,
) -> ScreeningView:
    """Correct the newest version: stores version + 1, unsigned and re-evaluated; the old one
    stays readable. Editing a superseded version is 409. Audited as SCREENING_EDITED."""
    repo = ScreeningRepository(db)
    previous = await get_row(db, clinic_id, screening_id, for_update=True)
    latest = await repo.latest_version_number(previous.patient_id)
    if previous.version != latest:
        raise Conflict(
            f"screening version {previous.version} has been superseded by version {latest}; "
            "edit the newest version"
        )
    old_protocol = await protocols_service.get_version(db, clinic_id, previous.protocol_version_id)
    protocol = await approved_protocol(db, clinic_id, old_protocol.protocol_key)
    row = await _new_version(
        db,
        clinic_id=clinic_id,
        patient_id=previous.patient_id,
        version=previous.version + 1,
        data=data,
        protocol=protocol,
        actor=actor,
        now=now,
    )
    changed = sorted(k for k, v in row.content.items() if previous.content.get(k) != v)
    await audit_service.record(
        db,
        actor=actor,
        action="SCREENING_EDITED",
        entity_type="screening",
        entity_id=row.id,
        clinic_id=clinic_id,
        now=now,
        before={"screening_id": previous.id, **audit_state(previous)},
        after={**audit_state(row), "changed_fields": changed},
    )
    return ScreeningView(row, superseded=False)


async def get_screening(
    db: AsyncSession, *, clinic_id: uuid.UUID, screening_id: uuid.UUID
) -> ScreeningView:
    """One version of a screening of the caller's clinic (another clinic's answers 404)."""
    row = await get_row(db, clinic_id, screening_id)
    latest = await ScreeningRepository(db).latest_version_number(row.patient_id)
    return ScreeningView(row, superseded=row.version != latest)


async def list_screenings(
    db: AsyncSession, *, clinic_id: uuid.UUID, patient_id: uuid.UUID
) -> list[ScreeningView]:
    """Every version of a patient's screening, newest first."""
    await patient_birth_date(db, clinic_id, patient_id)
    rows = await ScreeningRepository(db).versions(clinic_id, patient_id)
    return [ScreeningView(row, superseded=i > 0) for i, row in enumerate(rows)]
