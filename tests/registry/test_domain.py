"""Pure registry rules: outcomes, reminders, session summary (issue 11)."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.protocols.domain import Metric, OutcomeDefinitions, Priority
from app.registry.domain import (
    AlarmRaised,
    CoursePlan,
    CourseRecords,
    CourseScaleScore,
    EvaluationPoint,
    OutcomeStatus,
    ReminderStatus,
    SessionTimes,
    SummaryReading,
    Timepoint,
    bp_nearest,
    course_outcomes,
    course_reminders,
    is_response,
    madrs_remission,
    madrs_response,
    phq9_remission,
    summarize_session,
    whole_minutes,
)
from app.registry.domain.summary import BloodPressure
from app.scales.domain import ScaleScore

DEFS = OutcomeDefinitions(
    primary_scale="madrs",
    self_report_scale="phq9",
    schedule=("baseline", "after_infusion_3", "after_infusion_6", "weeks_4_after"),
    response_improvement_pct=50,
    remission_madrs_max=10,
    remission_phq9_below=5,
    mania_ymrs_flag_above=12,
)
SCHEDULE = tuple(Timepoint(name) for name in DEFS.schedule)
PROTOCOL_FILE = Path(__file__).resolve().parents[2] / "protocols" / "ketamine-iv-0.5mgkg-40min.toml"


def test_defaults_and_timepoints_match_the_protocol_file():
    scales = tomllib.loads(PROTOCOL_FILE.read_text())["scales"]
    assert tuple(Timepoint(name) for name in scales["schedule"]) == SCHEDULE
    assert scales["response_improvement_pct"] == DEFS.response_improvement_pct
    assert scales["remission_madrs_max"] == DEFS.remission_madrs_max
    assert scales["remission_phq9_below"] == DEFS.remission_phq9_below


D0 = date(2026, 3, 2)


def s(scale: str, on: date, total: int, tp: Timepoint) -> CourseScaleScore:
    return CourseScaleScore(ScaleScore(scale, (), total, None), on, tp)


def madrs(on: date, total: int, tp: Timepoint) -> CourseScaleScore:
    return s("madrs", on, total, tp)


# Outcomes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("baseline", "total", "pct", "expected"),
    [
        (30, 15, 50, True),  # exactly 50 %
        (31, 15, 50, True),  # 51.6 %
        (31, 16, 50, False),  # 48.4 %
        (33, 17, 50, False),  # 48.48 %: float-prone edge
        (33, 16, 50, True),
        (10, 5, 50, True),
        (30, 0, 50, True),
        (30, 35, 50, False),  # worsening
        (40, 26, 35, True),  # protocol percentage 35 %
    ],
)
def test_is_response(baseline: int, total: int, pct: int, expected: bool):
    assert is_response(baseline, total, pct) is expected


def test_is_response_refuses_zero_baseline():
    with pytest.raises(ValueError, match="positive"):
        is_response(0, 0, 50)


@pytest.mark.parametrize(
    ("scores", "status", "first_met_on", "reason_part"),
    [
        ([], OutcomeStatus.NOT_COMPUTABLE, None, "no baseline MADRS"),
        (
            [madrs(D0 + timedelta(7), 10, Timepoint.AFTER_INFUSION_3)],
            OutcomeStatus.NOT_COMPUTABLE,
            None,
            "no baseline MADRS",
        ),
        ([madrs(D0, 0, Timepoint.BASELINE)], OutcomeStatus.NOT_COMPUTABLE, None, "is 0"),
        ([madrs(D0, 30, Timepoint.BASELINE)], OutcomeStatus.NOT_MET, None, "no score after"),
        (
            [madrs(D0, 30, Timepoint.BASELINE), madrs(D0 + timedelta(7), 15, Timepoint.OTHER)],
            OutcomeStatus.MET,
            D0 + timedelta(7),
            "met on",
        ),
        (
            [
                madrs(D0, 30, Timepoint.BASELINE),
                madrs(D0 + timedelta(7), 16, Timepoint.AFTER_INFUSION_3),
            ],
            OutcomeStatus.NOT_MET,
            None,
            "not met",
        ),
        (  # a score dated before the baseline does not count
            [
                madrs(D0 - timedelta(3), 5, Timepoint.OTHER),
                madrs(D0, 30, Timepoint.BASELINE),
            ],
            OutcomeStatus.NOT_MET,
            None,
            "no score after",
        ),
        (  # PHQ-9 scores do not count for MADRS
            [madrs(D0, 30, Timepoint.BASELINE), s("phq9", D0 + timedelta(7), 2, Timepoint.OTHER)],
            OutcomeStatus.NOT_MET,
            None,
            "no score after",
        ),
    ],
)
def test_madrs_response(scores, status, first_met_on, reason_part):
    result = madrs_response(scores, DEFS)
    assert (result.status, result.first_met_on) == (status, first_met_on)
    assert reason_part in result.reason


@pytest.mark.parametrize(
    ("scores", "status", "first_met_on"),
    [
        ([madrs(D0 + timedelta(7), 5, Timepoint.OTHER)], OutcomeStatus.NOT_COMPUTABLE, None),
        ([madrs(D0, 8, Timepoint.BASELINE)], OutcomeStatus.NOT_MET, None),
        (
            [madrs(D0, 30, Timepoint.BASELINE), madrs(D0 + timedelta(9), 10, Timepoint.OTHER)],
            OutcomeStatus.MET,
            D0 + timedelta(9),
        ),
        (
            [madrs(D0, 30, Timepoint.BASELINE), madrs(D0 + timedelta(9), 11, Timepoint.OTHER)],
            OutcomeStatus.NOT_MET,
            None,
        ),
    ],
)
def test_madrs_remission(scores, status, first_met_on):
    result = madrs_remission(scores, DEFS)
    assert (result.status, result.first_met_on) == (status, first_met_on)


def test_madrs_remission_uses_protocol_threshold():
    defs = OutcomeDefinitions("madrs", "phq9", DEFS.schedule, 50, 12, 5, 12)
    scores = [madrs(D0, 30, Timepoint.BASELINE), madrs(D0 + timedelta(9), 12, Timepoint.OTHER)]
    assert madrs_remission(scores, defs).first_met_on == D0 + timedelta(9)


@pytest.mark.parametrize(
    ("scores", "status", "first_met_on", "reason_part"),
    [
        ([], OutcomeStatus.NOT_COMPUTABLE, None, "no baseline PHQ-9"),
        (
            [
                s("phq9", D0, 20, Timepoint.BASELINE),
                s("phq9", D0 + timedelta(5), 5, Timepoint.OTHER),
            ],
            OutcomeStatus.NOT_MET,
            None,
            "not met",
        ),
        (
            [
                s("phq9", D0, 20, Timepoint.BASELINE),
                s("phq9", D0 + timedelta(5), 4, Timepoint.OTHER),
            ],
            OutcomeStatus.MET,
            D0 + timedelta(5),
            "met on",
        ),
    ],
)
def test_phq9_remission(scores, status, first_met_on, reason_part):
    result = phq9_remission(scores, DEFS)
    assert (result.status, result.first_met_on) == (status, first_met_on)
    assert reason_part in result.reason


def six_infusion_dates() -> tuple[date, ...]:
    # Mon/Thu over three weeks, 2 a week (protocol [course])
    return tuple(D0 + timedelta(days) for days in (0, 3, 7, 10, 14, 17))


def test_six_infusion_course_response_and_remission_dates():
    inf = six_infusion_dates()
    scores = [
        madrs(D0 - timedelta(1), 32, Timepoint.BASELINE),
        s("phq9", D0 - timedelta(1), 19, Timepoint.BASELINE),
        madrs(inf[2], 20, Timepoint.AFTER_INFUSION_3),  # 37.5 %: no response
        s("phq9", inf[2], 12, Timepoint.AFTER_INFUSION_3),
        madrs(inf[5], 16, Timepoint.AFTER_INFUSION_6),  # exactly 50 %: response
        s("phq9", inf[5], 6, Timepoint.AFTER_INFUSION_6),
        madrs(inf[5] + timedelta(28), 9, Timepoint.WEEKS_4_AFTER),  # ≤ 10: remission
        s("phq9", inf[5] + timedelta(28), 4, Timepoint.WEEKS_4_AFTER),
    ]
    outcomes = course_outcomes(scores, DEFS)
    assert outcomes.madrs_response.status is OutcomeStatus.MET
    assert outcomes.madrs_response.first_met_on == inf[5]
    assert outcomes.madrs_remission.first_met_on == inf[5] + timedelta(28)
    assert outcomes.phq9_remission.first_met_on == inf[5] + timedelta(28)


timepoints = st.sampled_from(list(Timepoint))
score_lists = st.lists(
    st.builds(
        madrs,
        st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 1, 1)),
        st.integers(min_value=0, max_value=60),
        timepoints,
    ),
    max_size=12,
)


@given(score_lists)
def test_response_and_remission_never_before_baseline(scores):
    baselines = [x.taken_on for x in scores if x.timepoint is Timepoint.BASELINE]
    for result in (madrs_response(scores, DEFS), madrs_remission(scores, DEFS)):
        if result.status is OutcomeStatus.MET:
            assert result.first_met_on is not None
            assert result.first_met_on >= max(baselines)
        else:
            assert result.first_met_on is None


# Reminders ----------------------------------------------------------------------------------


def plan(infusions: tuple[date, ...], **kwargs) -> CoursePlan:
    return CoursePlan(
        first_infusion_on=D0,
        infusion_dates=infusions,
        planned_infusions=6,
        schedule=SCHEDULE,
        **kwargs,
    )


ALL_BASELINE = (
    madrs(D0 - timedelta(1), 30, Timepoint.BASELINE),
    s("phq9", D0 - timedelta(1), 18, Timepoint.BASELINE),
)


def items(reminders) -> dict[str, ReminderStatus]:
    return {r.item: r.status for r in reminders}


@pytest.mark.parametrize(
    ("infusions", "records", "today", "expected"),
    [
        (  # before the course: nothing due yet
            (),
            CourseRecords(),
            D0 - timedelta(1),
            {},
        ),
        (  # day of the first infusion: baseline scales and the liver test due
            (D0,),
            CourseRecords(),
            D0,
            {
                "madrs:baseline": ReminderStatus.DUE,
                "phq9:baseline": ReminderStatus.DUE,
                "liver_test": ReminderStatus.DUE,
            },
        ),
        (  # day after the first infusion without baseline: overdue
            (D0,),
            CourseRecords(liver_test_dates=(D0 - timedelta(10),)),
            D0 + timedelta(1),
            {"madrs:baseline": ReminderStatus.OVERDUE, "phq9:baseline": ReminderStatus.OVERDUE},
        ),
        (  # infusion 3 given: after_3 scales and mid-course evaluation due
            six_infusion_dates()[:3],
            CourseRecords(ALL_BASELINE, (D0 - timedelta(10),)),
            D0 + timedelta(8),
            {
                "madrs:after_infusion_3": ReminderStatus.DUE,
                "phq9:after_infusion_3": ReminderStatus.DUE,
                "evaluation:mid_course": ReminderStatus.DUE,
            },
        ),
        (  # missed mid-course evaluation shows as overdue
            six_infusion_dates()[:5],
            CourseRecords(
                (
                    *ALL_BASELINE,
                    madrs(D0 + timedelta(7), 20, Timepoint.AFTER_INFUSION_3),
                    s("phq9", D0 + timedelta(7), 12, Timepoint.AFTER_INFUSION_3),
                ),
                (D0 - timedelta(10),),
            ),
            D0 + timedelta(15),
            {"evaluation:mid_course": ReminderStatus.OVERDUE},
        ),
        (  # course done: after_6 and final evaluation, then the 4-week follow-up
            six_infusion_dates(),
            CourseRecords(
                (
                    *ALL_BASELINE,
                    madrs(D0 + timedelta(7), 20, Timepoint.AFTER_INFUSION_3),
                    s("phq9", D0 + timedelta(7), 12, Timepoint.AFTER_INFUSION_3),
                    madrs(D0 + timedelta(17), 15, Timepoint.AFTER_INFUSION_6),
                    s("phq9", D0 + timedelta(17), 8, Timepoint.AFTER_INFUSION_6),
                ),
                (D0 - timedelta(10),),
                frozenset({EvaluationPoint.MID_COURSE}),
            ),
            D0 + timedelta(17 + 28),
            {
                "evaluation:final": ReminderStatus.OVERDUE,
                "madrs:weeks_4_after": ReminderStatus.DUE,
                "phq9:weeks_4_after": ReminderStatus.DUE,
            },
        ),
    ],
)
def test_course_reminders(infusions, records, today, expected):
    assert items(course_reminders(plan(infusions), records, today)) == expected


@pytest.mark.parametrize(
    ("infusions", "tests", "today", "expected"),
    [
        (3, (D0 - timedelta(5),), D0 + timedelta(8), {}),
        (3, (D0 - timedelta(5),), D0 + timedelta(9), {"liver_test": ReminderStatus.DUE}),
        (3, (D0 - timedelta(5),), D0 + timedelta(17), {"liver_test": ReminderStatus.OVERDUE}),
        (3, (D0 - timedelta(5), D0 + timedelta(9)), D0 + timedelta(10), {}),
        (
            3,
            (D0 - timedelta(5), D0 + timedelta(9)),
            D0 + timedelta(23),
            {"liver_test": ReminderStatus.DUE},
        ),
        # course complete and the next interval falls after the last infusion: nothing due
        (6, (D0 - timedelta(5), D0 + timedelta(9)), D0 + timedelta(30), {}),
    ],
)
def test_liver_test_at_protocol_interval(infusions, tests, today, expected):
    course = plan(six_infusion_dates()[:infusions], liver_test_interval_days=14)
    records = CourseRecords(ALL_BASELINE, tests, frozenset(EvaluationPoint))
    found = items(course_reminders(course, records, today))
    assert {k: v for k, v in found.items() if k == "liver_test"} == expected


def test_no_liver_interval_means_only_the_pre_course_test():
    records = CourseRecords(ALL_BASELINE, (D0 - timedelta(5),), frozenset(EvaluationPoint))
    reminders = course_reminders(plan(six_infusion_dates()[:3]), records, D0 + timedelta(200))
    assert "liver_test" not in items(reminders)


# Session summary ----------------------------------------------------------------------------

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def bp(minutes: float, sbp: float, dbp: float, *, excluded: bool = False) -> list[SummaryReading]:
    return [
        SummaryReading(Metric.SBP, sbp, at(minutes), excluded),
        SummaryReading(Metric.DBP, dbp, at(minutes), excluded),
    ]


TIMES = SessionTimes(
    checked_in_at=at(-20),
    infusion_started_at=at(0),
    infusion_ended_at=at(40),
    discharged_at=at(105.5),
)


def test_session_summary_numbers():
    readings = [
        *bp(-15, 130, 80),
        *bp(-3, 128, 78),
        *bp(10, 150, 90),
        *bp(20, 190, 100, excluded=True),  # artefact: left out
        *bp(38, 145, 88),
        *bp(44, 142, 86),
        SummaryReading(Metric.SPO2, 97, at(5)),
        SummaryReading(Metric.SPO2, 91, at(15)),
        SummaryReading(Metric.SPO2, 60, at(16), excluded=True),
    ]
    alarms = [AlarmRaised(Priority.HIGH, at(15)), AlarmRaised(Priority.MEDIUM, at(16))]
    summary = summarize_session(TIMES, readings, alarms)
    assert summary.bp_pre is not None
    assert (summary.bp_pre.sbp_mmhg, summary.bp_pre.dbp_mmhg) == (128, 78)
    assert summary.bp_40_min is not None
    assert summary.bp_40_min.observed_at == at(38)
    assert summary.bp_end is not None
    assert summary.bp_end.observed_at == at(38)
    assert summary.min_spo2_pct == 91
    assert summary.max_sbp_mmhg == 150
    assert summary.alarm_counts == {Priority.LOW: 0, Priority.MEDIUM: 1, Priority.HIGH: 1}
    assert summary.monitoring_minutes == 125
    assert summary.ready_to_leave_minutes == 65


def test_session_summary_without_infusion_or_readings():
    times = SessionTimes(at(0), None, None, None)
    summary = summarize_session(times, [], [])
    assert (summary.bp_pre, summary.bp_40_min, summary.bp_end) == (None, None, None)
    assert (summary.min_spo2_pct, summary.max_sbp_mmhg) == (None, None)
    assert (summary.monitoring_minutes, summary.ready_to_leave_minutes) == (None, None)


@pytest.mark.parametrize(
    ("observed", "expected"),
    [
        ((35, 46), 35),  # nearest is 5 min before, within tolerance
        ((34, 46), None),  # both 6 min away: outside ±5
        ((38, 42), 38),  # tie → earlier
        ((40,), 40),
        ((45.5,), None),
    ],
)
def test_bp_nearest_40_min(observed, expected):
    pressures = [BloodPressure(120, 80, at(m)) for m in observed]
    found = bp_nearest(pressures, at(40), timedelta(minutes=5))
    assert (None if found is None else found.observed_at) == (
        None if expected is None else at(expected)
    )


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [(at(0), at(59.99), 59), (at(0), at(120), 120), (None, at(1), None), (at(0), None, None)],
)
def test_whole_minutes(start, end, expected):
    assert whole_minutes(start, end) == expected


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2026, 3, 2, 9, 0), at(10)),  # noqa: DTZ001  naive refused
        (at(10), at(0)),  # reversed
    ],
)
def test_whole_minutes_refuses(start, end):
    with pytest.raises(ValueError):  # noqa: PT011
        whole_minutes(start, end)


def test_minutes_across_timezones():
    oslo = datetime(2026, 3, 2, 10, 30, tzinfo=timezone(timedelta(hours=1)))
    assert whole_minutes(at(0), oslo) == 30


reading_lists = st.lists(
    st.builds(
        SummaryReading,
        st.sampled_from([Metric.SBP, Metric.SPO2, Metric.HR]),
        st.floats(min_value=30, max_value=250, allow_nan=False),
        st.integers(min_value=-30, max_value=120).map(at),
        st.booleans(),
    ),
    max_size=30,
)


@given(reading_lists)
def test_summary_extremes_are_over_non_excluded_readings(readings):
    summary = summarize_session(TIMES, readings, [])
    kept = [r for r in readings if not r.excluded]
    spo2 = [r.value for r in kept if r.metric is Metric.SPO2]
    sbp = [r.value for r in kept if r.metric is Metric.SBP]
    assert summary.min_spo2_pct == (min(spo2) if spo2 else None)
    assert summary.max_sbp_mmhg == (max(sbp) if sbp else None)
