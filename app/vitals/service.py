"""Ingest: validate, de-duplicate, route to the session on the device's chair, store with an
event row, all in the caller's transaction; the device is answered only after the commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import engine as alerts_engine
from app.devices import service as devices_service
from app.devices.models import Device
from app.protocols.domain import Metric
from app.realtime import service as realtime_service
from app.realtime.service import NewEvent
from app.sessions.service.windows import monitoring_windows
from app.vitals import domain
from app.vitals.domain import RawReading, Reading, Rejection, RetryKind, SessionWindow
from app.vitals.models import VitalReading
from app.vitals.repository import ReadingRepository

ReadingStatus = Literal["created", "duplicate", "conflict", "rejected"]
# Protocol default (alarms.technical.clock_skew_limit_s); per-session protocols may differ, but
# a device is flagged before any session is known.
CLOCK_SKEW_LIMIT_S = 30.0


@dataclass(frozen=True, slots=True)
class ReadingOutcome:
    source_id: str
    status: ReadingStatus
    code: str | None = None
    message: str | None = None
    session_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    results: tuple[ReadingOutcome, ...]
    clock_skewed: bool


class IngestDevice(Protocol):
    """What ingest needs of a device: the ORM row or a `devices_service.DeviceRef`."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def clinic_id(self) -> uuid.UUID: ...
    @property
    def chair_id(self) -> uuid.UUID | None: ...


@dataclass(frozen=True, slots=True)
class IngestRequest:
    """One device message of a group commit."""

    device: IngestDevice
    raws: Sequence[RawReading]
    sent_at: datetime | None


def _stored_as_reading(row: VitalReading) -> Reading:
    return Reading(
        source_id=row.source_id,
        metric=Metric(row.metric),
        value=row.value,
        unit=row.unit,
        observed_at=row.observed_at,
        utc_offset_minutes=row.utc_offset_minutes,
        measurement_id=row.measurement_id,
        original_value=row.original_value,
        original_unit=row.original_unit,
    )


def _retry_outcome(
    stored: Reading, incoming: Reading, session_id: uuid.UUID | None
) -> ReadingOutcome:
    kind = domain.classify_retry(stored, incoming)
    if kind is RetryKind.DUPLICATE:
        return ReadingOutcome(incoming.source_id, "duplicate", session_id=session_id)
    return ReadingOutcome(
        incoming.source_id,
        "conflict",
        code="conflict",
        message="this reading id was already stored with other content; nothing was stored",
        session_id=session_id,
    )


@dataclass(slots=True)
class _Message:
    """A request on its way through `ingest_many`: its validated readings and outcomes."""

    request: IngestRequest
    validated: Sequence[Reading | Rejection]
    newest_observed: datetime | None
    skew_s: float | None
    skewed: bool
    received_at: datetime
    outcomes: list[ReadingOutcome | None] = field(default_factory=list)

    @property
    def device(self) -> IngestDevice:
        return self.request.device

    def routing_time(self, reading: Reading) -> datetime:
        # A skewed device clock cannot place its readings; the server's receive time can.
        return self.received_at if self.skewed else reading.observed_at

    @property
    def accepted(self) -> list[Reading]:
        return [v for v in self.validated if isinstance(v, Reading)]


@dataclass(frozen=True, slots=True)
class _New:
    """A reading to insert: where it came from and where it goes."""

    message: _Message
    index: int
    reading: Reading
    session_id: uuid.UUID | None
    row_id: uuid.UUID = field(default_factory=uuid.uuid4)


def _prepare(request: IngestRequest, received_at: datetime) -> _Message:
    validated = domain.validate_batch(
        request.raws, received_at=received_at, future_tolerance=domain.FUTURE_TOLERANCE
    )
    newest = max((r.observed_at for r in validated if isinstance(r, Reading)), default=None)
    skew_s = domain.clock_skew_s(
        received_at=received_at, sent_at=request.sent_at, newest_observed_at=newest
    )
    skewed = domain.is_clock_skewed(skew_s, limit_s=CLOCK_SKEW_LIMIT_S)
    return _Message(
        request, validated, newest, skew_s, skewed, received_at, [None] * len(validated)
    )


async def _windows(
    db: AsyncSession, messages: Sequence[_Message]
) -> dict[uuid.UUID, list[SessionWindow]]:
    times = [
        m.routing_time(r) for m in messages if m.device.chair_id is not None for r in m.accepted
    ]
    chairs = [m.device.chair_id for m in messages if m.device.chair_id is not None]
    if not times:
        return {}
    return await monitoring_windows(db, chair_ids=chairs, start=min(times), end=max(times))


