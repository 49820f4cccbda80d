from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEntry

# Any constant works; it only has to be the same for every writer of the chain.
_AUDIT_CHAIN_LOCK = 0x6B6D_6175


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_chain_tail(self) -> tuple[int, str] | None:
        """Serialize appends: two transactions must never both extend the same tail."""
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _AUDIT_CHAIN_LOCK}
            )
        # SQLite: every transaction starts with BEGIN IMMEDIATE, which already serializes writers.
        row = (
            await self.session.execute(
                select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
            )
        ).first()
        return None if row is None else (row[0], row[1])

    async def add(self, entry: AuditEntry) -> None:
        self.session.add(entry)
        await self.session.flush()

    async def page(
        self, *, clinic_id: uuid.UUID, after_seq: int, limit: int
    ) -> Sequence[AuditEntry]:
        stmt = (
            select(AuditEntry)
            .where(AuditEntry.clinic_id == clinic_id, AuditEntry.seq > after_seq)
            .order_by(AuditEntry.seq)
            .limit(limit)
        )
        return (await self.session.scalars(stmt)).all()

    async def stream_all(self, batch: int = 1000) -> AsyncIterator[AuditEntry]:
        after = 0
        while True:
            rows = (
                await self.session.scalars(
                    select(AuditEntry)
                    .where(AuditEntry.seq > after)
                    .order_by(AuditEntry.seq)
                    .limit(batch)
                )
            ).all()
            if not rows:
                return
            for row in rows:
                yield row
            after = rows[-1].seq
