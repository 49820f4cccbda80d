"""A patient's course as the course view shows it (issue 11 points 2-3).

There is no course table: the course is derived from the patient's sessions. Induction =
the non-cancelled sessions with infusion number 1..N (N = the session's `planned_infusions`,
from the protocol `[course] induction_infusions`); any later session of the patient is a
maintenance session linked to the course. Course scales are the ones recorded on the course
(`registry_course_scale`) plus MADRS/PHQ-9 recorded on a session, whose timepoint follows from
the session: infusion 1 before the start = baseline, infusion 3 or 6 after the start =
after_infusion_3/6, otherwise `other`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.domain import Principal
from app.core.errors import NotFound
from app.patients import service as patients_service
from app.protocols import service as protocols_service
from app.protocols.domain import ProtocolDefinition
from app.registry.domain import (
    MADRS,
    PHQ9,
    CoursePlan,
    CourseRecords,
    CourseScaleScore,
    EvaluationPoint,
    OutcomeResult,
    Timepoint,
    course_outcomes,
    course_reminders,
)
from app.registry.repository import RegistryRepository
from app.registry.schemas import (
    CourseRead,
    CourseScaleRead,
    CourseSessionRead,
    EvaluationRead,
    LiverTestRead,
    OutcomeRead,
    OutcomesRead,
    ReminderRead,
    TimepointScores,
)
from app.scales.domain import ScaleScore
from app.screening import service as screening_service
from app.sessions import service as sessions_service
from app.sessions.schemas import SessionRead

_BEFORE_START = ("checked_in",)
_AFTER_INFUSION = {3: Timepoint.AFTER_INFUSION_3, 6: Timepoint.AFTER_INFUSION_6}


@dataclass(frozen=True, slots=True)
class Course:
    """The derived course of a patient."""

    patient_id: uuid.UUID
    induction: list[SessionRead]
    maintenance: list[SessionRead]
    protocol: ProtocolDefinition | None
    scales: list[CourseScaleRead]

    @property
    def planned_infusions(self) -> int | None:
        return self.induction[0].planned_infusions if self.induction else None


async def screening_liver_tests(
    db: AsyncSession, *, clinic_id: uuid.UUID, patient_id: uuid.UUID, tz: ZoneInfo
) -> list[LiverTestRead]:
    """The liver tests entered on the patient's latest screening (the pre-course LFT)."""
    versions = await screening_service.list_screenings(
        db, clinic_id=clinic_id, patient_id=patient_id
    )
    if not versions:
        return []
    row = versions[0].screening
    tests = row.content.get("liver_tests")
    if not isinstance(tests, dict) or not tests.get("measured_at"):
        return []
    measured = datetime.fromisoformat(str(tests["measured_at"])).astimezone(tz).date()
    return [
        LiverTestRead(
            id=row.id,
            sample_date=measured,
            alt_u_per_l=tests.get("alt_u_per_l"),
            ast_u_per_l=tests.get("ast_u_per_l"),
            ggt_u_per_l=None,
            note="from the screening",
            source="screening",
        )
    ]


def started_at(read: SessionRead) -> datetime | None:
    return next((h.at for h in read.history if h.state == "infusing"), None)


def _session_timepoint(read: SessionRead, state: str) -> Timepoint:
    if read.infusion_number == 1 and state in _BEFORE_START:
        return Timepoint.BASELINE
    if state not in _BEFORE_START and read.infusion_number in _AFTER_INFUSION:
        return _AFTER_INFUSION[read.infusion_number]
    return Timepoint.OTHER


async def load_course(
    db: AsyncSession, *, clinic_id: uuid.UUID, patient_id: uuid.UUID, now: datetime, tz: ZoneInfo
) -> Course:
    """The patient's course (404 for a patient outside the clinic)."""
    if await patients_service.birth_date_of(db, clinic_id=clinic_id, patient_id=patient_id) is None:
        raise NotFound("patient not found")
    ids = await sessions_service.session_ids(db, clinic_id=clinic_id, patient_id=patient_id)
    reads = [
        await sessions_service.get_session(db, clinic_id=clinic_id, session_id=i, now=now)
        for i in ids
    ]
    reads = [r for r in reads if r.state != "cancelled"]
    induction = [r for r in reads if r.infusion_number <= r.planned_infusions]
    maintenance = [r for r in reads if r.infusion_number > r.planned_infusions]
    protocol = None
    if induction:
        version = await protocols_service.get_version(
            db, clinic_id, induction[0].protocol_version_id
        )
        protocol = protocols_service.definition_of(version)
    scales = [
        CourseScaleRead(
            scale_id=e.scale_id,
            timepoint=e.timepoint,
            taken_date=e.taken_date,
            total=e.total,
            band=e.band,
            source="course",
        )
        for e in await RegistryRepository(db).course_scales(patient_id)
    ]
    for read in induction:
        for entry in read.scales:
            if entry.scale_id in (MADRS, PHQ9):
                scales.append(
                    CourseScaleRead(
                        scale_id=entry.scale_id,
                        timepoint=str(_session_timepoint(read, entry.state)),
                        taken_date=entry.at.astimezone(tz).date(),
                        total=entry.total,
                        band=entry.band,
                        source="session",
                    )
                )
    scales.sort(key=lambda s: (s.taken_date, s.scale_id))
    return Course(patient_id, induction, maintenance, protocol, scales)


