from __future__ import annotations

import uuid

from fastapi import APIRouter

from app.auth.dependencies import Clinical, DeviceCaller
from app.core.db import SessionDep
from app.core.deps import ClockDep
from app.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    responses,
)
from app.devices import service as devices_service
from app.protocols.domain import Metric
from app.vitals import manual as manual_service
from app.vitals import service as vitals_service
from app.vitals.domain import RawReading
from app.vitals.schemas import (
    MAX_READINGS_PER_REQUEST,
    ManualReadingResult,
    ManualVitalsCreate,
    ManualVitalsResult,
    ReadingExclusionCreate,
    VitalReadingList,
    VitalReadingRead,
    VitalsBatch,
    VitalsBatchResult,
    reading_results,
)

router = APIRouter(tags=["vitals"])


@router.post(
    "/vitals",
    response_model=VitalsBatchResult,
    responses=responses(Unauthorized, Forbidden, PayloadTooLarge),
)
async def ingest_vitals(
    body: VitalsBatch, principal: DeviceCaller, db: SessionDep, clock: ClockDep
) -> VitalsBatchResult:
    """Send readings from a monitor or gateway (device key). Answered after they are committed.

    Each result is `created`, `duplicate` (this id was stored with the same content: nothing
    changes), `conflict` (stored with other content: nothing stored) or `rejected` with a
    `code`: `unknown_metric`, `unknown_unit`, `not_a_number`, `implausible_value`,
    `dbp_not_below_sbp`, `missing_offset` or `future_observed_at`. Retrying a whole batch is
    always safe. More than 1,000 readings: 413.
    """
    if len(body.readings) > MAX_READINGS_PER_REQUEST:
        raise PayloadTooLarge(
            f"readings: {len(body.readings)} in one request; send at most {MAX_READINGS_PER_REQUEST}"
        )
    assert principal.device_id is not None
    device = await devices_service.get_device(db, principal.clinic_id, principal.device_id)
    raws = [
        RawReading(r.id, r.metric, r.value, r.unit, r.observed_at, r.measurement_id)
        for r in body.readings
    ]
    outcome = await vitals_service.ingest(
        db, device=device, raws=raws, sent_at=body.sent_at, received_at=clock.now()
    )
    return VitalsBatchResult(
        results=reading_results(outcome.results), clock_skewed=outcome.clock_skewed
    )


@router.post(
    "/sessions/{session_id}/vitals",
    response_model=ManualVitalsResult,
    responses=responses(Unauthorized, Forbidden, NotFound, Conflict),
)
async def enter_vitals(
    session_id: uuid.UUID,
    body: ManualVitalsCreate,
    principal: Clinical,
    db: SessionDep,
    clock: ClockDep,
) -> ManualVitalsResult:
    """Enter up to 50 readings by hand (e.g. a manual BP when the cuff fails) on an active session.

    Validated like a device's readings; each result is `created` (with the `reading_id`) or
    `rejected` with the same codes as `POST /vitals`, plus `before_check_in`. Stored with source
    `manual`, they feed the alarm engine like any other reading. 409 unless the session is
    between check-in and discharge. Audited (VITALS_ENTERED).
    """
    outcomes = await manual_service.enter_readings(
        db, principal=principal, session_id=session_id, readings=body.readings, now=clock.now()
    )
    return ManualVitalsResult(
        session_id=session_id,
        results=[
            ManualReadingResult(
                index=o.index,
                status=o.status,
                reading_id=o.reading_id,
                code=o.code,
                message=o.message,
            )
            for o in outcomes
        ],
    )


@router.get(
    "/sessions/{session_id}/vitals",
    response_model=VitalReadingList,
    responses=responses(Unauthorized, Forbidden, NotFound),
)
async def list_vitals(
    session_id: uuid.UUID,
    principal: Clinical,
    db: SessionDep,
    metric: Metric | None = None,
    include_excluded: bool = False,
) -> VitalReadingList:
    """A session's readings (device and manual) in observed_at order.

    Readings marked as an artefact or entered in error are left out unless
    `include_excluded=true`; they are left out of summaries and alarm evaluation from then on.
    """
    rows = await manual_service.list_readings(
        db,
        principal=principal,
        session_id=session_id,
        metric=None if metric is None else metric.value,
        include_excluded=include_excluded,
    )
    return VitalReadingList(items=[manual_service.to_read(r) for r in rows])


@router.post(
    "/readings/{reading_id}/exclude",
    response_model=VitalReadingRead,
    responses=responses(Unauthorized, Forbidden, NotFound, Conflict),
)
async def exclude_reading(
    reading_id: uuid.UUID,
    body: ReadingExclusionCreate,
    principal: Clinical,
    db: SessionDep,
    clock: ClockDep,
) -> VitalReadingRead:
    """Mark a reading as an artefact or entered in error (reason required); it stays stored.

    From then on it is left out of summaries, of alarm evaluation and of the session's vitals
    list (unless `include_excluded=true`). Audited (READING_EXCLUDED); 409 when already excluded.
    """
    row = await manual_service.exclude_reading(
        db,
        principal=principal,
        reading_id=reading_id,
        kind=body.kind,
        reason=body.reason,
        now=clock.now(),
    )
    return manual_service.to_read(row)
