"""Clinic report numbers (issue 11 point 6): sessions per week, completion rate,
response/remission rates, alarms per 100 infusion-hours by rule, adverse events by grade.

Pure: per-session and per-course facts come in, counts and rates go out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from app.registry.domain.events import CTCAE_GRADES
from app.registry.domain.outcomes import OutcomeStatus

PER_HOURS = 100


@dataclass(frozen=True, slots=True)
class ReportSession:
    """One session of the period: booked day (clinic), whether the infusion started and ran
    to the ordered dose (`complete`), its infusion time, alarm rules raised, AE grades."""

    scheduled_on: date
    cancelled: bool
    started: bool
    completed: bool
    infusion_seconds: float
    alarm_rules: tuple[str, ...] = ()
    adverse_event_grades: tuple[int, ...] = ()
    serious_adverse_events: int = 0


@dataclass(frozen=True, slots=True)
class ReportCourse:
    """The outcome statuses of one patient's course."""

    madrs_response: OutcomeStatus
    madrs_remission: OutcomeStatus
    phq9_remission: OutcomeStatus


@dataclass(frozen=True, slots=True)
class WeekCount:
    """Sessions booked in the ISO week starting `week_start` (Monday)."""

    week_start: date
    booked: int
    started: int
    completed: int
    cancelled: int


@dataclass(frozen=True, slots=True)
class Rate:
    """`met` of `computable` (courses with NOT_COMPUTABLE left out and counted apart)."""

    met: int
    computable: int
    not_computable: int
    pct: Decimal | None


@dataclass(frozen=True, slots=True)
class AlarmRate:
    rule_id: str
    count: int
    per_100_infusion_hours: Decimal | None


@dataclass(frozen=True, slots=True)
class ClinicReport:
    weeks: tuple[WeekCount, ...]
    sessions_started: int
    sessions_completed: int
    completion_pct: Decimal | None
    infusion_hours: Decimal
    madrs_response: Rate
    madrs_remission: Rate
    phq9_remission: Rate
    alarms: tuple[AlarmRate, ...]
    adverse_events_by_grade: dict[int, int]
    serious_adverse_events: int


def pct(part: int, whole: int) -> Decimal | None:
    """part / whole × 100, one decimal (half up); None when whole is 0."""
    if whole == 0:
        return None
    return (Decimal(part) * 100 / whole).quantize(Decimal("0.1"), ROUND_HALF_UP)


def _rate(statuses: list[OutcomeStatus]) -> Rate:
    met = sum(1 for s in statuses if s is OutcomeStatus.MET)
    not_computable = sum(1 for s in statuses if s is OutcomeStatus.NOT_COMPUTABLE)
    computable = len(statuses) - not_computable
    return Rate(met, computable, not_computable, pct(met, computable))


def clinic_report(
    sessions: Iterable[ReportSession], courses: Iterable[ReportCourse]
) -> ClinicReport:
    """The report numbers.

    Rules (issue 11 point 6; definitions [INFERENCE], stated in the README): weeks are ISO
    weeks (Monday) of the booked day; completion = sessions run to the ordered dose / sessions
    started; response and remission rates = courses MET / courses computable (protocol
    `[scales]` definitions via `course_outcomes`); alarm rate per rule = alarms × 100 /
    infusion-hours (start to end of infusion, summed over the sessions); adverse events per
    CTCAE grade 1-5.
    """
    listed, course_list = list(sessions), list(courses)
    weeks: dict[date, list[ReportSession]] = {}
    for s in listed:
        monday = s.scheduled_on - timedelta(days=s.scheduled_on.weekday())
        weeks.setdefault(monday, []).append(s)
    started = [s for s in listed if s.started]
    completed = sum(1 for s in started if s.completed)
    seconds = sum(s.infusion_seconds for s in listed)
    hours = Decimal(seconds) / 3600
    rules = Counter(rule for s in listed for rule in s.alarm_rules)
    grades = Counter(g for s in listed for g in s.adverse_event_grades)
    return ClinicReport(
        weeks=tuple(
            WeekCount(
                week_start=monday,
                booked=len(group),
                started=sum(1 for s in group if s.started),
                completed=sum(1 for s in group if s.completed),
                cancelled=sum(1 for s in group if s.cancelled),
            )
            for monday, group in sorted(weeks.items())
        ),
        sessions_started=len(started),
        sessions_completed=completed,
        completion_pct=pct(completed, len(started)),
        infusion_hours=hours.quantize(Decimal("0.01"), ROUND_HALF_UP),
        madrs_response=_rate([c.madrs_response for c in course_list]),
        madrs_remission=_rate([c.madrs_remission for c in course_list]),
        phq9_remission=_rate([c.phq9_remission for c in course_list]),
        alarms=tuple(
            AlarmRate(
                rule,
                count,
                None
                if seconds <= 0
                else (Decimal(count) * PER_HOURS / hours).quantize(Decimal("0.1"), ROUND_HALF_UP),
            )
            for rule, count in sorted(rules.items())
        ),
        adverse_events_by_grade={g: grades.get(g, 0) for g in CTCAE_GRADES},
        serious_adverse_events=sum(s.serious_adverse_events for s in listed),
    )
