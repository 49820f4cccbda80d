"""The event log: every change a screen shows, sequenced per stream, in its cause's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.realtime.models import Event
from app.realtime.repository import EventRepository


def session_stream(session_id: uuid.UUID) -> str:
    return f"session:{session_id}"


def clinic_stream(clinic_id: uuid.UUID) -> str:
    return f"clinic:{clinic_id}"


@dataclass(frozen=True, slots=True)
class NewEvent:
    type: str
    payload: dict[str, Any]
    session_id: uuid.UUID | None = None


async def append(
    db: AsyncSession, *, clinic_id: uuid.UUID, events: Sequence[NewEvent], now: datetime
) -> list[Event]:
    """Write events, each on its session's stream (or the clinic's when it has no session),
    with the stream's next sequence numbers. Publication to boards happens after commit."""
    repo = EventRepository(db)
    by_stream: dict[str, list[NewEvent]] = {}
    for event in events:
        stream = (
            session_stream(event.session_id)
            if event.session_id is not None
            else clinic_stream(clinic_id)
        )
        by_stream.setdefault(stream, []).append(event)
    rows: list[Event] = []
    # Sorted so two transactions touching the same streams lock them in the same order.
    for stream in sorted(by_stream):
        batch = by_stream[stream]
        first = await repo.allocate(stream, len(batch))
        rows.extend(
            Event(
                id=uuid.uuid4(),
                stream=stream,
                seq=first + offset,
                clinic_id=clinic_id,
                session_id=event.session_id,
                type=event.type,
                payload=event.payload,
                created_at=now,
            )
            for offset, event in enumerate(batch)
        )
    await repo.add_all(rows)
    return rows


async def events_after(
    db: AsyncSession, *, stream: str, after_seq: int, limit: int = 1000
) -> list[Event]:
    return await EventRepository(db).after(stream, after_seq, limit)
