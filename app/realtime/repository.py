from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.realtime.models import Event, EventStream


class EventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def allocate(self, stream: str, count: int) -> int:
        """Reserve ``count`` sequence numbers on a stream; returns the first.

        One upsert: it creates the stream's row or bumps it, holding the row lock until commit,
        so concurrent writers get consecutive, gap-free ranges (a rolled-back transaction
        releases its range unused) and two first writers cannot both create the row.
        """
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        upsert = insert(EventStream).values(stream=stream, last_seq=count)
        stmt = upsert.on_conflict_do_update(
            index_elements=[EventStream.stream],
            set_={"last_seq": EventStream.last_seq + count},
        ).returning(EventStream.last_seq)
        last = (await self.session.execute(stmt)).scalar_one()
        return int(last) - count + 1

    async def add_all(self, events: list[Event]) -> None:
        self.session.add_all(events)
        await self.session.flush()

    async def after(self, stream: str, after_seq: int, limit: int) -> list[Event]:
        stmt = (
            select(Event)
            .where(Event.stream == stream, Event.seq > after_seq)
            .order_by(Event.seq)
            .limit(limit)
        )
        return list((await self.session.scalars(stmt)).all())
