"""Registry: session side effects and adverse events, course records and view, session
summary (numbers, PDF, FHIR), registry export and clinic report (issue 11)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import ApproverRole, Clinical, Physician
from app.auth.domain import Principal
from app.core.db import SessionDep
from app.core.deps import ClockDep, SettingsDep
from app.core.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable, responses
from app.core.schemas import ClinicDay
from app.registry.schemas import (
    AdverseEventCreate,
    AdverseEventRead,
    ClinicReportRead,
    CourseRead,
    CourseScaleCreate,
    DayReminders,
    EvaluationCreate,
    LiverTestCreate,
    SessionRegistryRead,
    SessionSummaryRead,
    SideEffectsCreate,
    SideEffectsRead,
)
from app.registry.service import course as course_service
from app.registry.service import document, export, records
from app.registry.service.reminders import day_reminders
from app.registry.service.report import clinic_report_data
from app.registry.service.session_data import SessionData, session_data, summary_read

router = APIRouter(tags=["registry"])

ERRORS = responses(Unauthorized, Forbidden, NotFound, Conflict, Unprocessable)


def registry_read(data: SessionData) -> SessionRegistryRead:
    se = data.side_effects
    return SessionRegistryRead(
        session_id=data.read.id,
        side_effects=None
        if se is None
        else SideEffectsRead.model_validate(se, from_attributes=True),
        adverse_events=[
            AdverseEventRead.model_validate(a, from_attributes=True) for a in data.adverse_events
        ],
    )


@router.post(
    "/sessions/{session_id}/side-effects", response_model=SessionRegistryRead, responses=ERRORS
)
async def record_side_effects(
    session_id: uuid.UUID,
    body: SideEffectsCreate,
    principal: Clinical,
    db: SessionDep,
    clock: ClockDep,
) -> SessionRegistryRead:
    """Record or correct the session's side-effect checklist and interventions."""
    now = clock.now()
    await records.record_side_effects(
        db, principal=principal, session_id=session_id, data=body, now=now
    )
    return registry_read(
        await session_data(db, clinic_id=principal.clinic_id, session_id=session_id, now=now)
    )


@router.post(
    "/sessions/{session_id}/adverse-events",
    response_model=SessionRegistryRead,
    status_code=status.HTTP_201_CREATED,
    responses=ERRORS,
)
async def record_adverse_event(
    session_id: uuid.UUID,
    body: AdverseEventCreate,
    principal: Clinical,
    db: SessionDep,
    clock: ClockDep,
) -> SessionRegistryRead:
    """Record an adverse event of the session (CTCAE grade, seriousness, outcome)."""
    now = clock.now()
    await records.record_adverse_event(
        db, principal=principal, session_id=session_id, data=body, now=now
    )
    return registry_read(
        await session_data(db, clinic_id=principal.clinic_id, session_id=session_id, now=now)
    )


@router.get("/sessions/{session_id}/registry", response_model=SessionRegistryRead, responses=ERRORS)
async def get_session_registry(
    session_id: uuid.UUID, principal: Clinical, db: SessionDep, clock: ClockDep
) -> SessionRegistryRead:
    """The session's side effects and adverse events."""
    return registry_read(
        await session_data(
            db, clinic_id=principal.clinic_id, session_id=session_id, now=clock.now()
        )
    )


@router.get("/sessions/{session_id}/summary", response_model=SessionSummaryRead, responses=ERRORS)
async def get_session_summary(
    session_id: uuid.UUID, principal: Clinical, db: SessionDep, clock: ClockDep
) -> SessionSummaryRead:
    """The session summary numbers: BP pre/40 min/end, min SpO2, max SBP, alarms by priority,
    monitoring and ready-to-leave minutes, dose, drug lot and volumes."""
    return summary_read(
        await session_data(
            db, clinic_id=principal.clinic_id, session_id=session_id, now=clock.now()
        )
    )


async def _write_then_course(
    record: Callable[..., Awaitable[object]],
    db: AsyncSession,
    principal: Principal,
    patient_id: uuid.UUID,
    body: object,
    now: datetime,
    tz: ZoneInfo,
) -> CourseRead:
    """Record a course item, then answer with the whole course as it now stands."""
    await record(
        db,
        principal=principal,
        patient_id=patient_id,
        data=body,
        now=now,
        today=now.astimezone(tz).date(),
    )
    return await course_service.course_view(
        db, principal=principal, patient_id=patient_id, now=now, tz=tz
    )


