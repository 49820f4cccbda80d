"""Clinical pages: the session page (trends, events, checkpoints, forms), the day's schedule,
check-in, the patient's course. Pages read through the services; every change goes through
the JSON API from the page's forms (static/js/forms.js) with the CSRF header."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import views as alerts_views
from app.clinics import service as clinics_service
from app.core.db import SessionDep
from app.core.deps import ClockDep, SettingsDep
from app.core.errors import NotFound
from app.core.types import Role
from app.devices import service as devices_service
from app.patients import service as patients_service
from app.protocols import service as protocols_service
from app.registry.service.course import course_view_for
from app.registry.service.reminders import day_reminders
from app.screening import service as screening_service
from app.sessions import service as sessions_service
from app.sessions.schemas import SessionRead
from app.sessions.service.common import scale_definitions
from app.web.common import page_access, render

router = APIRouter(include_in_schema=False)

CLINICAL = (Role.NURSE, Role.PHYSICIAN)
SCALE_FORMS = ("cadss", "bprs_plus")
BASELINE_FIELDS = {"sbp": "sbp_mmhg", "dbp": "dbp_mmhg", "hr": "hr_bpm", "spo2": "spo2_pct"}


def alarm_limits(version: Any, session: SessionRead, phase: str) -> list[dict[str, Any]]:
    """The protocol's physiological alarm limits in force in ``phase`` (limit bands on the
    charts); limits relative to the baseline use the session's frozen baseline."""
    out: list[dict[str, Any]] = []
    baseline = session.baseline
    for rule in protocols_service.definition_of(version).alarms.rules:
        if phase not in {p.value for p in rule.phases}:
            continue
        limit = rule.limit
        if limit is None and baseline is not None and rule.baseline_offset is not None:
            base = getattr(baseline, BASELINE_FIELDS.get(rule.metric.value, "-"), None)
            limit = None if base is None else base + rule.baseline_offset
        if limit is None:
            continue
        out.append(
            {
                "metric": rule.metric.value,
                "comparator": rule.comparator.value,
                "limit": limit,
                "priority": rule.priority.value,
            }
        )
    return out


def _phase(state: str) -> str:
    return {"stopped": "stopped", "paused": "paused", "recovery": "recovery"}.get(
        state, "infusing" if state == "infusing" else "checked_in"
    )


async def _names(db: AsyncSession, clinic_id: uuid.UUID, session: SessionRead) -> dict[str, Any]:
    chair = await clinics_service.get_chair(db, clinic_id, session.chair_id)
    monitor = None
    if session.device_id is not None:
        try:
            monitor = (await devices_service.get_device(db, clinic_id, session.device_id)).name
        except NotFound:
            monitor = None
    initials = await patients_service.initials_of(
        db, clinic_id=clinic_id, patient_id=session.patient_id
    )
    return {"chair": chair, "monitor": monitor, "initials": initials}


@router.get("/sessions/{session_id}", response_model=None)
async def session_page(
    session_id: uuid.UUID,
    request: Request,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> Response:
    now = clock.now()
    found = await page_access(request, db, now, settings)
    if isinstance(found, Response):
        return found
    principal, csrf = found
    session = await sessions_service.get_session(
        db, clinic_id=principal.clinic_id, session_id=session_id, now=now
    )
    version = await protocols_service.get_version(
        db, principal.clinic_id, session.protocol_version_id
    )
    alarms = await alerts_views.active_alarm_views(db, session_ids=[session.id], now=now)
    scales = scale_definitions()
    return render(
        request,
        "session.html",
        principal,
        csrf,
        now,
        {
            "s": session,
            **await _names(db, principal.clinic_id, session),
            "limits": alarm_limits(version, session, _phase(session.state)),
            "alarms": alarms.get(session.id, []),
            "scales": [scales[k] for k in SCALE_FORMS if k in scales],
            "can_act": principal.role in CLINICAL,
            "is_physician": principal.role == Role.PHYSICIAN,
            "timezone": settings.clinic_timezone,
        },
    )


@router.get("/schedule", response_model=None)
async def schedule_page(
    request: Request, db: SessionDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    now = clock.now()
    found = await page_access(request, db, now, settings, CLINICAL)
    if isinstance(found, Response):
        return found
    principal, csrf = found
    day = now.astimezone(settings.timezone).date()
    rows = await sessions_service.list_sessions(
        db, clinic_id=principal.clinic_id, day=day, state=None, timezone=settings.timezone
    )
    chairs = {c.id: c.name for c in await clinics_service.list_chairs(db, principal.clinic_id)}
    due = await day_reminders(
        db, clinic_id=principal.clinic_id, day=day, now=now, tz=settings.timezone
    )
    reminders = {p.patient_id: p for p in due.items}
    items = [
        {
            "row": row,
            "chair": chairs.get(row.chair_id, "?"),
            "reminders": reminders.get(row.patient_id),
            "initials": await patients_service.initials_of(
                db, clinic_id=principal.clinic_id, patient_id=row.patient_id
            ),
        }
        for row in rows
    ]
    return render(
        request,
        "schedule.html",
        principal,
        csrf,
        now,
        {"day": day, "items": items, "timezone": settings.clinic_timezone},
    )


@router.get("/sessions/{session_id}/check-in", response_model=None)
async def check_in_page(
    session_id: uuid.UUID,
    request: Request,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> Response:
    now = clock.now()
    found = await page_access(request, db, now, settings, CLINICAL)
    if isinstance(found, Response):
        return found
    principal, csrf = found
    session = await sessions_service.get_session(
        db, clinic_id=principal.clinic_id, session_id=session_id, now=now
    )
    version = await protocols_service.get_version(
        db, principal.clinic_id, session.protocol_version_id
    )
    devices = await devices_service.devices_on_chair(
        db, clinic_id=principal.clinic_id, chair_id=session.chair_id
    )
    scales = scale_definitions()
    return render(
        request,
        "checkin.html",
        principal,
        csrf,
        now,
        {
            "s": session,
            **await _names(db, principal.clinic_id, session),
            "devices": devices,
            "checklist": protocols_service.definition_of(version).pre_session.checklist,
            "cadss": scales.get("cadss"),
            "is_physician": principal.role == Role.PHYSICIAN,
            "timezone": settings.clinic_timezone,
        },
    )


@router.get("/patients/{patient_id}", response_model=None)
async def patient_page(
    patient_id: uuid.UUID,
    request: Request,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> Response:
    now = clock.now()
    found = await page_access(request, db, now, settings, CLINICAL)
    if isinstance(found, Response):
        return found
    principal, csrf = found
    patient = await patients_service.get_patient(
        db, clinic_id=principal.clinic_id, patient_id=patient_id, actor=principal.actor, now=now
    )
    # Filtered in SQL: the clinic-wide listing stops at 500 sessions.
    course = await sessions_service.list_sessions(
        db,
        clinic_id=principal.clinic_id,
        day=None,
        state=None,
        timezone=settings.timezone,
        patient_id=patient_id,
    )
    screenings = await screening_service.list_screenings(
        db, clinic_id=principal.clinic_id, patient_id=patient_id
    )
    view = await course_view_for(
        db, clinic_id=principal.clinic_id, patient_id=patient_id, now=now, tz=settings.timezone
    )
    return render(
        request,
        "patient.html",
        principal,
        csrf,
        now,
        {
            "patient": patient,
            "course": course,
            "screenings": [v.screening for v in screenings],
            "reminders": view.reminders,
            "outcomes": view.outcomes,
            "timezone": settings.clinic_timezone,
        },
    )
