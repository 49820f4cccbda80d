"""Hash chain over the audit log: each row's hash covers its content and the previous hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

GENESIS_HASH = "0" * 64


def jsonable(value: Any) -> Any:
    """Turn audit payload values into JSON types that survive a database round trip exactly.

    Decimals become strings (no float rounding), datetimes ISO 8601 in UTC, UUIDs strings.
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in audit payload")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, Enum):
        return jsonable(value.value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot put {type(value).__name__} in an audit payload")


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit row's content, everything the hash covers except ``prev_hash``."""

    seq: int
    at: datetime
    clinic_id: str | None
    actor_type: str
    actor_id: str | None
    actor_name: str | None
    action: str
    entity_type: str
    entity_id: str | None
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None


def canonical_json(record: AuditRecord, prev_hash: str) -> str:
    """Sorted keys, no whitespace, UTC timestamp with microseconds: the same bytes on every replay."""
    body = {
        "seq": record.seq,
        "at": record.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "clinic_id": record.clinic_id,
        "actor_type": record.actor_type,
        "actor_id": record.actor_id,
        "actor_name": record.actor_name,
        "action": record.action,
        "entity_type": record.entity_type,
        "entity_id": record.entity_id,
        "before": jsonable(record.before),
        "after": jsonable(record.after),
        "prev_hash": prev_hash,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(record: AuditRecord, prev_hash: str) -> str:
    """SHA-256 (hex) of the canonical JSON of the row and the previous row's hash."""
    return hashlib.sha256(canonical_json(record, prev_hash).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainBreak:
    seq: int
    reason: str


def check_link(
    record: AuditRecord, prev_hash: str, stored_hash: str, *, expected_seq: int, expected_prev: str
) -> ChainBreak | None:
    """Check one row against its predecessor (``expected_*``; the genesis row has seq 1).

    A row breaks the chain when its seq is not the previous + 1 (a deleted or inserted row),
    its prev_hash is not the previous row's hash, or its hash does not match its content.
    """
    if record.seq != expected_seq:
        return ChainBreak(record.seq, f"expected seq {expected_seq}, found {record.seq}")
    if prev_hash != expected_prev:
        return ChainBreak(record.seq, "prev_hash does not match the previous row's hash")
    if chain_hash(record, prev_hash) != stored_hash:
        return ChainBreak(record.seq, "hash does not match the row's content")
    return None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did it: a staff user, a device, the CLI or the system itself."""

    actor_type: str
    actor_id: str | None
    actor_name: str | None


SYSTEM_ACTOR = Actor("system", None, None)