@router.post(
    "/patients/{patient_id}/course/scales",
    response_model=CourseRead,
    status_code=status.HTTP_201_CREATED,
    responses=ERRORS,
)
async def record_course_scale(
    patient_id: uuid.UUID,
    body: CourseScaleCreate,
    principal: Clinical,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> CourseRead:
    """Record a course scale (MADRS, PHQ-9) at a schedule timepoint; 422 naming a bad item."""
    return await _write_then_course(
        records.record_course_scale, db, principal, patient_id, body, clock.now(), settings.timezone
    )


@router.post(
    "/patients/{patient_id}/liver-tests",
    response_model=CourseRead,
    status_code=status.HTTP_201_CREATED,
    responses=ERRORS,
)
async def record_liver_test(
    patient_id: uuid.UUID,
    body: LiverTestCreate,
    principal: Clinical,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> CourseRead:
    """Record liver tests (ALT, AST, GGT in U/L) of a sample."""
    return await _write_then_course(
        records.record_liver_test, db, principal, patient_id, body, clock.now(), settings.timezone
    )


@router.post(
    "/patients/{patient_id}/evaluations",
    response_model=CourseRead,
    status_code=status.HTTP_201_CREATED,
    responses=ERRORS,
)
async def record_evaluation(
    patient_id: uuid.UUID,
    body: EvaluationCreate,
    principal: Physician,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> CourseRead:
    """Record a psychologist's mid-course or final evaluation (physician)."""
    return await _write_then_course(
        records.record_evaluation, db, principal, patient_id, body, clock.now(), settings.timezone
    )


@router.get("/patients/{patient_id}/course", response_model=CourseRead, responses=ERRORS)
async def get_course(
    patient_id: uuid.UUID,
    principal: Clinical,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> CourseRead:
    """The patient's course: sessions, scales over time, response/remission with the dates
    first met (or why not computable), reminders with overdue ones flagged."""
    return await course_service.course_view(
        db, principal=principal, patient_id=patient_id, now=clock.now(), tz=settings.timezone
    )


@router.get(
    "/sessions/{session_id}/summary.pdf",
    response_class=Response,
    responses={**ERRORS, 200: {"content": {"application/pdf": {}}}},
)
async def get_session_summary_pdf(
    session_id: uuid.UUID,
    principal: Clinical,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> Response:
    """The session summary PDF for the medical record (discharged sessions; audited)."""
    pdf = await document.summary_pdf(
        db, principal=principal, session_id=session_id, now=clock.now(), tz=settings.timezone
    )
    headers = {"Content-Disposition": f'inline; filename="session-{session_id}-summary.pdf"'}
    return Response(content=pdf, media_type="application/pdf", headers=headers)


@router.get(
    "/sessions/{session_id}/summary.fhir",
    response_class=JSONResponse,
    responses={**ERRORS, 200: {"content": {"application/fhir+json": {}}}},
)
async def get_session_summary_fhir(
    session_id: uuid.UUID,
    principal: Clinical,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> JSONResponse:
    """The session summary as a FHIR R4B Bundle: DocumentReference (PDF) and Observations."""
    bundle = await document.summary_fhir(
        db, principal=principal, session_id=session_id, now=clock.now(), tz=settings.timezone
    )
    return JSONResponse(bundle, media_type="application/fhir+json")


@router.get(
    "/registry/export",
    response_class=Response,
    responses={
        **ERRORS,
        200: {"content": {"text/csv": {}, "application/fhir+json": {}}},
    },
)
async def export_registry(
    principal: ApproverRole,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    first_day: Annotated[
        ClinicDay | None, Query(alias="from", description="first clinic day")
    ] = None,
    last_day: Annotated[ClinicDay | None, Query(alias="to", description="last clinic day")] = None,
    patient_id: uuid.UUID | None = None,
    export_format: Annotated[Literal["csv", "fhir"], Query(alias="format")] = "csv",
    identified: Annotated[bool, Query(description="names and MRNs; audited")] = False,
) -> Response:
    """Registry export (physician/admin): one row per session and per course as CSV (`kind`
    column) or a FHIR Bundle; pseudonymised unless `identified=true`. Audited."""
    if first_day is not None and last_day is not None and last_day < first_day:
        raise Unprocessable("to: is before from")
    req = export.ExportRequest(
        clinic_id=principal.clinic_id,
        actor=principal.actor,
        first_day=first_day,
        last_day=last_day,
        patient_id=patient_id,
        identified=identified,
    )
    secret, now, tz = settings.secret_key.get_secret_value(), clock.now(), settings.timezone
    if export_format == "fhir":
        bundle = await export.export_fhir(db, req, secret=secret, now=now, tz=tz)
        return JSONResponse(bundle, media_type="application/fhir+json")
    text = await export.export_csv(db, req, secret=secret, now=now, tz=tz)
    headers = {"Content-Disposition": 'attachment; filename="registry-export.csv"'}
    return Response(content=text, media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/registry/report", response_model=ClinicReportRead, responses=ERRORS)
async def get_clinic_report(
    principal: ApproverRole,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    first_day: Annotated[
        ClinicDay | None, Query(alias="from", description="first clinic day")
    ] = None,
    last_day: Annotated[ClinicDay | None, Query(alias="to", description="last clinic day")] = None,
) -> ClinicReportRead:
    """Clinic report data (physician/admin): sessions per week, completion rate,
    response/remission rates, alarms per 100 infusion-hours by rule, adverse events by grade."""
    if first_day is not None and last_day is not None and last_day < first_day:
        raise Unprocessable("to: is before from")
    report = await clinic_report_data(
        db,
        clinic_id=principal.clinic_id,
        first_day=first_day,
        last_day=last_day,
        now=clock.now(),
        tz=settings.timezone,
    )
    return ClinicReportRead.model_validate(
        {**asdict(report), "first_day": first_day, "last_day": last_day}
    )


@router.get("/registry/reminders", response_model=DayReminders, responses=ERRORS)
async def get_day_reminders(
    principal: Clinical,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    day: Annotated[ClinicDay | None, Query(description="clinic day, default today")] = None,
) -> DayReminders:
    """Course reminders of the patients booked on a day (the day's schedule), overdue flagged."""
    now, tz = clock.now(), settings.timezone
    return await day_reminders(
        db, clinic_id=principal.clinic_id, day=day or now.astimezone(tz).date(), now=now, tz=tz
    )
