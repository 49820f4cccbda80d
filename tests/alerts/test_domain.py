"""Pure alarm evaluation (issue 7 points 2-5): table-driven timelines plus hypothesis properties.

Timelines are (seconds after T0, value) pairs of device time. Default rules come from the real
protocol file; hand-built `AlarmRule`s cover max gap, hysteresis margin and clear time edges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.alerts.domain import (
    Acknowledged,
    Action,
    AlarmState,
    Clear,
    ConditionEnded,
    Decision,
    Direction,
    EpisodeKey,
    MarkLate,
    Raise,
    RaisePriority,
    ReadingPoint,
    UnknownAlarm,
    acknowledge,
    episode_key,
    evaluate,
    heart_rate_source,
)
from app.protocols.domain.alarms import AlarmRule
from app.protocols.domain.common import Comparator, Metric, Phase, Priority
from app.protocols.file_schema import load_protocol_file, to_protocol_definition

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"
PROTOCOL = to_protocol_definition(
    load_protocol_file(PROTOCOLS / "ketamine-iv-0.5mgkg-40min.toml")[0]
)
ALL_RULES = PROTOCOL.alarms.rules
RULES = PROTOCOL.alarms.rules_for(Phase.INFUSING)
RULES_BY_ID = {rule.id: rule for rule in ALL_RULES}
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)  # server time, distinct from device time
SPO2_LOW = EpisodeKey(Metric.SPO2, Direction.LOW)
SBP_HIGH = EpisodeKey(Metric.SBP, Direction.HIGH)
SBP_LOW = EpisodeKey(Metric.SBP, Direction.LOW)
HR_HIGH = EpisodeKey(Metric.HR, Direction.HIGH)
RR_LOW = EpisodeKey(Metric.RR, Direction.LOW)

Timeline = Sequence[tuple[float, float]]


def t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def points(metric: Metric, timeline: Timeline, tag: str = "") -> list[ReadingPoint]:
    return [
        ReadingPoint(metric, value, t(s), f"{metric.value}{tag}@{s:g}") for s, value in timeline
    ]


def run(s: float, e: float, value: float, step: float = 1) -> Timeline:
    """Readings every `step` s from `s` to `e` inclusive, all with `value`."""
    n = round((e - s) / step)
    return [(s + i * step, value) for i in range(n + 1)]


def summary(actions: tuple[Action, ...]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for a in actions:
        if isinstance(a, Raise):
            out.append(("raise", a.rule_id, (a.observed_at - T0).total_seconds(), a.late))
        elif isinstance(a, RaisePriority):
            out.append(("rise", a.rule_id, (a.observed_at - T0).total_seconds(), a.late))
        elif isinstance(a, Clear):
            seconds = None if a.observed_at is None else (a.observed_at - T0).total_seconds()
            out.append(("clear", a.rule_id, seconds, a.acknowledged))
        elif isinstance(a, ConditionEnded):
            out.append(("ended", a.rule_id, (a.observed_at - T0).total_seconds()))
        elif isinstance(a, Acknowledged):
            out.append(("ack", a.rule_id))
        else:
            out.append(("late", a.reading_id))
    return out


def ev(
    state: AlarmState,
    readings: Sequence[ReadingPoint],
    *,
    rules: tuple[AlarmRule, ...] = RULES,
    baseline: dict[Metric, float] | None = None,
    phase: Phase = Phase.INFUSING,
    hr: Metric = Metric.HR,
) -> Decision:
    return evaluate(
        rules, state, readings, phase=phase, baseline=baseline or {}, now=NOW, heart_rate_metric=hr
    )


def feed(
    readings: list[ReadingPoint],
    *,
    rules: tuple[AlarmRule, ...] = RULES,
    state: AlarmState | None = None,
    baseline: dict[Metric, float] | None = None,
    phase: Phase = Phase.INFUSING,
    hr: Metric = Metric.HR,
) -> tuple[AlarmState, list[tuple[object, ...]]]:
    """Evaluate as one batch and reading by reading; both must agree (in-order readings)."""
    start = state if state is not None else AlarmState()
    batch = ev(start, readings, rules=rules, baseline=baseline, phase=phase, hr=hr)
    single: AlarmState = start
    actions: list[Action] = []
    for reading in sorted(readings, key=lambda r: (r.observed_at, r.metric.value)):
        step = ev(single, [reading], rules=rules, baseline=baseline, phase=phase, hr=hr)
        single, actions = step.state, [*actions, *step.actions]
    assert batch.state == single
    assert batch.actions == tuple(actions)
    return batch.state, summary(batch.actions)


def rule(**overrides: object) -> AlarmRule:
    """A hand-built continuous SpO2 < 92 rule; override any field."""
    fields: dict[str, object] = {
        "id": "edge",
        "phases": frozenset({Phase.INFUSING}),
        "metric": Metric.SPO2,
        "comparator": Comparator.LT,
        "priority": Priority.MEDIUM,
        "onset_delay_s": 10,
        "hysteresis_margin": 0.0,
        "clear_time_s": 0,
        "latching": False,
        "action": "check",
        "limit": 92.0,
        "max_gap_s": 5,
    }
    fields.update(overrides)
    return AlarmRule(**fields)  # type: ignore[arg-type]


class TestOnset:
    """Issue 7 point 2: onset delay on continuous metrics, max gap, single measurements."""

    @pytest.mark.parametrize(
        ("metric", "timeline", "expected"),
        [
            pytest.param(Metric.SPO2, run(0, 15, 91), [("raise", "spo2_low_medium", 15, False)], id="spo2-91-held-15s"),
            pytest.param(Metric.SPO2, run(0, 14, 91), [], id="spo2-91-held-14s"),
            pytest.param(Metric.SPO2, run(0, 15, 88), [("raise", "spo2_low_high", 15, False)], id="spo2-88-raises-high-only"),
            pytest.param(Metric.SPO2, [*run(0, 10, 91), (11, 95), *run(12, 27, 91)], [("raise", "spo2_low_medium", 27, False)], id="normal-reading-restarts"),
            pytest.param(Metric.SPO2, [*run(0, 4, 91, 2), *run(10, 25, 91)], [("raise", "spo2_low_medium", 25, False)], id="gap-6s-restarts"),
            pytest.param(Metric.SPO2, run(0, 15, 91, 5), [("raise", "spo2_low_medium", 15, False)], id="gap-5s-keeps"),
            pytest.param(Metric.SPO2, run(0, 20, 92), [], id="spo2-92-not-below-92"),
            pytest.param(Metric.HR, run(0, 10, 115), [("raise", "hr_high_medium", 10, False)], id="hr-115-10s"),
            pytest.param(Metric.HR, run(0, 9, 125), [], id="hr-125-9s"),
            pytest.param(Metric.HR, run(0, 10, 125), [("raise", "hr_high_high", 10, False)], id="hr-125-10s"),
            pytest.param(Metric.HR, run(0, 10, 45), [("raise", "hr_low_medium", 10, False)], id="hr-45-10s"),
            pytest.param(Metric.RR, run(0, 28, 9, 2), [], id="rr-9-28s"),
            pytest.param(Metric.RR, run(0, 30, 9, 2), [("raise", "rr_low_medium", 30, False)], id="rr-9-30s"),
            pytest.param(Metric.RR, run(0, 30, 7, 2), [("raise", "rr_low_high", 30, False)], id="rr-7-30s"),
            pytest.param(Metric.SBP, [(0, 165)], [("raise", "sbp_high_medium", 0, False)], id="sbp-165-single"),
            pytest.param(Metric.SBP, [(0, 185)], [("raise", "sbp_high_high", 0, False)], id="sbp-185-single"),
            pytest.param(Metric.SBP, [(0, 159)], [], id="sbp-159"),
            pytest.param(Metric.SBP, [(0, 85)], [("raise", "sbp_low_medium", 0, False)], id="sbp-85"),
            pytest.param(Metric.DBP, [(0, 112)], [("raise", "dbp_high_high", 0, False)], id="dbp-112"),
        ],
    )  # fmt: skip
    def test_default_rules(
        self, metric: Metric, timeline: Timeline, expected: list[object]
    ) -> None:
        _, actions = feed(points(metric, timeline))
        assert actions == expected

    @pytest.mark.parametrize(
        ("edge", "timeline", "expected"),
        [
            pytest.param(rule(onset_delay_s=0), [(0, 91)], [("raise", "edge", 0, False)], id="delay-0-first-reading"),
            pytest.param(rule(max_gap_s=2), [(0, 91), *run(3, 13, 91, 2)], [("raise", "edge", 13, False)], id="gap-3-over-2-restarts"),
            pytest.param(rule(max_gap_s=2), [(0, 91), *run(3, 11, 91, 2)], [], id="gap-restart-not-yet-10s"),
            pytest.param(rule(max_gap_s=10), [(0, 91), (10, 91)], [("raise", "edge", 10, False)], id="two-readings-10s-apart"),
            pytest.param(rule(comparator=Comparator.LE), run(0, 10, 92), [("raise", "edge", 10, False)], id="le-includes-limit"),
        ],
    )  # fmt: skip
    def test_edge_rules(self, edge: AlarmRule, timeline: Timeline, expected: list[object]) -> None:
        _, actions = feed(points(Metric.SPO2, timeline), rules=(edge,))
        assert actions == expected

    def test_raise_names_the_readings_that_held_the_condition(self) -> None:
        decision = evaluate(
            RULES, AlarmState(), points(Metric.SPO2, run(0, 15, 91)), phase=Phase.INFUSING, baseline={}, now=NOW
        )  # fmt: skip
        (raised,) = decision.actions
        assert isinstance(raised, Raise)
        assert raised.reading_ids == tuple(f"spo2@{s}" for s in range(16))
        assert raised.limit == 92
        assert raised.priority is Priority.MEDIUM
        assert raised.raised_at == NOW
        assert decision.state.alarm(SPO2_LOW) is not None

    def test_relative_rule_uses_the_frozen_baseline(self) -> None:
        _, actions = feed(points(Metric.SBP, [(0, 155)]), baseline={Metric.SBP: 110})
        assert actions == [("raise", "sbp_rise_from_baseline", 0, False)]

    def test_relative_rule_without_baseline_is_skipped(self) -> None:
        _, actions = feed(points(Metric.SBP, [(0, 155)]))
        assert actions == []

    def test_no_bp_threshold_alarms_at_check_in(self) -> None:
        _, actions = feed(points(Metric.SBP, [(0, 185)]), rules=ALL_RULES, phase=Phase.CHECKED_IN)
        assert actions == []

    def test_spo2_rules_apply_at_check_in(self) -> None:
        _, actions = feed(points(Metric.SPO2, run(0, 15, 91)), rules=ALL_RULES, phase=Phase.CHECKED_IN)  # fmt: skip
        assert actions == [("raise", "spo2_low_medium", 15, False)]


class TestHeartRateSource:
    """Heart-rate rules read `hr`, or `pr` when the session has no `hr` (DESIGN §7)."""

    @pytest.mark.parametrize(
        ("present", "expected"),
        [
            ([Metric.HR, Metric.PR, Metric.SPO2], Metric.HR),
            ([Metric.PR, Metric.SPO2], Metric.PR),
            ([Metric.SPO2], Metric.HR),
            ([], Metric.HR),
        ],
    )
    def test_source_choice(self, present: list[Metric], expected: Metric) -> None:
        assert heart_rate_source(present, PROTOCOL.alarms.heart_rate_sources) is expected

    def test_pr_drives_hr_rules_when_selected(self) -> None:
        _, actions = feed(points(Metric.PR, run(0, 10, 125)), hr=Metric.PR)
        assert actions == [("raise", "hr_high_high", 10, False)]

    def test_pr_ignored_while_hr_is_the_source(self) -> None:
        _, actions = feed(points(Metric.PR, run(0, 10, 125)))
        assert actions == []


class TestEpisodes:
    """Issue 7 point 3: one alarm per (metric, direction); priority only rises."""

    def test_medium_rises_to_high_then_never_drops(self) -> None:
        timeline = [*run(0, 15, 91), *run(16, 31, 88), *run(32, 60, 91)]
        state, actions = feed(points(Metric.SPO2, timeline))
        assert actions == [
            ("raise", "spo2_low_medium", 15, False),
            ("rise", "spo2_low_high", 31, False),
        ]
        alarm = state.alarm(SPO2_LOW)
        assert alarm is not None
        assert alarm.priority is Priority.HIGH

    def test_nibp_rise_and_clear_of_one_episode(self) -> None:
        timeline = [(0, 165), (120, 185), (240, 170), (360, 150)]
        _, actions = feed(points(Metric.SBP, timeline))
        assert actions == [
            ("raise", "sbp_high_medium", 0, False),
            ("rise", "sbp_high_high", 120, False),
            ("clear", "sbp_high_high", 360, False),
        ]

    def test_low_priority_baseline_rule_rises_into_the_same_episode(self) -> None:
        _, actions = feed(points(Metric.SBP, [(0, 155), (60, 165)]), baseline={Metric.SBP: 110})
        assert actions == [
            ("raise", "sbp_rise_from_baseline", 0, False),
            ("rise", "sbp_high_medium", 60, False),
        ]

    def test_low_and_high_directions_are_separate_episodes(self) -> None:
        state, actions = feed(points(Metric.SBP, [(0, 165), (60, 85)]))
        assert actions == [
            ("raise", "sbp_high_medium", 0, False),
            ("clear", "sbp_high_medium", 60, False),
            ("raise", "sbp_low_medium", 60, False),
        ]
        assert state.alarm(SBP_LOW) is not None
        assert state.alarm(SBP_HIGH) is None

    def test_persisting_condition_raises_only_once(self) -> None:
        _, actions = feed(points(Metric.SPO2, run(0, 120, 91)))
        assert actions == [("raise", "spo2_low_medium", 15, False)]

    def test_rise_needs_a_new_acknowledgement(self) -> None:
        state, _ = feed(points(Metric.SBP, [(0, 165)]))
        state = acknowledge(state, SBP_HIGH, NOW).state
        later = NOW + timedelta(minutes=1)
        decision = evaluate(
            RULES, state, points(Metric.SBP, [(60, 185)]), phase=Phase.INFUSING, baseline={}, now=later
        )  # fmt: skip
        assert summary(decision.actions) == [("rise", "sbp_high_high", 60, False)]
        alarm = decision.state.alarm(SBP_HIGH)
        assert alarm is not None
        assert not alarm.acknowledged
        assert (alarm.raised_at, alarm.priority_since) == (NOW, later)

    def test_episode_key_of_rules(self) -> None:
        assert episode_key(RULES_BY_ID["hr_low_high"]) == EpisodeKey(Metric.HR, Direction.LOW)
        assert episode_key(RULES_BY_ID["rr_high_medium"]) == EpisodeKey(Metric.RR, Direction.HIGH)


class TestClear:
    """Issue 7 point 4: hysteresis clear, clear time, latching and acknowledgement."""

    @pytest.mark.parametrize(
        ("after", "expected"),
        [
            pytest.param(run(16, 40, 92.5), [], id="inside-margin-never-clears"),
            pytest.param(run(16, 26, 93), [("clear", "spo2_low_medium", 26, False)], id="93-for-10s-clears"),
            pytest.param(run(16, 25, 93), [], id="93-for-9s-not-yet"),
            pytest.param([*run(16, 20, 93), (21, 92), *run(22, 32, 93)], [("clear", "spo2_low_medium", 32, False)], id="dip-restarts-clear-timer"),
            pytest.param([*run(16, 20, 93), *run(26, 36, 93)], [("clear", "spo2_low_medium", 36, False)], id="gap-restarts-clear-timer"),
        ],
    )  # fmt: skip
    def test_non_latching_spo2_medium(self, after: Timeline, expected: list[object]) -> None:
        _, actions = feed(points(Metric.SPO2, [*run(0, 15, 91), *after]))
        assert actions == [("raise", "spo2_low_medium", 15, False), *expected]

    @pytest.mark.parametrize(
        ("value", "clears"),
        [(156, False), (155, False), (154, True)],
    )
    def test_nibp_clears_on_one_reading_past_limit_minus_margin(
        self, value: float, clears: bool
    ) -> None:
        _, actions = feed(points(Metric.SBP, [(0, 165), (60, value)]))
        tail = [("clear", "sbp_high_medium", 60, False)] if clears else []
        assert actions == [("raise", "sbp_high_medium", 0, False), *tail]

    @pytest.mark.parametrize(
        ("edge", "after", "expected"),
        [
            pytest.param(rule(onset_delay_s=0, hysteresis_margin=2.0), [(1, 93)], [], id="margin-2-93-holds"),
            pytest.param(rule(onset_delay_s=0, hysteresis_margin=2.0), [(1, 94)], [("clear", "edge", 1, False)], id="margin-2-94-clears"),
            pytest.param(rule(onset_delay_s=0, clear_time_s=5), run(1, 6, 95), [("clear", "edge", 6, False)], id="clear-time-5"),
            pytest.param(rule(onset_delay_s=0, clear_time_s=5, max_gap_s=1), [(1, 95), (3, 95), (8, 95)], [], id="clear-gap-restarts"),
        ],
    )  # fmt: skip
    def test_edge_rules(self, edge: AlarmRule, after: Timeline, expected: list[object]) -> None:
        _, actions = feed(points(Metric.SPO2, [(0, 91), *after]), rules=(edge,))
        assert actions == [("raise", "edge", 0, False), *expected]

    def test_latching_high_stays_active_until_acknowledged(self) -> None:
        state, actions = feed(points(Metric.SPO2, [*run(0, 15, 88), *run(16, 60, 98)]))
        assert actions == [("raise", "spo2_low_high", 15, False), ("ended", "spo2_low_high", 26)]
        alarm = state.alarm(SPO2_LOW)
        assert alarm is not None
        assert alarm.latching
        assert not alarm.condition_present
        decision = acknowledge(state, SPO2_LOW, NOW)
        assert summary(decision.actions) == [("clear", "spo2_low_high", None, True)]
        assert decision.state.alarm(SPO2_LOW) is None

    def test_latching_acknowledged_while_present_clears_by_itself(self) -> None:
        state, _ = feed(points(Metric.HR, run(0, 10, 125)))
        ack = acknowledge(state, HR_HIGH, NOW)
        assert summary(ack.actions) == [("ack", "hr_high_high")]
        assert acknowledge(ack.state, HR_HIGH, NOW).actions == ()
        _, actions = feed(points(Metric.HR, run(11, 21, 100)), state=ack.state)
        assert actions == [("clear", "hr_high_high", 21, True)]

    def test_latched_condition_returning_keeps_the_one_alarm(self) -> None:
        timeline = [*run(0, 15, 88), *run(16, 26, 98), *run(27, 45, 88)]
        state, actions = feed(points(Metric.SPO2, timeline))
        assert actions == [("raise", "spo2_low_high", 15, False), ("ended", "spo2_low_high", 26)]
        alarm = state.alarm(SPO2_LOW)
        assert alarm is not None
        assert alarm.condition_present
        assert acknowledge(state, SPO2_LOW, NOW).actions[0] == Acknowledged(SPO2_LOW, "spo2_low_high", NOW)  # fmt: skip

    def test_rr_low_high_latches(self) -> None:
        _, actions = feed(points(Metric.RR, [*run(0, 30, 7, 2), *run(32, 80, 14, 2)]))
        assert actions == [("raise", "rr_low_high", 30, False), ("ended", "rr_low_high", 62)]

    def test_acknowledge_without_alarm_is_refused(self) -> None:
        with pytest.raises(UnknownAlarm):
            acknowledge(AlarmState(), SPO2_LOW, NOW)

    def test_naive_times_are_refused(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            evaluate(RULES, AlarmState(), [], phase=Phase.INFUSING, baseline={}, now=NOW.replace(tzinfo=None))  # fmt: skip


class TestOrderAndLateness:
    """Issue 7 point 5: batch order irrelevant, late readings flagged and limited."""

    def test_batch_order_does_not_matter(self) -> None:
        readings = [
            *points(Metric.SPO2, [*run(0, 15, 88), *run(16, 40, 98)]),
            *points(Metric.SBP, [(3, 185), (20, 120)]),
            *points(Metric.HR, run(0, 12, 125)),
        ]
        forward = ev(AlarmState(), readings)
        backward = ev(AlarmState(), readings[::-1])
        assert forward == backward
        again = ev(AlarmState(), readings)
        assert again == forward

    def test_equal_times_are_tie_broken_deterministically(self) -> None:
        a = ReadingPoint(Metric.SBP, 185, t(0), "a")
        b = ReadingPoint(Metric.SBP, 120, t(0), "b")
        assert ev(AlarmState(), [a, b]) == ev(AlarmState(), [b, a])
        assert summary(ev(AlarmState(), [b, a]).actions) == [
            ("raise", "sbp_high_high", 0, False),
            ("clear", "sbp_high_high", 0, False),
        ]

    def test_late_breaching_reading_does_not_extend_the_onset_timer(self) -> None:
        state, _ = feed(points(Metric.SPO2, run(0, 10, 91)))
        late = points(Metric.SPO2, [(30, 91)], tag="late")
        late = [replace(late[0], observed_at=t(5))]
        state, actions = feed(late, state=state)
        assert actions == [("late", "spo2late@30")]
        _, actions = feed(points(Metric.SPO2, run(11, 15, 91)), state=state)
        assert actions == [("raise", "spo2_low_medium", 15, False)]

    def test_late_normal_reading_does_not_break_the_onset_timer(self) -> None:
        state, _ = feed(points(Metric.SPO2, run(0, 10, 91)))
        late = [ReadingPoint(Metric.SPO2, 99, t(4), "old")]
        state, actions = feed(late, state=state)
        assert actions == [("late", "old")]
        _, actions = feed(points(Metric.SPO2, run(11, 15, 91)), state=state)
        assert actions == [("raise", "spo2_low_medium", 15, False)]

    def test_late_sbp_210_still_raises_flagged_late(self) -> None:
        state, _ = feed(points(Metric.SBP, [(300, 120)]))
        late = [ReadingPoint(Metric.SBP, 210, t(0), "sbp-old")]
        state, actions = feed(late, state=state)
        assert actions == [("late", "sbp-old"), ("raise", "sbp_high_high", 0, True)]
        assert state.newest_observed_at[Metric.SBP] == t(300)

    def test_late_reading_does_not_clear(self) -> None:
        state, _ = feed(points(Metric.SBP, [(300, 185)]))
        state, actions = feed([ReadingPoint(Metric.SBP, 110, t(0), "old")], state=state)
        assert actions == [("late", "old")]
        assert state.alarm(SBP_HIGH) is not None

    def test_late_reading_with_onset_delay_does_not_raise(self) -> None:
        state, _ = feed(points(Metric.SPO2, [(100, 98)]))
        _, actions = feed(points(Metric.SPO2, run(0, 20, 85)), state=state)
        assert actions == [("late", f"spo2@{s}") for s in range(21)]

    def test_caller_flagged_late_reading(self) -> None:
        reading = ReadingPoint(Metric.SBP, 165, t(0), "backlog", late=True)
        state, actions = feed([reading])
        assert actions == [("late", "backlog"), ("raise", "sbp_high_medium", 0, True)]
        assert Metric.SBP not in state.newest_observed_at

    def test_late_flag_is_on_the_raise_action(self) -> None:
        state, _ = feed(points(Metric.SBP, [(300, 120)]))
        decision = evaluate(
            RULES, state, [ReadingPoint(Metric.SBP, 210, t(0), "x")], phase=Phase.INFUSING, baseline={}, now=NOW
        )  # fmt: skip
        assert decision.actions[0] == MarkLate("x", Metric.SBP)
        raised = decision.actions[1]
        assert isinstance(raised, Raise)
        assert raised.late
        assert raised.reading_ids == ("x",)


METRIC_VALUES = {
    Metric.SPO2: st.sampled_from([85.0, 89.0, 91.0, 92.5, 93.0, 98.0]),
    Metric.HR: st.sampled_from([35.0, 45.0, 70.0, 108.0, 115.0, 125.0]),
    Metric.SBP: st.sampled_from([85.0, 120.0, 157.0, 165.0, 185.0]),
    Metric.RR: st.sampled_from([6.0, 9.0, 14.0, 35.0]),
}


@st.composite
def batches(draw: st.DrawFn, max_runs: int = 6) -> list[ReadingPoint]:
    """Runs of one value (so onset and clear times are reached) and stray single readings."""
    readings: list[ReadingPoint] = []
    for metric, start, count, step in draw(
        st.lists(
            st.tuples(
                st.sampled_from(list(METRIC_VALUES)),
                st.integers(0, 60),
                st.integers(1, 35),
                st.integers(1, 3),
            ),
            max_size=max_runs,
        )
    ):
        value = draw(METRIC_VALUES[metric])
        readings.extend(
            ReadingPoint(metric, value, t(start + i * step), f"r{len(readings) + i}")
            for i in range(count)
        )
    return readings


BASELINE = {Metric.SBP: 110.0}


class TestProperties:
    """Hypothesis properties of issue 7's acceptance list."""

    @settings(max_examples=200, deadline=None)
    @given(first=batches(), second=batches(), data=st.data())
    def test_permuting_a_batch_changes_nothing(
        self, first: list[ReadingPoint], second: list[ReadingPoint], data: st.DataObject
    ) -> None:
        prior = ev(AlarmState(), first, baseline=BASELINE).state
        shuffled = data.draw(st.permutations(second))
        assert ev(prior, second, baseline=BASELINE) == ev(prior, shuffled, baseline=BASELINE)

    @settings(max_examples=200, deadline=None)
    @given(steps=st.lists(st.tuples(batches(max_runs=4), st.booleans()), min_size=1, max_size=6))
    def test_priority_never_falls_and_latching_never_clears_unacknowledged(
        self, steps: list[tuple[list[ReadingPoint], bool]]
    ) -> None:
        state = AlarmState()
        active: dict[EpisodeKey, tuple[Priority, bool, bool]] = {}  # priority, latching, acked
        for offset, (batch, ack_all) in enumerate(steps):
            shifted = [replace(r, observed_at=r.observed_at + timedelta(seconds=60 * offset)) for r in batch]  # fmt: skip
            decision = ev(state, shifted, baseline=BASELINE)
            for action in decision.actions:
                if isinstance(action, Raise):
                    assert action.key not in active, "two alarms for one episode"
                    active[action.key] = (action.priority, RULES_BY_ID[action.rule_id].latching, False)  # fmt: skip
                elif isinstance(action, RaisePriority):
                    before = active[action.key][0]
                    assert action.priority.rank > before.rank == action.from_priority.rank
                    active[action.key] = (action.priority, RULES_BY_ID[action.rule_id].latching, False)  # fmt: skip
                elif isinstance(action, Clear):
                    _, latching, acked = active.pop(action.key)
                    assert acked or not latching, "latching alarm cleared unacknowledged"
                    assert action.acknowledged == acked
            state = decision.state
            for key, episode in state.episodes.items():
                if episode.alarm is not None:
                    assert active[key][0] is episode.alarm.priority
            assert {k for k, e in state.episodes.items() if e.alarm} == set(active)
            if ack_all:
                for key in sorted(active):
                    ack = acknowledge(state, key, NOW)
                    state = ack.state
                    if any(isinstance(a, Clear) for a in ack.actions):
                        active.pop(key)
                    else:
                        active[key] = (active[key][0], active[key][1], True)
