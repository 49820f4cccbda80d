"""Ingest: validate, de-duplicate, route to the session on the device's chair, store with an
event row, all in the caller's transaction; the device is answered only after the commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import engine as alerts_engine
from app.devices import service as devices_service
from app.devices.models import Device
from app.protocols.domain import Metric
from app.realtime import service as realtime_service
from app.realtime.service import NewEvent, WrittenEvent
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
    events: tuple[WrittenEvent, ...]


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


async def _windows(
    db: AsyncSession, device: Device, times: Sequence[datetime]
) -> list[SessionWindow]:
    if device.chair_id is None or not times:
        return []
    return await monitoring_windows(db, chair_id=device.chair_id, start=min(times), end=max(times))


async def ingest(
    db: AsyncSession,
    *,
    device: Device,
    raws: Sequence[RawReading],
    sent_at: datetime | None,
    received_at: datetime,
    source: str = "device",
) -> IngestOutcome:
    """Store a device's readings; one bad reading never rejects the others (DESIGN §6).

    Each reading is created, a duplicate (same key and content: nothing changes), a conflict
    (same key, other content: nothing stored) or rejected with a code. Stored readings are
    routed to the session whose window on the device's chair holds their observed_at (the
    received_at while the device clock is flagged skewed), else kept as unrouted; each writes
    an event row. Side effects: device counters and clock-skew flag.
    """
    validated = domain.validate_batch(
        raws, received_at=received_at, future_tolerance=domain.FUTURE_TOLERANCE
    )
    accepted = [v for v in validated if isinstance(v, Reading)]
    newest_observed = max((r.observed_at for r in accepted), default=None)
    skew_s = domain.clock_skew_s(
        received_at=received_at, sent_at=sent_at, newest_observed_at=newest_observed
    )
    skewed = domain.is_clock_skewed(skew_s, limit_s=CLOCK_SKEW_LIMIT_S)

    def routing_time(reading: Reading) -> datetime:
        return received_at if skewed else reading.observed_at

    repo = ReadingRepository(db)
    stored = {
        row.source_id: row
        for row in await repo.by_source_ids(device.id, [r.source_id for r in accepted])
    }
    windows = await _windows(db, device, [routing_time(r) for r in accepted])

    outcomes: list[ReadingOutcome | None] = [None] * len(validated)
    first_in_batch: dict[str, Reading] = {}
    to_insert: dict[str, tuple[int, Reading, uuid.UUID | None]] = {}
    for index, item in enumerate(validated):
        if isinstance(item, Rejection):
            outcomes[index] = ReadingOutcome(
                item.source_id, "rejected", item.code.value, item.message
            )
            continue
        previous = stored.get(item.source_id)
        if previous is not None:
            outcomes[index] = _retry_outcome(
                _stored_as_reading(previous), item, previous.session_id
            )
            continue
        if item.source_id in first_in_batch:
            earlier = to_insert[item.source_id][2] if item.source_id in to_insert else None
            outcomes[index] = _retry_outcome(first_in_batch[item.source_id], item, earlier)
            continue
        first_in_batch[item.source_id] = item
        routed = domain.route(windows, routing_time(item))
        to_insert[item.source_id] = (index, item, None if routed is None else uuid.UUID(routed))

    newest = await repo.newest_per_metric(
        sorted({s for _, _, s in to_insert.values() if s is not None})
    )
    rows = []
    row_ids: dict[str, uuid.UUID] = {}
    late_flags: dict[str, bool] = {}
    for _, reading, session_id in to_insert.values():
        key = (session_id, reading.metric.value) if session_id is not None else None
        late = key is not None and key in newest and reading.observed_at < newest[key]
        row_ids[reading.source_id] = uuid.uuid4()
        late_flags[reading.source_id] = late
        rows.append(
            {
                "id": row_ids[reading.source_id],
                "clinic_id": device.clinic_id,
                "device_id": device.id,
                "source_id": reading.source_id,
                "source": source,
                "session_id": session_id,
                "metric": reading.metric.value,
                "value": reading.value,
                "unit": reading.unit,
                "observed_at": reading.observed_at,
                "utc_offset_minutes": reading.utc_offset_minutes,
                "measurement_id": reading.measurement_id,
                "original_value": reading.original_value,
                "original_unit": reading.original_unit,
                "received_at": received_at,
                "late": late,
                "entered_by": None,
                "excluded_at": None,
                "excluded_reason": None,
            }
        )
    inserted = await repo.insert_new(rows)
    lost_race = [sid for sid in to_insert if sid not in inserted]
    if lost_race:
        # A concurrent copy of this batch stored them first: answer as a retry would be answered.
        winners = {row.source_id: row for row in await repo.by_source_ids(device.id, lost_race)}
        for sid in lost_race:
            index, reading, _ = to_insert[sid]
            row = winners[sid]
            outcomes[index] = _retry_outcome(_stored_as_reading(row), reading, row.session_id)

    created_rows = [
        (row_ids[sid], late_flags[sid], *to_insert[sid]) for sid in to_insert if sid in inserted
    ]
    alarms = await alerts_engine.evaluate_stored(
        db,
        clinic_id=device.clinic_id,
        readings=[
            alerts_engine.StoredReading(session_id, row_id, r.metric, r.value, r.observed_at, late)
            for row_id, late, _, r, session_id in created_rows
            if session_id is not None
        ],
        now=received_at,
    )
    await repo.mark_late(alarms.late_reading_ids)
    events: list[NewEvent] = []
    for row_id, late, index, reading, session_id in created_rows:
        outcomes[index] = ReadingOutcome(reading.source_id, "created", session_id=session_id)
        events.append(
            NewEvent(
                type="reading" if session_id is not None else "reading_unrouted",
                session_id=session_id,
                payload={
                    "reading_id": str(row_id),
                    "source_id": reading.source_id,
                    "device_id": str(device.id),
                    "metric": reading.metric.value,
                    "value": reading.value,
                    "unit": reading.unit,
                    "observed_at": reading.observed_at.isoformat(),
                    "late": late or row_id in alarms.late_reading_ids,
                    "source": source,
                },
            )
        )
    events.extend(alarms.events)
    written = await realtime_service.append(
        db, clinic_id=device.clinic_id, events=events, now=received_at
    )

    created = [o for o in outcomes if o is not None and o.status == "created"]
    await devices_service.record_ingest(
        db,
        device_id=device.id,
        accepted=len(created),
        rejected=sum(1 for o in outcomes if o is not None and o.status == "rejected"),
        unrouted=sum(1 for o in created if o.session_id is None),
        last_reading_at=newest_observed,
        skew_s=skew_s,
        skewed=skewed,
        now=received_at,
    )
    final = tuple(o for o in outcomes if o is not None)
    assert len(final) == len(validated)
    return IngestOutcome(results=final, clock_skewed=skewed, events=tuple(written))


async def latest_received(db: AsyncSession, session_id: uuid.UUID) -> dict[Metric, datetime]:
    """When the server last received each metric of a session (technical alarms, issue 7 p. 8)."""
    rows = await ReadingRepository(db).latest_received(session_id)
    return {Metric(metric): at for metric, at in rows.items()}


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
