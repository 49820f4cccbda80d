"""Writing and checking the audit chain."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import domain
from app.audit.domain import Actor, AuditRecord, ChainBreak
from app.audit.models import AuditEntry
from app.audit.repository import AuditRepository


async def record(
    db: AsyncSession,
    *,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: uuid.UUID | str | None,
    clinic_id: uuid.UUID | None,
    now: datetime,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append one chained row in the caller's transaction (so it commits or rolls back with it)."""
    repo = AuditRepository(db)
    tail = await repo.lock_chain_tail()
    seq, prev_hash = (1, domain.GENESIS_HASH) if tail is None else (tail[0] + 1, tail[1])
    rec = AuditRecord(
        seq=seq,
        at=now,
        clinic_id=None if clinic_id is None else str(clinic_id),
        actor_type=actor.actor_type,
        actor_id=actor.actor_id,
        actor_name=actor.actor_name,
        action=action,
        entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id),
        before=None if before is None else domain.jsonable(before),
        after=None if after is None else domain.jsonable(after),
    )
    entry = AuditEntry(
        seq=seq,
        at=now,
        clinic_id=clinic_id,
        actor_type=rec.actor_type,
        actor_id=rec.actor_id,
        actor_name=rec.actor_name,
        action=action,
        entity_type=entity_type,
        entity_id=rec.entity_id,
        before=rec.before,
        after=rec.after,
        prev_hash=prev_hash,
        hash=domain.chain_hash(rec, prev_hash),
    )
    await repo.add(entry)
    return entry


def _as_record(entry: AuditEntry) -> AuditRecord:
    return AuditRecord(
        seq=entry.seq,
        at=entry.at,
        clinic_id=None if entry.clinic_id is None else str(entry.clinic_id),
        actor_type=entry.actor_type,
        actor_id=entry.actor_id,
        actor_name=entry.actor_name,
        action=entry.action,
        entity_type=entry.entity_type,
        entity_id=entry.entity_id,
        before=entry.before,
        after=entry.after,
    )


async def verify(db: AsyncSession) -> tuple[int, ChainBreak | None]:
    """Walk the whole chain in seq order, streaming; return rows checked and the first break."""
    expected_prev, expected_seq, count = domain.GENESIS_HASH, 1, 0
    async for entry in AuditRepository(db).stream_all():
        count += 1
        broken = domain.check_link(
            _as_record(entry),
            entry.prev_hash,
            entry.hash,
            expected_seq=expected_seq,
            expected_prev=expected_prev,
        )
        if broken is not None:
            return count, broken
        expected_prev, expected_seq = entry.hash, expected_seq + 1
    return count, None


async def page(
    db: AsyncSession, *, clinic_id: uuid.UUID, after_seq: int, limit: int
) -> Sequence[AuditEntry]:
    return await AuditRepository(db).page(clinic_id=clinic_id, after_seq=after_seq, limit=limit)
