"""The event log: every change a screen shows, sequenced per stream, in its cause's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.realtime.models import Event
from app.realtime.repository import EventRepository, PresenceRepository

# Key in ``Session.info`` under which a transaction's written events wait for its commit.
PENDING_EVENTS = "realtime_pending_events"


def session_stream(session_id: uuid.UUID) -> str:
    return f"session:{session_id}"


def clinic_stream(clinic_id: uuid.UUID) -> str:
    return f"clinic:{clinic_id}"


@dataclass(slots=True)
class WrittenEvent:
    """An event row as written by `append` (the same fields as `Event`, without the ORM's
    per-object cost: an ingest batch writes a thousand of them)."""

    id: uuid.UUID
    stream: str
    seq: int
    clinic_id: uuid.UUID
    session_id: uuid.UUID | None
    type: str
    payload: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewEvent:
    type: str
    payload: dict[str, Any]
    session_id: uuid.UUID | None = None


async def append(
    db: AsyncSession, *, clinic_id: uuid.UUID, events: Sequence[NewEvent], now: datetime
) -> list[WrittenEvent]:
    """Write events, each on its session's stream (or the clinic's when it has no session),
    with the stream's next sequence numbers. Publication to boards happens after commit.

    Lock order: each stream's row stays locked until commit, so a transaction that also
    audits must write its audit row first (audit chain lock, then streams), as every use case
    does; the other order could deadlock with a session change on PostgreSQL."""
    return await append_many(db, [(clinic_id, event) for event in events], now=now)


async def append_many(
    db: AsyncSession, events: Sequence[tuple[uuid.UUID, NewEvent]], *, now: datetime
) -> list[WrittenEvent]:
    """`append` for the events of several clinics (a group commit of ingest messages): one
    sequence allocation and one insert for all of them."""
    by_stream: dict[str, list[tuple[uuid.UUID, NewEvent]]] = {}
    for clinic_id, event in events:
        stream = (
            session_stream(event.session_id)
            if event.session_id is not None
            else clinic_stream(clinic_id)
        )
        by_stream.setdefault(stream, []).append((clinic_id, event))
    repo = EventRepository(db)
    firsts = await repo.allocate_many({stream: len(batch) for stream, batch in by_stream.items()})
    rows: list[WrittenEvent] = []
    for stream in sorted(by_stream):
        first = firsts[stream]
        rows.extend(
            WrittenEvent(
                uuid.uuid4(),
                stream,
                first + offset,
                clinic_id,
                event.session_id,
                event.type,
                event.payload,
                now,
            )
            for offset, (clinic_id, event) in enumerate(by_stream[stream])
        )
    await repo.insert_many(
        [
            {
                "id": r.id,
                "stream": r.stream,
                "seq": r.seq,
                "clinic_id": r.clinic_id,
                "session_id": r.session_id,
                "type": r.type,
                "payload": r.payload,
                "created_at": r.created_at,
            }
            for r in rows
        ]
    )
    pending: list[WrittenEvent] = db.info.setdefault(PENDING_EVENTS, [])
    pending.extend(rows)
    return rows


def committed_events(info: dict[Any, Any]) -> list[WrittenEvent]:
    """Take the events a committed transaction wrote.

    Events are not tracked per savepoint: no use case appends events inside a savepoint that
    it may roll back (a rolled-back savepoint's sequence numbers would be handed out again)."""
    rows: list[WrittenEvent] = info.pop(PENDING_EVENTS, None) or []
    return rows


def drop_rolled_back(info: dict[Any, Any]) -> None:
    """After a rollback nothing the transaction wrote is published."""
    info.pop(PENDING_EVENTS, None)


async def stream_heads(db: AsyncSession, streams: Sequence[str]) -> dict[str, int]:
    """The last sequence number of each stream that has one."""
    return await EventRepository(db).heads(streams)


async def first_after(db: AsyncSession, stream: str, after_seq: int) -> Event | None:
    found = await EventRepository(db).after(stream, after_seq, 1)
    return found[0] if found else None


async def clinic_events_of_type(
    db: AsyncSession, clinic_id: uuid.UUID, event_type: str, after_seq: int
) -> list[Event]:
    """The clinic stream's events of one type after ``after_seq`` (sessions added while away)."""
    return await EventRepository(db).after_of_type(clinic_stream(clinic_id), event_type, after_seq)


async def record_presence(
    db: AsyncSession, *, instance_id: str, boards: dict[uuid.UUID, int], now: datetime
) -> None:
    """Upsert this instance's connected-board count per clinic."""
    await PresenceRepository(db).upsert(instance_id, boards, now)


PRESENCE_FRESH = timedelta(seconds=30)


async def boards_connected(db: AsyncSession, clinic_id: uuid.UUID, now: datetime) -> bool:
    """True when some instance reported, within the last 30 s, at least one live board for the
    clinic (input of the "no board watching" technical alarm)."""
    return await PresenceRepository(db).any_board(clinic_id, since=now - PRESENCE_FRESH)


async def events_after(
    db: AsyncSession, *, stream: str, after_seq: int, limit: int = 1000
) -> list[Event]:
    return await EventRepository(db).after(stream, after_seq, limit)
