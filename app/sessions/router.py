"""Infusion sessions: booking, check-in, start, pump changes, records, discharge (issue 5)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from app.auth import service as auth_service
from app.auth.dependencies import Clinical, Physician
from app.core.db import SessionDep
from app.core.deps import ClockDep, SettingsDep
from app.core.errors import (
    Blocked,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    Unprocessable,
    WrongPassword,
    responses,
)
from app.core.schemas import ClinicDay
from app.sessions import service as sessions_service
from app.sessions.domain import SessionState
from app.sessions.schemas import (
    CheckInCreate,
    DischargeCreate,
    DrugRecordCreate,
    MonitorSwap,
    OptionalReasonIn,
    PasswordConfirm,
    RateChange,
    ReasonIn,
    ScaleEntryCreate,
    SessionCreate,
    SessionList,
    SessionRead,
    SessionSummary,
    VitalsCheckCreate,
    VitalsIn,
)

router = APIRouter(prefix="/sessions", tags=["sessions"])

ERRORS = responses(Unauthorized, Forbidden, NotFound, Conflict, Blocked, Unprocessable)
SIGNED = responses(Unauthorized, WrongPassword, Forbidden, NotFound, Conflict, Unprocessable)


@router.post(
    "",
    response_model=SessionRead,
    status_code=status.HTTP_201_CREATED,
    responses=ERRORS,
)
async def schedule_session(
    body: SessionCreate, principal: Clinical, db: SessionDep, clock: ClockDep
) -> SessionRead:
    """Book a session on an approved protocol version: infusion n of N, minimum interval (409
    with the time it becomes allowed), titration proposal; a nurse never orders more."""
    now = clock.now()
    session_id = await sessions_service.schedule_session(
        db, principal=principal, data=body, now=now
    )
    return await sessions_service.get_session(
        db, clinic_id=principal.clinic_id, session_id=session_id, now=now
    )


@router.get("", response_model=SessionList, responses=responses(Unauthorized, Forbidden))
async def list_sessions(
    principal: Clinical,
    db: SessionDep,
    settings: SettingsDep,
    day: Annotated[ClinicDay | None, Query(description="clinic-local day, YYYY-MM-DD")] = None,
    state: SessionState | None = None,
) -> SessionList:
    """Sessions of the clinic by scheduled day (clinic time zone) and state."""
    rows = await sessions_service.list_sessions(
        db, clinic_id=principal.clinic_id, day=day, state=state, timezone=settings.timezone
    )
    return SessionList(
        items=[
            SessionSummary(
                id=r.id,
                patient_id=r.patient_id,
                chair_id=r.chair_id,
                state=r.state,
                scheduled_for=r.scheduled_for,
                infusion_number=r.infusion_number,
                planned_infusions=r.planned_infusions,
            )
            for r in rows
        ]
    )


@router.get(
    "/{session_id}",
    response_model=SessionRead,
    responses=responses(Unauthorized, Forbidden, NotFound),
)
async def get_session(
    session_id: uuid.UUID, principal: Clinical, db: SessionDep, clock: ClockDep
) -> SessionRead:
    """The session now: history, order, progress from the rate segments, start blockers with
    what lifts each (e.g. "repeat required after 10:05"), due and overdue checkpoints."""
    return await sessions_service.get_session(
        db, clinic_id=principal.clinic_id, session_id=session_id, now=clock.now()
    )


@router.post("/{session_id}/check-in", response_model=SessionRead, responses=ERRORS)
async def check_in(
    session_id: uuid.UUID,
    body: CheckInCreate,
    principal: Clinical,
    db: SessionDep,
    clock: ClockDep,
) -> SessionRead:
    """Check in: the chair's monitor (device id recorded), checklist, weight, pre-vitals, pre
    CADSS. 409 when the chair or patient is busy or the device is not the chair's monitor."""
    now = clock.now()
    loaded = await sessions_service.check_in(
        db, principal=principal, session_id=session_id, data=body, now=now
    )
    return await sessions_service.read_loaded(db, loaded, now)