def _sort_out(
    messages: Sequence[_Message],
    stored: dict[tuple[uuid.UUID, str], VitalReading],
    windows: dict[uuid.UUID, list[SessionWindow]],
) -> dict[tuple[uuid.UUID, str], _New]:
    """Outcomes of rejections and retries; the rest, routed, to insert (first copy wins)."""
    to_insert: dict[tuple[uuid.UUID, str], _New] = {}
    for message in messages:
        device = message.device
        chair_windows = windows.get(device.chair_id, []) if device.chair_id is not None else []
        for index, item in enumerate(message.validated):
            if isinstance(item, Rejection):
                message.outcomes[index] = ReadingOutcome(
                    item.source_id, "rejected", item.code.value, item.message
                )
                continue
            key = (device.id, item.source_id)
            previous = stored.get(key)
            if previous is not None:
                message.outcomes[index] = _retry_outcome(
                    _stored_as_reading(previous), item, previous.session_id
                )
                continue
            earlier = to_insert.get(key)
            if earlier is not None:
                message.outcomes[index] = _retry_outcome(earlier.reading, item, earlier.session_id)
                continue
            routed = domain.route(chair_windows, message.routing_time(item))
            to_insert[key] = _New(
                message, index, item, None if routed is None else uuid.UUID(routed)
            )
    return to_insert


def _row(new: _New, *, late: bool, source: str) -> dict[str, Any]:
    reading = new.reading
    return {
        "id": new.row_id,
        "clinic_id": new.message.device.clinic_id,
        "device_id": new.message.device.id,
        "source_id": reading.source_id,
        "source": source,
        "session_id": new.session_id,
        "metric": reading.metric.value,
        "value": reading.value,
        "unit": reading.unit,
        "observed_at": reading.observed_at,
        "utc_offset_minutes": reading.utc_offset_minutes,
        "measurement_id": reading.measurement_id,
        "original_value": reading.original_value,
        "original_unit": reading.original_unit,
        "received_at": new.message.received_at,
        "late": late,
        "entered_by": None,
        "excluded_at": None,
        "excluded_reason": None,
    }


def _reading_event(new: _New, *, late: bool, source: str) -> NewEvent:
    reading = new.reading
    return NewEvent(
        type="reading" if new.session_id is not None else "reading_unrouted",
        session_id=new.session_id,
        payload={
            "reading_id": str(new.row_id),
            "source_id": reading.source_id,
            "device_id": str(new.message.device.id),
            "metric": reading.metric.value,
            "value": reading.value,
            "unit": reading.unit,
            "observed_at": reading.observed_at.isoformat(),
            "late": late,
            "source": source,
        },
    )


def _device_counts(messages: Sequence[_Message]) -> list[devices_service.IngestCounts]:
    """One entry per device: a group commit may hold several messages of one device."""
    by_device: dict[uuid.UUID, devices_service.IngestCounts] = {}
    for message in messages:
        done = [o for o in message.outcomes if o is not None]
        created = [o for o in done if o.status == "created"]
        mine = devices_service.IngestCounts(
            message.device.id,
            accepted=len(created),
            rejected=sum(1 for o in done if o.status == "rejected"),
            unrouted=sum(1 for o in created if o.session_id is None),
            last_reading_at=message.newest_observed,
            skew_s=message.skew_s,
            skewed=message.skewed,
        )
        before = by_device.get(message.device.id)
        if before is not None:
            newest = [t for t in (before.last_reading_at, mine.last_reading_at) if t is not None]
            has_skew = mine.skew_s is not None
            mine = devices_service.IngestCounts(
                mine.device_id,
                accepted=before.accepted + mine.accepted,
                rejected=before.rejected + mine.rejected,
                unrouted=before.unrouted + mine.unrouted,
                last_reading_at=max(newest, default=None),
                skew_s=mine.skew_s if has_skew else before.skew_s,
                skewed=mine.skewed if has_skew else before.skewed,
            )
        by_device[message.device.id] = mine
    return list(by_device.values())


async def ingest(
    db: AsyncSession,
    *,
    device: Device,
    raws: Sequence[RawReading],
    sent_at: datetime | None,
    received_at: datetime,
    source: str = "device",
) -> IngestOutcome:
    """Store one device message; see `ingest_many`."""
    requests = [IngestRequest(device, raws, sent_at)]
    return (await ingest_many(db, requests, received_at=received_at, source=source))[0]


