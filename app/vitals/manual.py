"""Readings a clinician enters by hand, and marking a stored reading as an artefact or as
entered in error (issue 6, point 7).

Manual readings pass the same validation as a device's, are filed on the session they were
entered for and write the same `reading` events, so they feed the alarm engine like any other
reading. An excluded reading stays stored; `excluded_at` keeps it out of summaries and alarm
evaluation from then on.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import engine as alerts_engine
from app.audit import service as audit_service
from app.auth.domain import Principal
from app.core.errors import Conflict, NotFound
from app.protocols.domain import Metric
from app.realtime import service as realtime_service
from app.realtime.service import NewEvent
from app.sessions.domain import ACTIVE_STATES, SessionState
from app.sessions.service.common import Loaded, audit_session, load
from app.vitals import domain
from app.vitals.domain import RawReading, Reading, Rejection
from app.vitals.models import VitalReading
from app.vitals.repository import ReadingRepository
from app.vitals.schemas import (
    ExclusionKind,
    ManualReadingIn,
    VitalReadingRead,
)

MANUAL_SOURCE = "manual"
BEFORE_CHECK_IN = "before_check_in"


@dataclass(frozen=True, slots=True)
class ManualOutcome:
    index: int
    status: Literal["created", "rejected"]
    reading_id: uuid.UUID | None = None
    code: str | None = None
    message: str | None = None


def _checked_in_at(loaded: Loaded) -> datetime | None:
    return next((h.at for h in loaded.history if h.state == SessionState.CHECKED_IN), None)


def _before_check_in(item: Reading | Rejection, checked_in_at: datetime) -> str | None:
    # A device reading from before check-in is not filed on the session (it is unrouted); a
    # manual one is refused for the same reason: it may belong to the previous patient.
    if isinstance(item, Reading) and item.observed_at < checked_in_at:
        return (
            f"observed_at {item.observed_at.isoformat()} is before the session's check-in at "
            f"{checked_in_at.isoformat()}"
        )
    return None


async def enter_readings(
    db: AsyncSession,
    *,
    principal: Principal,
    session_id: uuid.UUID,
    readings: Sequence[ManualReadingIn],
    now: datetime,
) -> tuple[ManualOutcome, ...]:
    """Store readings entered by hand on an active session (404 outside the caller's clinic,
    409 unless checked in … recovery/stopped); each is created or rejected with a code.

    Side effects: one `reading` event per stored reading (source `manual`) on the session
    stream and one VITALS_ENTERED audit row with the metrics and values.
    """
    loaded = await load(db, clinic_id=principal.clinic_id, session_id=session_id, for_update=True)
    if loaded.state not in ACTIVE_STATES:
        raise Conflict(f"vitals are entered from check-in until discharge, not when {loaded.state}")
    checked_in_at = _checked_in_at(loaded)
    assert checked_in_at is not None  # every active state passed through check-in
    raws = [
        RawReading(
            source_id=f"manual-{uuid.uuid4().hex}",
            metric=r.metric,
            value=r.value,
            unit=r.unit,
            observed_at=r.observed_at,
            measurement_id=r.measurement_id,
        )
        for r in readings
    ]
    validated = domain.validate_batch(
        raws, received_at=now, future_tolerance=domain.FUTURE_TOLERANCE
    )

    repo = ReadingRepository(db)
    newest = await repo.newest_per_metric([loaded.row.id])
    outcomes: list[ManualOutcome] = []
    rows: list[VitalReading] = []
    for index, item in enumerate(validated):
        early = _before_check_in(item, checked_in_at)
        if early is not None:
            outcomes.append(ManualOutcome(index, "rejected", None, BEFORE_CHECK_IN, early))
            continue
        if isinstance(item, Rejection):
            outcomes.append(ManualOutcome(index, "rejected", None, item.code.value, item.message))
            continue
        previous = newest.get((loaded.row.id, item.metric.value))
        row = VitalReading(
            id=uuid.uuid4(),
            clinic_id=loaded.row.clinic_id,
            device_id=None,
            source_id=item.source_id,
            source=MANUAL_SOURCE,
            session_id=loaded.row.id,
            metric=item.metric.value,
            value=item.value,
            unit=item.unit,
            observed_at=item.observed_at,
            utc_offset_minutes=item.utc_offset_minutes,
            measurement_id=item.measurement_id,
            original_value=item.original_value,
            original_unit=item.original_unit,
            received_at=now,
            late=previous is not None and item.observed_at < previous,
            entered_by=principal.user_id,
            excluded_at=None,
            excluded_reason=None,
        )
        rows.append(row)
        outcomes.append(ManualOutcome(index, "created", row.id))
    if not rows:
        return tuple(outcomes)

    await repo.add_all(rows)
    alarms = await alerts_engine.evaluate_stored(
        db,
        readings=[
            alerts_engine.StoredReading(
                loaded.row.id, row.id, Metric(row.metric), row.value, row.observed_at, row.late
            )
            for row in rows
        ],
        now=now,
    )
    for row in rows:
        row.late = row.late or row.id in alarms.late_reading_ids
    # Audit before events: the audit chain lock is always taken before stream locks.
    await audit_session(
        db,
        loaded,
        "VITALS_ENTERED",
        principal=principal,
        now=now,
        after={
            "readings": [
                {
                    "reading_id": str(row.id),
                    "metric": row.metric,
                    "value": row.value,
                    "unit": row.unit,
                    "observed_at": row.observed_at.isoformat(),
                }
                for row in rows
            ],
            "rejected": len(outcomes) - len(rows),
        },
    )
    await realtime_service.append(
        db,
        clinic_id=loaded.row.clinic_id,
        events=[
            NewEvent(
                type="reading",
                session_id=loaded.row.id,
                payload={
                    "reading_id": str(row.id),
                    "device_id": None,
                    "metric": row.metric,
                    "value": row.value,
                    "unit": row.unit,
                    "observed_at": row.observed_at.isoformat(),
                    "late": row.late,
                    "source": MANUAL_SOURCE,
                    "entered_by": None if row.entered_by is None else str(row.entered_by),
                },
            )
            for row in rows
        ]
        + alarms.events,
        now=now,
    )
    return tuple(outcomes)


def split_exclusion(text: str | None) -> tuple[ExclusionKind | None, str | None]:
    """The kind and the clinician's reason stored together in `excluded_reason` as
    ``"<kind>: <reason>"`` (the table has no kind column yet)."""
    if text is None:
        return None, None
    kind, sep, reason = text.partition(": ")
    if sep and kind == "artefact":
        return "artefact", reason
    if sep and kind == "entered_in_error":
        return "entered_in_error", reason
    return None, text


def to_read(row: VitalReading) -> VitalReadingRead:
    kind, reason = split_exclusion(row.excluded_reason)
    return VitalReadingRead(
        id=row.id,
        session_id=row.session_id,
        metric=row.metric,
        value=row.value,
        unit=row.unit,
        observed_at=row.observed_at,
        utc_offset_minutes=row.utc_offset_minutes,
        measurement_id=row.measurement_id,
        original_value=row.original_value,
        original_unit=row.original_unit,
        received_at=row.received_at,
        late=row.late,
        source=row.source,
        device_id=row.device_id,
        entered_by=row.entered_by,
        excluded_at=row.excluded_at,
        excluded_kind=kind,
        excluded_reason=reason,
    )


async def exclude_reading(
    db: AsyncSession,
    *,
    principal: Principal,
    reading_id: uuid.UUID,
    kind: ExclusionKind,
    reason: str,
    now: datetime,
) -> VitalReading:
    """Mark a reading of the caller's clinic as an artefact or entered in error (404 for
    another clinic's, 409 when already excluded); it stays stored.

    Side effects: READING_EXCLUDED audit row with before/after, and a `reading_excluded`
    event on the session's stream (the clinic's for an unrouted reading).
    """
    repo = ReadingRepository(db)
    row = await repo.get_in_clinic(principal.clinic_id, reading_id, for_update=True)
    if row is None:
        raise NotFound("reading not found")
    if row.excluded_at is not None:
        raise Conflict(f"the reading was already excluded at {row.excluded_at.isoformat()}")
    row.excluded_at = now
    row.excluded_reason = f"{kind}: {reason}"
    await audit_service.record(
        db,
        actor=principal.actor,
        action="READING_EXCLUDED",
        entity_type="vital_reading",
        entity_id=row.id,
        clinic_id=row.clinic_id,
        now=now,
        before={"excluded_at": None, "excluded_kind": None, "excluded_reason": None},
        after={
            "excluded_at": now.isoformat(),
            "excluded_kind": kind,
            "excluded_reason": reason,
            "session_id": None if row.session_id is None else str(row.session_id),
            "metric": row.metric,
            "value": row.value,
            "observed_at": row.observed_at.isoformat(),
            "source": row.source,
        },
    )
    await realtime_service.append(
        db,
        clinic_id=row.clinic_id,
        events=[
            NewEvent(
                type="reading_excluded",
                session_id=row.session_id,
                payload={
                    "reading_id": str(row.id),
                    "metric": row.metric,
                    "observed_at": row.observed_at.isoformat(),
                    "kind": kind,
                },
            )
        ],
        now=now,
    )
    return row


async def list_readings(
    db: AsyncSession,
    *,
    principal: Principal,
    session_id: uuid.UUID,
    metric: str | None,
    include_excluded: bool,
) -> list[VitalReading]:
    """A session of the caller's clinic (404 otherwise): its readings in observed_at order,
    excluded ones only when asked for."""
    loaded = await load(db, clinic_id=principal.clinic_id, session_id=session_id)
    return await ReadingRepository(db).for_session(
        loaded.row.id, metric=metric, include_excluded=include_excluded
    )