@router.post("/{session_id}/monitor", response_model=SessionRead, responses=ERRORS)
async def swap_monitor(
    session_id: uuid.UUID, body: MonitorSwap, principal: Clinical, db: SessionDep, clock: ClockDep
) -> SessionRead:
    """Swap the session's monitor while it is active (reason required): a monitor of the clinic
    bound to the chair, or bound to it now; audited with both device ids."""
    now = clock.now()
    loaded = await sessions_service.swap_monitor(
        db,
        principal=principal,
        session_id=session_id,
        device_id=body.device_id,
        reason=body.reason,
        now=now,
    )
    return await sessions_service.read_loaded(db, loaded, now)


@router.post("/{session_id}/pre-vitals", response_model=SessionRead, responses=ERRORS)
async def add_pre_vitals(
    session_id: uuid.UUID, body: VitalsIn, principal: Clinical, db: SessionDep, clock: ClockDep
) -> SessionRead:
    """Another pre-infusion vitals set (the BP repeat at least 5 min after the first)."""
    now = clock.now()
    loaded = await sessions_service.add_pre_vitals(
        db, principal=principal, session_id=session_id, data=body, now=now
    )
    return await sessions_service.read_loaded(db, loaded, now)


@router.post("/{session_id}/physician-ack", response_model=SessionRead, responses=SIGNED)
async def physician_ack(
    session_id: uuid.UUID,
    body: PasswordConfirm,
    principal: Physician,
    db: SessionDep,
    clock: ClockDep,
) -> SessionRead:
    """A physician acknowledges BP above 140/90 (password re-entered)."""
    await auth_service.confirm_password(db, principal, body.password)
    now = clock.now()
    loaded = await sessions_service.physician_ack(
        db, principal=principal, session_id=session_id, now=now
    )
    return await sessions_service.read_loaded(db, loaded, now)


@router.post("/{session_id}/start", response_model=SessionRead, responses=ERRORS)
async def start_infusion(
    session_id: uuid.UUID, principal: Clinical, db: SessionDep, clock: ClockDep
) -> SessionRead:
    """Start the infusion when every gate holds (else 409 listing each blocker); creates the
    dose order from the pinned protocol and the first rate segment."""
    now = clock.now()
    loaded = await sessions_service.start_infusion(
        db, principal=principal, session_id=session_id, now=now
    )
    return await sessions_service.read_loaded(db, loaded, now)


@router.post("/{session_id}/pause", response_model=SessionRead, responses=ERRORS)
async def pause_infusion(
    session_id: uuid.UUID,
    principal: Clinical,
    db: SessionDep,
    clock: ClockDep,
    body: OptionalReasonIn | None = None,
) -> SessionRead:
    """Pause the pump (a rate segment ends)."""
    now = clock.now()
    loaded = await sessions_service.pause_infusion(
        db,
        principal=principal,
        session_id=session_id,
        reason=None if body is None else body.reason,
        now=now,
    )
    return await sessions_service.read_loaded(db, loaded, now)


@router.post("/{session_id}/resume", response_model=SessionRead, responses=ERRORS)
async def resume_infusion(
    session_id: uuid.UUID,
    principal: Clinical,
    db: SessionDep,
    clock: ClockDep,
    body: OptionalReasonIn | None = None,
) -> SessionRead:
    """Resume at the rate in force before the pause."""
    now = clock.now()
    loaded = await sessions_service.resume_infusion(
        db,
        principal=principal,
        session_id=session_id,
        reason=None if body is None else body.reason,
        now=now,
    )
    return await sessions_service.read_loaded(db, loaded, now)


@router.post("/{session_id}/change-rate", response_model=SessionRead, responses=ERRORS)
async def change_rate(
    session_id: uuid.UUID, body: RateChange, principal: Clinical, db: SessionDep, clock: ClockDep
) -> SessionRead:
    """New rate (mg/h) with a reason: up to the order for anyone clinical; above it only a
    physician (403 for a nurse), which makes a new order version."""
    now = clock.now()
    loaded = await sessions_service.change_rate(
        db,
        principal=principal,
        session_id=session_id,
        rate_mg_per_h=body.rate_mg_per_h,
        reason=body.reason,
        now=now,
    )
    return await sessions_service.read_loaded(db, loaded, now)