async def ingest_many(
    db: AsyncSession,
    requests: Sequence[IngestRequest],
    *,
    received_at: datetime,
    source: str = "device",
) -> list[IngestOutcome]:
    """Store device messages; one bad reading never rejects the others (DESIGN §6).

    Each reading is created, a duplicate (same key and content: nothing changes), a conflict
    (same key, other content: nothing stored) or rejected with a code. Stored readings are
    routed to the session whose window on the device's chair holds their observed_at (the
    received_at while the device clock is flagged skewed), else kept as unrouted; each writes
    an event row. Side effects: device counters and clock-skew flag.

    Messages of many devices (a group commit) cost one query of each kind, not one per
    message; messages are handled in order, so a reading sent twice in one group is created
    by the first copy and answered as a retry in the second.
    """
    messages = [_prepare(request, received_at) for request in requests]
    repo = ReadingRepository(db)
    stored = await repo.by_source_ids(
        [(m.device.id, r.source_id) for m in messages for r in m.accepted]
    )
    to_insert = _sort_out(messages, stored, await _windows(db, messages))

    newest = await repo.newest_per_metric(
        sorted({n.session_id for n in to_insert.values() if n.session_id is not None})
    )
    late_flags: dict[tuple[uuid.UUID, str], bool] = {}
    for key, new in to_insert.items():
        found = (
            None
            if new.session_id is None
            else newest.get((new.session_id, new.reading.metric.value))
        )
        late_flags[key] = found is not None and new.reading.observed_at < found
    inserted = await repo.insert_new(
        [_row(new, late=late_flags[key], source=source) for key, new in to_insert.items()]
    )
    lost_race = [key for key in to_insert if key not in inserted]
    if lost_race:
        # A concurrent copy of this message stored them first: answer as a retry would be.
        winners = await repo.by_source_ids(lost_race)
        for key in lost_race:
            new = to_insert.pop(key)
            row = winners[key]
            new.message.outcomes[new.index] = _retry_outcome(
                _stored_as_reading(row), new.reading, row.session_id
            )

    alarms = await alerts_engine.evaluate_stored(
        db,
        readings=[
            alerts_engine.StoredReading(
                new.session_id,
                new.row_id,
                new.reading.metric,
                new.reading.value,
                new.reading.observed_at,
                late_flags[key],
            )
            for key, new in to_insert.items()
            if new.session_id is not None
        ],
        now=received_at,
    )
    await repo.mark_late(alarms.late_reading_ids)
    events: list[tuple[uuid.UUID, NewEvent]] = []
    clinic_of_session: dict[uuid.UUID, uuid.UUID] = {}
    for key, new in to_insert.items():
        new.message.outcomes[new.index] = ReadingOutcome(
            new.reading.source_id, "created", session_id=new.session_id
        )
        late = late_flags[key] or new.row_id in alarms.late_reading_ids
        clinic_id = new.message.device.clinic_id
        events.append((clinic_id, _reading_event(new, late=late, source=source)))
        if new.session_id is not None:
            clinic_of_session[new.session_id] = clinic_id
    events.extend(
        (clinic_of_session[event.session_id], event)
        for event in alarms.events
        if event.session_id is not None
    )
    await realtime_service.append_many(db, events, now=received_at)
    await devices_service.record_ingest(db, _device_counts(messages), now=received_at)

    out: list[IngestOutcome] = []
    for message in messages:
        final = tuple(o for o in message.outcomes if o is not None)
        assert len(final) == len(message.validated)
        out.append(IngestOutcome(results=final, clock_skewed=message.skewed))
    return out


async def latest_received_many(
    db: AsyncSession, session_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[Metric, datetime]]:
    """`latest_received` for many sessions at once (the technical-alarm job)."""
    rows = await ReadingRepository(db).latest_received_many(session_ids, [m.value for m in Metric])
    return {sid: {Metric(m): at for m, at in found.items()} for sid, found in rows.items()}


async def latest_readings(
    db: AsyncSession, session_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, tuple[float, str, datetime]]]:
    """Per session, the newest non-excluded reading of each metric (value, unit, observed_at):
    what a board tile shows."""
    return await ReadingRepository(db).latest_per_metric(session_ids)


async def session_readings(db: AsyncSession, session_id: uuid.UUID) -> list[VitalReading]:
    """Every stored reading of a session in observed_at order, excluded ones included (the
    caller decides; the registry summary leaves them out)."""
    return await ReadingRepository(db).for_session(session_id, metric=None, include_excluded=True)
