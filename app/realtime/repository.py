from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.realtime.models import BoardPresence, Event, EventStream


def _insert(session: AsyncSession) -> type[postgresql.Insert] | type[sqlite.Insert]:
    dialect = session.get_bind().dialect.name
    return postgresql.Insert if dialect == "postgresql" else sqlite.Insert


class EventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def allocate_many(self, counts: dict[str, int]) -> dict[str, int]:
        """Reserve ``counts[stream]`` sequence numbers on each stream; returns each first.

        One upsert: it creates each stream's row or bumps it, holding the row lock until
        commit, so concurrent writers get consecutive, gap-free ranges (a rolled-back
        transaction releases its range unused) and two first writers cannot both create a
        row. Rows are taken in stream order, the lock order every writer follows.
        """
        if not counts:
            return {}
        table = cast(Table, EventStream.__table__)
        upsert = _insert(self.session)(table)
        stmt = upsert.on_conflict_do_update(
            index_elements=[table.c.stream],
            set_={"last_seq": table.c.last_seq + upsert.excluded.last_seq},
        ).returning(table.c.stream, table.c.last_seq, sort_by_parameter_order=True)
        params = [{"stream": stream, "last_seq": counts[stream]} for stream in sorted(counts)]
        result = await self.session.execute(stmt, params)
        return {stream: int(last) - counts[stream] + 1 for stream, last in result}

    async def insert_many(self, rows: list[dict[str, object]]) -> None:
        """One executemany INSERT (no ORM objects, no RETURNING)."""
        if rows:
            await self.session.execute(insert(cast(Table, Event.__table__)), rows)

    async def after(self, stream: str, after_seq: int, limit: int) -> list[Event]:
        stmt = (
            select(Event)
            .where(Event.stream == stream, Event.seq > after_seq)
            .order_by(Event.seq)
            .limit(limit)
        )
        return list((await self.session.scalars(stmt)).all())

    async def heads(self, streams: Sequence[str]) -> dict[str, int]:
        if not streams:
            return {}
        stmt = select(EventStream.stream, EventStream.last_seq).where(
            EventStream.stream.in_(list(streams))
        )
        return {s: int(n) for s, n in (await self.session.execute(stmt)).all()}

    async def after_of_type(self, stream: str, event_type: str, after_seq: int) -> list[Event]:
        stmt = (
            select(Event)
            .where(Event.stream == stream, Event.type == event_type, Event.seq > after_seq)
            .order_by(Event.seq)
        )
        return list((await self.session.scalars(stmt)).all())


class PresenceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def upsert(self, instance_id: str, boards: dict[uuid.UUID, int], now: datetime) -> None:
        for clinic_id in sorted(boards):
            insert = _insert(self.session)(BoardPresence).values(
                instance_id=instance_id, clinic_id=clinic_id, boards=boards[clinic_id], seen_at=now
            )
            stmt = insert.on_conflict_do_update(
                index_elements=[BoardPresence.instance_id, BoardPresence.clinic_id],
                set_={"boards": boards[clinic_id], "seen_at": now},
            )
            await self.session.execute(stmt)

    async def any_board(self, clinic_id: uuid.UUID, *, since: datetime) -> bool:
        stmt = (
            select(BoardPresence.instance_id)
            .where(
                BoardPresence.clinic_id == clinic_id,
                BoardPresence.boards > 0,
                BoardPresence.seen_at >= since,
            )
            .limit(1)
        )
        return (await self.session.execute(stmt)).first() is not None
