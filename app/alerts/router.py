"""Alarms: list, acknowledge, silence (issue 7 point 10)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from app.alerts import actions
from app.alerts.repository import AlarmRepository
from app.alerts.schemas import AcknowledgeIn, AlarmList, AlarmRead, SilenceIn
from app.alerts.views import alarm_view
from app.auth.dependencies import AnyStaff, Clinical
from app.core.db import SessionDep
from app.core.deps import ClockDep
from app.core.errors import Conflict, Forbidden, NotFound, Unauthorized, responses
from app.core.schemas import MAX_PAGE_OFFSET
from app.sessions.service.common import load

router = APIRouter(tags=["alarms"])

StateFilter = Literal["active", "cleared", "all"]


async def _page(
    db: SessionDep,
    clock: ClockDep,
    clinic_id: uuid.UUID,
    session_id: uuid.UUID | None,
    state: StateFilter,
    limit: int,
    offset: int,
) -> AlarmList:
    rows, total = await AlarmRepository(db).listing(
        clinic_id,
        session_id=session_id,
        state=None if state == "all" else state,
        limit=limit,
        offset=offset,
    )
    now = clock.now()
    return AlarmList(
        items=[AlarmRead.model_validate(alarm_view(a, now)) for a in rows], total=total
    )


Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=MAX_PAGE_OFFSET)]


@router.get("/alarms", response_model=AlarmList, responses=responses(Unauthorized, Forbidden))
async def list_alarms(
    principal: AnyStaff,
    db: SessionDep,
    clock: ClockDep,
    state: StateFilter = "active",
    limit: Limit = 100,
    offset: Offset = 0,
) -> AlarmList:
    """The clinic's alarms, newest first; `state=active` (default), `cleared` or `all`."""
    return await _page(db, clock, principal.clinic_id, None, state, limit, offset)


@router.get(
    "/sessions/{session_id}/alarms",
    response_model=AlarmList,
    responses=responses(Unauthorized, Forbidden, NotFound),
)
async def session_alarms(
    session_id: uuid.UUID,
    principal: AnyStaff,
    db: SessionDep,
    clock: ClockDep,
    state: StateFilter = "all",
    limit: Limit = 100,
    offset: Offset = 0,
) -> AlarmList:
    """One session's alarms (all states by default), newest first, with their history."""
    await load(db, clinic_id=principal.clinic_id, session_id=session_id)  # 404 if not ours
    return await _page(db, clock, principal.clinic_id, session_id, state, limit, offset)


ACTION_ERRORS = responses(Unauthorized, Forbidden, NotFound, Conflict)


@router.post("/alarms/{alarm_id}/ack", response_model=AlarmRead, responses=ACTION_ERRORS)
async def acknowledge_alarm(
    alarm_id: uuid.UUID,
    principal: Clinical,
    db: SessionDep,
    clock: ClockDep,
    body: AcknowledgeIn | None = None,
) -> AlarmRead:
    """Acknowledge (nurse or physician, optional note): stops escalation and the sound; a
    latching alarm whose condition ended clears. Acknowledging again changes nothing; a
    cleared alarm is 409."""
    now = clock.now()
    alarm = await actions.acknowledge_alarm(
        db,
        principal=principal,
        alarm_id=alarm_id,
        note=None if body is None else body.note,
        now=now,
    )
    return AlarmRead.model_validate(alarm_view(alarm, now))


@router.post("/alarms/{alarm_id}/silence", response_model=AlarmRead, responses=ACTION_ERRORS)
async def silence_alarm(
    alarm_id: uuid.UUID,
    principal: Clinical,
    db: SessionDep,
    clock: ClockDep,
    body: SilenceIn | None = None,
) -> AlarmRead:
    """Silence one alarm's sound on every board of the clinic for 2 minutes (protocol
    `silence_s`); a priority rise cancels it. It stays visible and still escalates."""
    now = clock.now()
    alarm = await actions.silence_alarm(
        db,
        principal=principal,
        alarm_id=alarm_id,
        reason=None if body is None else body.reason,
        now=now,
    )
    return AlarmRead.model_validate(alarm_view(alarm, now))
