"""Clinic report data (issue 11 point 6): gathers the period's sessions and courses and runs
the pure report (`app.registry.domain.report`). The report page itself is the web's."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.registry.domain import OutcomeStatus
from app.registry.domain.report import ClinicReport, ReportCourse, ReportSession, clinic_report
from app.registry.service.course import course_view_for
from app.registry.service.session_data import SessionData, session_data
from app.sessions import service as sessions_service


def report_session(data: SessionData, tz: ZoneInfo) -> ReportSession:
    read, t = data.read, data.times
    seconds = 0.0
    if t is not None and t.infusion_started_at is not None and t.infusion_ended_at is not None:
        seconds = (t.infusion_ended_at - t.infusion_started_at).total_seconds()
    return ReportSession(
        scheduled_on=read.scheduled_for.astimezone(tz).date(),
        cancelled=read.state == "cancelled",
        started=t is not None and t.infusion_started_at is not None,
        completed=any(h.event == "complete" for h in read.history),
        infusion_seconds=seconds,
        alarm_rules=tuple(a.rule_id for a in data.alarms),
        adverse_event_grades=tuple(a.grade for a in data.adverse_events),
        serious_adverse_events=sum(1 for a in data.adverse_events if a.serious),
    )


async def clinic_report_data(
    db: AsyncSession,
    *,
    clinic_id: uuid.UUID,
    first_day: date | None,
    last_day: date | None,
    now: datetime,
    tz: ZoneInfo,
) -> ClinicReport:
    """The report over the sessions booked in [first_day, last_day] (clinic days) and the
    courses of their patients (outcomes as of `now`)."""
    start = None if first_day is None else datetime.combine(first_day, time(0), tz)
    end = None if last_day is None else datetime.combine(last_day + timedelta(days=1), time(0), tz)
    ids = await sessions_service.session_ids(
        db, clinic_id=clinic_id, scheduled_from=start, scheduled_before=end
    )
    sessions = [await session_data(db, clinic_id=clinic_id, session_id=i, now=now) for i in ids]
    courses = []
    for pid in dict.fromkeys(d.read.patient_id for d in sessions):
        view = await course_view_for(db, clinic_id=clinic_id, patient_id=pid, now=now, tz=tz)
        if view.outcomes is not None:
            o = view.outcomes
            courses.append(
                ReportCourse(
                    OutcomeStatus(o.madrs_response.status),
                    OutcomeStatus(o.madrs_remission.status),
                    OutcomeStatus(o.phq9_remission.status),
                )
            )
    return clinic_report([report_session(d, tz) for d in sessions], courses)