def scale_scores(course: Course) -> list[CourseScaleScore]:
    return [
        CourseScaleScore(
            ScaleScore(s.scale_id, (), s.total, None), s.taken_date, Timepoint(s.timepoint)
        )
        for s in course.scales
    ]


def course_plan(course: Course, tz: ZoneInfo) -> CoursePlan | None:
    """The course as the reminders need it; None without a protocol or an induction session."""
    if course.protocol is None or not course.induction:
        return None
    starts = [at for r in course.induction if (at := started_at(r)) is not None]
    dates = tuple(sorted(at.astimezone(tz).date() for at in starts))
    first = dates[0] if dates else course.induction[0].scheduled_for.astimezone(tz).date()
    outcomes = course.protocol.outcomes
    return CoursePlan(
        first_infusion_on=first,
        infusion_dates=dates,
        planned_infusions=course.planned_infusions or course.protocol.course.induction_infusions,
        schedule=tuple(Timepoint(t) for t in outcomes.schedule),
        scales=(outcomes.primary_scale, outcomes.self_report_scale),
    )


def _outcome(result: OutcomeResult) -> OutcomeRead:
    return OutcomeRead(
        status=str(result.status), first_met_on=result.first_met_on, reason=result.reason
    )


def _session(read: SessionRead) -> CourseSessionRead:
    return CourseSessionRead(
        session_id=read.id,
        infusion_number=read.infusion_number,
        state=read.state,
        scheduled_for=read.scheduled_for,
        started_at=started_at(read),
    )


async def course_view(
    db: AsyncSession, *, principal: Principal, patient_id: uuid.UUID, now: datetime, tz: ZoneInfo
) -> CourseRead:
    """The course view: sessions, scales over time, outcomes with the dates first met (or not
    computable with the reason), reminders (overdue flagged), liver tests and evaluations."""
    return await course_view_for(
        db, clinic_id=principal.clinic_id, patient_id=patient_id, now=now, tz=tz
    )


async def course_view_for(
    db: AsyncSession, *, clinic_id: uuid.UUID, patient_id: uuid.UUID, now: datetime, tz: ZoneInfo
) -> CourseRead:
    """`course_view` for a clinic (the export and report, which have no principal)."""
    course = await load_course(db, clinic_id=clinic_id, patient_id=patient_id, now=now, tz=tz)
    repo = RegistryRepository(db)
    liver = [
        *(
            LiverTestRead.model_validate(t, from_attributes=True)
            for t in await repo.liver_tests(patient_id)
        ),
        *await screening_liver_tests(db, clinic_id=clinic_id, patient_id=patient_id, tz=tz),
    ]
    liver.sort(key=lambda t: t.sample_date)
    evaluations = await repo.evaluations(patient_id)
    scores = scale_scores(course)
    outcomes = None
    reminders: list[ReminderRead] = []
    if course.protocol is not None:
        found = course_outcomes(scores, course.protocol.outcomes)
        outcomes = OutcomesRead(
            madrs_response=_outcome(found.madrs_response),
            madrs_remission=_outcome(found.madrs_remission),
            phq9_remission=_outcome(found.phq9_remission),
        )
    plan = course_plan(course, tz)
    if plan is not None:
        records = CourseRecords(
            scales=tuple(scores),
            liver_test_dates=tuple(t.sample_date for t in liver),
            evaluations=frozenset(EvaluationPoint(e.kind) for e in evaluations),
        )
        today: date = now.astimezone(tz).date()
        reminders = [
            ReminderRead(
                kind=str(r.kind),
                item=r.item,
                due_on=r.due_on,
                overdue_after=r.overdue_after,
                status=str(r.status),
                overdue=r.status == "overdue",
            )
            for r in course_reminders(plan, records, today)
        ]
    timepoints = (
        [Timepoint(t) for t in course.protocol.outcomes.schedule] if course.protocol else []
    )
    schedule = []
    for tp in timepoints:
        at_tp = [s for s in course.scales if s.timepoint == tp.value]
        madrs = [s.total for s in at_tp if s.scale_id == MADRS]
        phq9 = [s.total for s in at_tp if s.scale_id == PHQ9]
        schedule.append(
            TimepointScores(
                timepoint=tp.value,
                madrs=madrs[-1] if madrs else None,
                phq9=phq9[-1] if phq9 else None,
            )
        )
    return CourseRead(
        patient_id=patient_id,
        planned_infusions=course.planned_infusions,
        induction_sessions=[_session(r) for r in course.induction],
        maintenance_sessions=[_session(r) for r in course.maintenance],
        scales=course.scales,
        schedule=schedule,
        outcomes=outcomes,
        reminders=reminders,
        liver_tests=[LiverTestRead.model_validate(t, from_attributes=True) for t in liver],
        evaluations=[EvaluationRead.model_validate(e, from_attributes=True) for e in evaluations],
    )
