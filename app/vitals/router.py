from __future__ import annotations

from fastapi import APIRouter

from app.auth.dependencies import DeviceCaller
from app.core.db import SessionDep
from app.core.deps import ClockDep
from app.core.errors import Forbidden, PayloadTooLarge, Unauthorized, responses
from app.devices import service as devices_service
from app.vitals import service as vitals_service
from app.vitals.domain import RawReading
from app.vitals.schemas import (
    MAX_READINGS_PER_REQUEST,
    ReadingResult,
    VitalsBatch,
    VitalsBatchResult,
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
        results=[
            ReadingResult(
                id=o.source_id,
                status=o.status,
                code=o.code,
                message=o.message,
                session_id=o.session_id,
            )
            for o in outcome.results
        ],
        clock_skewed=outcome.clock_skewed,
    )
