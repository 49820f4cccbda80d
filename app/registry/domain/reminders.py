"""Course reminders: due and overdue scales, liver tests and psychologist evaluations
(issue 11 points 2-3, DESIGN §10, clinical.md §6).

Pure: the course, what was recorded and `today` come in; the list of reminders goes out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from app.registry.domain.outcomes import MADRS, PHQ9, CourseScaleScore, Timepoint

FOLLOW_UP_WEEKS = 4


class ReminderKind(StrEnum):
    """What a reminder asks for."""

    SCALE = "scale"
    LIVER_TEST = "liver_test"
    EVALUATION = "evaluation"


class EvaluationPoint(StrEnum):
    """Psychologist evaluations of a course (clinic article; issue 11 point 2)."""

    MID_COURSE = "mid_course"
    FINAL = "final"


class ReminderStatus(StrEnum):
    """DUE: due today or earlier, still within the grace days; OVERDUE: past them."""

    DUE = "due"
    OVERDUE = "overdue"


@dataclass(frozen=True, slots=True)
class Reminder:
    """Something due for a course: `item` names it (`madrs:after_infusion_3`, `liver_test`,
    `evaluation:mid_course`); `due_on` the day it falls due; overdue after `overdue_after`."""

    kind: ReminderKind
    item: str
    due_on: date
    overdue_after: date
    status: ReminderStatus


@dataclass(frozen=True, slots=True)
class CoursePlan:
    """The course as reminders need it.

    `infusion_dates` are the days infusions were given (the first is the course start);
    `schedule` is the protocol `[scales] schedule`; `scales` the course scales (protocol
    `primary`, `self_report`); `planned_infusions` the protocol `[course] induction_infusions`;
    `liver_test_interval_days` None when the protocol sets no repeat interval (the shipped
    protocol has none: only "liver tests before start", `[screening.data_windows]`).
    """

    first_infusion_on: date
    infusion_dates: tuple[date, ...]
    planned_infusions: int
    schedule: tuple[Timepoint, ...]
    scales: tuple[str, ...] = (MADRS, PHQ9)
    liver_test_interval_days: int | None = None
    grace_days: int = 7


@dataclass(frozen=True, slots=True)
class CourseRecords:
    """What was recorded for the course: scales, liver-test dates and evaluations done."""

    scales: tuple[CourseScaleScore, ...] = ()
    liver_test_dates: tuple[date, ...] = ()
    evaluations: frozenset[EvaluationPoint] = frozenset()


def _nth_infusion(plan: CoursePlan, number: int) -> date | None:
    dates = sorted(plan.infusion_dates)
    return dates[number - 1] if 0 < number <= len(dates) else None


def scale_due_on(plan: CoursePlan, timepoint: Timepoint) -> date | None:
    """The day a scheduled course scale falls due, or None while it cannot be due yet.

    Rule (DESIGN §10, protocol `[scales] schedule`): `baseline` on the first infusion day (taken
    before it, no grace); `after_infusion_N` on the day of infusion N once given;
    `weeks_4_after` 4 weeks (28 days) after the last induction infusion (`planned_infusions`)
    once given; `other` is never scheduled.
    """
    if timepoint is Timepoint.BASELINE:
        return plan.first_infusion_on
    if timepoint is Timepoint.AFTER_INFUSION_3:
        return _nth_infusion(plan, 3)
    if timepoint is Timepoint.AFTER_INFUSION_6:
        return _nth_infusion(plan, 6)
    if timepoint is Timepoint.WEEKS_4_AFTER:
        last = _nth_infusion(plan, plan.planned_infusions)
        return None if last is None else last + timedelta(weeks=FOLLOW_UP_WEEKS)
    return None


def evaluation_due_on(plan: CoursePlan, point: EvaluationPoint) -> date | None:
    """The day a psychologist evaluation falls due, or None while it cannot be due yet.

    Rule (clinic article, issue 11 point 2; [INFERENCE] for the exact day): mid-course on the
    day of infusion ⌈planned / 2⌉ (3 of 6); final on the day of the last planned infusion.
    """
    number = (
        (plan.planned_infusions + 1) // 2
        if point is EvaluationPoint.MID_COURSE
        else plan.planned_infusions
    )
    return _nth_infusion(plan, number)


def liver_test_due_on(plan: CoursePlan, liver_test_dates: Iterable[date]) -> date | None:
    """The day the next liver test falls due, or None if none is due.

    Rule (clinical.md §2.3 [S45][S50], §6 [S14][S33]; issue 11 point 2): one before the course,
    due on the first infusion day unless a test on or before that day exists; then, if the
    protocol sets `liver_test_interval_days`, the latest test + interval, while the course runs
    (fewer infusions than planned, or the due day on or before the last infusion).
    """
    tests = sorted(liver_test_dates)
    if not any(d <= plan.first_infusion_on for d in tests):
        return plan.first_infusion_on
    if plan.liver_test_interval_days is None:
        return None
    next_due = tests[-1] + timedelta(days=plan.liver_test_interval_days)
    running = len(plan.infusion_dates) < plan.planned_infusions
    if running or next_due <= max(plan.infusion_dates, default=plan.first_infusion_on):
        return next_due
    return None


def _reminder(
    kind: ReminderKind, item: str, due_on: date | None, grace_days: int, today: date
) -> Reminder | None:
    if due_on is None or due_on > today:
        return None
    overdue_after = due_on + timedelta(days=grace_days)
    status = ReminderStatus.OVERDUE if today > overdue_after else ReminderStatus.DUE
    return Reminder(kind, item, due_on, overdue_after, status)


def course_reminders(plan: CoursePlan, records: CourseRecords, today: date) -> tuple[Reminder, ...]:
    """What is due or overdue for a course on `today`, oldest first.

    Rule (issue 11 point 3; DESIGN §10): each scheduled scale of each course scale (MADRS,
    PHQ-9) not yet recorded at its timepoint, the next liver test (`liver_test_due_on`) and each
    psychologist evaluation not yet recorded are listed from their due day. They are DUE until
    `grace_days` (default 7, SITE CHOICE [INFERENCE]) after that day and OVERDUE afterwards;
    the baseline scales and the pre-course liver test have no grace (they belong before the
    first infusion), so they are overdue from the day after it.
    """
    recorded = {(s.scale_id, s.timepoint) for s in records.scales}
    found: list[Reminder | None] = []
    for timepoint in plan.schedule:
        grace = 0 if timepoint is Timepoint.BASELINE else plan.grace_days
        due_on = scale_due_on(plan, timepoint)
        for scale in plan.scales:
            if (scale, timepoint) not in recorded:
                item = f"{scale}:{timepoint.value}"
                found.append(_reminder(ReminderKind.SCALE, item, due_on, grace, today))
    liver_due = liver_test_due_on(plan, records.liver_test_dates)
    before_start = not any(d <= plan.first_infusion_on for d in records.liver_test_dates)
    liver_grace = 0 if before_start else plan.grace_days
    found.append(_reminder(ReminderKind.LIVER_TEST, "liver_test", liver_due, liver_grace, today))
    for point in EvaluationPoint:
        if point not in records.evaluations:
            due_on = evaluation_due_on(plan, point)
            item = f"evaluation:{point.value}"
            found.append(_reminder(ReminderKind.EVALUATION, item, due_on, plan.grace_days, today))
    return tuple(sorted((r for r in found if r is not None), key=lambda r: (r.due_on, r.item)))