@router.post("/{session_id}/stop", response_model=SessionRead, responses=ERRORS)
async def stop_infusion(
    session_id: uuid.UUID, body: ReasonIn, principal: Clinical, db: SessionDep, clock: ClockDep
) -> SessionRead:
    """Stop early (reason required); the patient is observed as in recovery."""
    now = clock.now()
    loaded = await sessions_service.stop_infusion(
        db, principal=principal, session_id=session_id, reason=body.reason, now=now
    )
    return await sessions_service.read_loaded(db, loaded, now)


@router.post("/{session_id}/complete", response_model=SessionRead, responses=ERRORS)
async def complete_infusion(
    session_id: uuid.UUID, principal: Clinical, db: SessionDep, clock: ClockDep
) -> SessionRead:
    """Confirm completion (→ recovery) once the server's figure shows the ordered dose
    delivered; 409 with the figure otherwise."""
    now = clock.now()
    loaded = await sessions_service.complete_infusion(
        db, principal=principal, session_id=session_id, now=now
    )
    return await sessions_service.read_loaded(db, loaded, now)


@router.post("/{session_id}/cancel", response_model=SessionRead, responses=ERRORS)
async def cancel_session(
    session_id: uuid.UUID, body: ReasonIn, principal: Clinical, db: SessionDep, clock: ClockDep
) -> SessionRead:
    """Cancel before the infusion (reason required)."""
    now = clock.now()
    loaded = await sessions_service.cancel_session(
        db, principal=principal, session_id=session_id, reason=body.reason, now=now
    )
    return await sessions_service.read_loaded(db, loaded, now)


@router.post("/{session_id}/drug", response_model=SessionRead, responses=ERRORS)
async def record_drug(
    session_id: uuid.UUID,
    body: DrugRecordCreate,
    principal: Clinical,
    db: SessionDep,
    clock: ClockDep,
) -> SessionRead:
    """Controlled drug: lot, prepared and wasted mL (given mL from the segments), witness."""
    now = clock.now()
    loaded = await sessions_service.record_drug(
        db, principal=principal, session_id=session_id, data=body, now=now
    )
    return await sessions_service.read_loaded(db, loaded, now)


@router.post("/{session_id}/scales/{scale_id}", response_model=SessionRead, responses=ERRORS)
async def record_scale(
    session_id: uuid.UUID,
    scale_id: str,
    body: ScaleEntryCreate,
    principal: Clinical,
    db: SessionDep,
    clock: ClockDep,
) -> SessionRead:
    """A rating scale, validated per item (422 naming the item) and scored."""
    now = clock.now()
    loaded = await sessions_service.record_scale_entry(
        db, principal=principal, session_id=session_id, scale_id=scale_id, data=body, now=now
    )
    return await sessions_service.read_loaded(db, loaded, now)


@router.post("/{session_id}/vitals-check", response_model=SessionRead, responses=ERRORS)
async def record_vitals_check(
    session_id: uuid.UUID,
    body: VitalsCheckCreate,
    principal: Clinical,
    db: SessionDep,
    clock: ClockDep,
) -> SessionRead:
    """A manual BP (optionally HR, SpO2) for the checkpoints and the discharge criteria."""
    now = clock.now()
    loaded = await sessions_service.record_vitals_check(
        db, principal=principal, session_id=session_id, data=body, now=now
    )
    return await sessions_service.read_loaded(db, loaded, now)


@router.post("/{session_id}/discharge", response_model=SessionRead, responses=SIGNED)
async def discharge_session(
    session_id: uuid.UUID,
    body: DischargeCreate,
    principal: Physician,
    db: SessionDep,
    clock: ClockDep,
) -> SessionRead:
    """Physician discharge (password re-entered); 409 naming each unmet criterion."""
    await auth_service.confirm_password(db, principal, body.password)
    now = clock.now()
    loaded = await sessions_service.discharge_session(
        db, principal=principal, session_id=session_id, data=body, now=now
    )
    return await sessions_service.read_loaded(db, loaded, now)
