"""Pure tests of the protocol domain: dose engine, rate segments, alarm rules, session rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.protocols.domain import (
    AlarmRule,
    Checkpoint,
    CheckpointAnchor,
    Comparator,
    CourseRules,
    DoseRefusalCode,
    DoseRefused,
    DoseStepDecision,
    DosingRules,
    GateOutcome,
    GateStatus,
    InvalidSegments,
    Metric,
    Phase,
    Preparation,
    PreparationMode,
    PreSessionGate,
    PreSessionRules,
    Priority,
    RateSegment,
    TechnicalAlarmSettings,
    TitrationRules,
    WeightBasis,
    WeightMeasurement,
    calculate_dose,
    earliest_next_infusion_at,
    evaluate_pre_session_gates,
    infusion_progress,
    propose_dose_step,
    reduced_rate_mg_per_h,
    step_down_mg_per_kg,
)

NOW = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
D = Decimal
BAG_100 = Preparation(PreparationMode.FIXED_BAG_VOLUME, bag_volume_ml=D(100))
CONC_10 = Preparation(PreparationMode.FIXED_CONCENTRATION, concentration_mg_per_ml=D(10))
CONC_1 = Preparation(PreparationMode.FIXED_CONCENTRATION, concentration_mg_per_ml=D(1))


def dosing(
    preparation: Preparation = BAG_100, max_dose_mg: Decimal | None = None, minutes: int = 40
) -> DosingRules:
    return DosingRules(
        mg_per_kg=D("0.5"),
        minutes=minutes,
        minutes_min=40,
        minutes_max=100,
        mg_per_kg_max=D("1.0"),
        weight_basis=WeightBasis.ACTUAL,
        weight_window_days=7,
        weight_min_kg=D(30),
        weight_max_kg=D(250),
        warning_weight_kg=D(115),
        max_dose_mg=max_dose_mg,
        preparation=preparation,
    )


def weight(kg: str, age: timedelta = timedelta(hours=1)) -> WeightMeasurement:
    return WeightMeasurement(weight_kg=D(kg), measured_at=NOW - age)


def at_minute(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


# (id, preparation, ceiling, weight kg, mg/kg, minutes,
#  dose mg, mg/h, mL, mL/h, mg/mL, capped, warning codes)
# fmt: off
DOSE_CASES = [
    ("bag-70kg-example", BAG_100, None, "70", "0.5", 40, "35.0", "52.5", "100.0", "150.0", "0.35", False, ()),
    ("bag-30kg-lower-limit", BAG_100, None, "30", "0.5", 40, "15.0", "22.5", "100.0", "150.0", "0.15", False, ()),
    ("bag-250kg-upper-limit", BAG_100, None, "250", "0.5", 40, "125.0", "187.5", "100.0", "150.0", "1.25", False, ("weight_above_warning",)),
    ("bag-115kg-at-warning", BAG_100, None, "115", "0.5", 40, "57.5", "86.3", "100.0", "150.0", "0.58", False, ()),
    ("bag-115.1kg-above-warning", BAG_100, None, "115.1", "0.5", 40, "57.6", "86.3", "100.0", "150.0", "0.58", False, ("weight_above_warning",)),
    ("bag-70kg-step-0.75", BAG_100, None, "70", "0.75", 40, "52.5", "78.8", "100.0", "150.0", "0.53", False, ()),
    ("bag-70kg-0.75-over-45min", BAG_100, None, "70", "0.75", 45, "52.5", "70.0", "100.0", "133.3", "0.53", False, ()),
    ("bag-80.3kg-half-up-mg", BAG_100, None, "80.3", "0.5", 40, "40.2", "60.2", "100.0", "150.0", "0.40", False, ()),
    ("bag-63.3kg-half-up", BAG_100, None, "63.3", "0.5", 40, "31.7", "47.5", "100.0", "150.0", "0.32", False, ()),
    ("bag-99.9kg-rounds-to-50", BAG_100, None, "99.9", "0.5", 40, "50.0", "74.9", "100.0", "150.0", "0.50", False, ()),
    ("bag-45kg", BAG_100, None, "45", "0.5", 40, "22.5", "33.8", "100.0", "150.0", "0.23", False, ()),
    ("bag-70kg-1.0-physician", BAG_100, None, "70", "1.0", 40, "70.0", "105.0", "100.0", "150.0", "0.70", False, ()),
    ("bag-70kg-0.1-lowest", BAG_100, None, "70", "0.1", 40, "7.0", "10.5", "100.0", "150.0", "0.07", False, ()),
    ("bag-70kg-100min", BAG_100, None, "70", "0.5", 100, "35.0", "21.0", "100.0", "60.0", "0.35", False, ()),
    ("conc10-70kg-5.3ml-h", CONC_10, None, "70", "0.5", 40, "35.0", "52.5", "3.5", "5.3", "10.00", False, ()),
    ("conc10-30kg", CONC_10, None, "30", "0.5", 40, "15.0", "22.5", "1.5", "2.3", "10.00", False, ()),
    ("conc10-250kg", CONC_10, None, "250", "0.5", 40, "125.0", "187.5", "12.5", "18.8", "10.00", False, ("weight_above_warning",)),
    ("conc10-77kg", CONC_10, None, "77", "0.5", 40, "38.5", "57.8", "3.9", "5.8", "10.00", False, ()),
    ("conc10-81kg", CONC_10, None, "81", "0.5", 40, "40.5", "60.8", "4.1", "6.1", "10.00", False, ()),
    ("conc10-70kg-100min", CONC_10, None, "70", "0.5", 100, "35.0", "21.0", "3.5", "2.1", "10.00", False, ()),
    ("conc1-70kg", CONC_1, None, "70", "0.5", 40, "35.0", "52.5", "35.0", "52.5", "1.00", False, ()),
    ("conc1-73kg", CONC_1, None, "73", "0.5", 40, "36.5", "54.8", "36.5", "54.8", "1.00", False, ()),
    ("conc1-70kg-0.75-45min", CONC_1, None, "70", "0.75", 45, "52.5", "70.0", "52.5", "70.0", "1.00", False, ()),
    ("ceiling-bag-250kg", BAG_100, D(100), "250", "0.5", 40, "100.0", "150.0", "100.0", "150.0", "1.00", True, ("weight_above_warning", "dose_capped")),
    ("ceiling-conc10-250kg", CONC_10, D(100), "250", "0.5", 40, "100.0", "150.0", "10.0", "15.0", "10.00", True, ("weight_above_warning", "dose_capped")),
    ("ceiling-equal-not-capped", CONC_10, D(100), "200", "0.5", 40, "100.0", "150.0", "10.0", "15.0", "10.00", False, ("weight_above_warning",)),
    ("ceiling-140kg-0.75", CONC_10, D(100), "140", "0.75", 40, "100.0", "150.0", "10.0", "15.0", "10.00", True, ("weight_above_warning", "dose_capped")),
    ("ceiling-70kg-below", BAG_100, D(100), "70", "0.5", 40, "35.0", "52.5", "100.0", "150.0", "0.35", False, ()),
]
# fmt: on


class TestCalculateDose:
    @pytest.mark.parametrize(
        (
            "prep",
            "ceiling",
            "kg",
            "mg_per_kg",
            "minutes",
            "dose",
            "mg_h",
            "ml",
            "ml_h",
            "mg_ml",
            "capped",
            "codes",
        ),
        [case[1:] for case in DOSE_CASES],
        ids=[case[0] for case in DOSE_CASES],
    )
    def test_dose_table(
        self, prep, ceiling, kg, mg_per_kg, minutes, dose, mg_h, ml, ml_h, mg_ml, capped, codes
    ):
        result = calculate_dose(
            dosing(prep, ceiling), weight(kg), NOW, mg_per_kg=D(mg_per_kg), minutes=minutes
        )
        assert (result.dose_mg, result.rate_mg_per_h, result.volume_ml) == (D(dose), D(mg_h), D(ml))
        assert (result.rate_ml_per_h, result.concentration_mg_per_ml) == (D(ml_h), D(mg_ml))
        # Decimal equality ignores exponent; the rounding places are part of the contract.
        assert str(result.dose_mg) == dose
        assert str(result.rate_ml_per_h) == ml_h
        assert str(result.concentration_mg_per_ml) == mg_ml
        assert result.capped is capped
        assert tuple(w.code.value for w in result.warnings) == codes

    def test_defaults_come_from_the_protocol(self):
        result = calculate_dose(dosing(), weight("70"), NOW)
        assert (result.mg_per_kg, result.minutes) == (D("0.5"), 40)
        assert result.preparation_mode is PreparationMode.FIXED_BAG_VOLUME
        assert result.weight_measured_at == NOW - timedelta(hours=1)

    def test_capped_result_keeps_the_calculated_dose_and_says_so(self):
        result = calculate_dose(dosing(BAG_100, D(100)), weight("250"), NOW)
        assert result.calculated_dose_mg == D("125.0")
        assert "capped at 100.0 mg" in result.warnings[-1].message

    @pytest.mark.parametrize(
        ("kg", "age", "code"),
        [
            ("29.9", timedelta(hours=1), DoseRefusalCode.WEIGHT_BELOW_PLAUSIBLE),
            ("0", timedelta(hours=1), DoseRefusalCode.WEIGHT_BELOW_PLAUSIBLE),
            ("250.1", timedelta(hours=1), DoseRefusalCode.WEIGHT_ABOVE_PLAUSIBLE),
            ("700", timedelta(hours=1), DoseRefusalCode.WEIGHT_ABOVE_PLAUSIBLE),
            ("70", timedelta(days=7, microseconds=1), DoseRefusalCode.WEIGHT_STALE),
            ("70", timedelta(days=30), DoseRefusalCode.WEIGHT_STALE),
            ("70", timedelta(seconds=-1), DoseRefusalCode.WEIGHT_IN_FUTURE),
        ],
        ids=["29.9kg", "0kg", "250.1kg", "700kg", "stale-by-1us", "stale-30d", "future"],
    )
    def test_refused_weights(self, kg, age, code):
        with pytest.raises(DoseRefused) as refused:
            calculate_dose(dosing(), weight(kg, age), NOW)
        assert refused.value.code is code
        assert refused.value.message == str(refused.value)

    def test_weight_exactly_at_the_window_is_accepted(self):
        assert calculate_dose(dosing(), weight("70", timedelta(days=7)), NOW).dose_mg == D("35.0")

    def test_stale_message_names_the_window(self):
        with pytest.raises(DoseRefused, match="7-day window"):
            calculate_dose(dosing(), weight("70", timedelta(days=8)), NOW)

    @pytest.mark.parametrize(
        ("mg_per_kg", "minutes", "code"),
        [
            ("0", None, DoseRefusalCode.MG_PER_KG_OUT_OF_RANGE),
            ("-0.5", None, DoseRefusalCode.MG_PER_KG_OUT_OF_RANGE),
            ("1.01", None, DoseRefusalCode.MG_PER_KG_OUT_OF_RANGE),
            (None, 39, DoseRefusalCode.MINUTES_OUT_OF_RANGE),
            (None, 101, DoseRefusalCode.MINUTES_OUT_OF_RANGE),
        ],
    )
    def test_refused_orders(self, mg_per_kg, minutes, code):
        with pytest.raises(DoseRefused) as refused:
            calculate_dose(
                dosing(),
                weight("70"),
                NOW,
                mg_per_kg=None if mg_per_kg is None else D(mg_per_kg),
                minutes=minutes,
            )
        assert refused.value.code is code

    def test_naive_datetimes_are_refused(self):
        naive = WeightMeasurement(D(70), datetime(2025, 3, 1, 9, 0))  # noqa: DTZ001
        with pytest.raises(ValueError, match="timezone-aware"):
            calculate_dose(dosing(), naive, NOW)

    @pytest.mark.parametrize(
        ("make", "match"),
        [
            (lambda: Preparation(PreparationMode.FIXED_BAG_VOLUME), "needs a positive bag_volume"),
            (
                lambda: Preparation(PreparationMode.FIXED_BAG_VOLUME, D(100), D(1)),
                "takes no concentration",
            ),
            (
                lambda: Preparation(PreparationMode.FIXED_CONCENTRATION, bag_volume_ml=D(100)),
                "needs a positive concentration",
            ),
            (
                lambda: Preparation(PreparationMode.FIXED_CONCENTRATION, D(100), D(1)),
                "takes no bag_volume_ml",
            ),
            (lambda: replace(dosing(), minutes=30), "minutes must lie within"),
            (lambda: replace(dosing(), mg_per_kg=D("1.5")), "mg_per_kg must be in"),
            (lambda: replace(dosing(), warning_weight_kg=D(300)), "weights must satisfy"),
            (lambda: replace(dosing(), weight_window_days=0), "weight_window_days must be"),
            (lambda: replace(dosing(), max_dose_mg=D(0)), "max_dose_mg must be positive"),
        ],
    )
    def test_inconsistent_rules_are_refused(self, make, match):
        with pytest.raises(ValueError, match=match):
            make()

    @given(
        kg=st.decimals(min_value=30, max_value=250, places=1),
        mg_per_kg=st.sampled_from([D("0.1"), D("0.4"), D("0.5"), D("0.75"), D("1.0")]),
        minutes=st.integers(min_value=40, max_value=100),
        prep=st.sampled_from([BAG_100, CONC_10, CONC_1]),
    )
    def test_rate_times_minutes_equals_dose_within_rounding(self, kg, mg_per_kg, minutes, prep):
        result = calculate_dose(
            dosing(prep), WeightMeasurement(kg, NOW), NOW, mg_per_kg=mg_per_kg, minutes=minutes
        )
        hours = D(minutes) / 60
        # Each shown figure is within 0.05 of its exact value; the error of a rate grows by hours.
        tolerance = D("0.05") * hours + D("0.05")
        assert abs(result.rate_mg_per_h * hours - result.dose_mg) <= tolerance
        assert abs(result.rate_ml_per_h * hours - result.volume_ml) <= tolerance
        assert abs(result.dose_mg - kg * mg_per_kg) <= D("0.05")


class TestInfusionProgress:
    RATE = D("52.5")

    def test_pause_five_minutes_at_minute_20_completes_at_minute_45(self):
        segments = (
            RateSegment(T0, self.RATE, at_minute(20)),
            RateSegment(at_minute(20), D(0), at_minute(25)),
            RateSegment(at_minute(25), self.RATE),
        )
        progress = infusion_progress(D(35), D(100), segments, at_minute(45))
        assert progress.complete
        assert progress.delivered_mg == D("35.0")
        assert progress.completes_at == at_minute(45)
        assert progress.minutes_infused == D("40.0")
        assert (progress.remaining_mg, progress.remaining_minutes) == (D("0.0"), D("0.0"))
        assert progress.remaining_volume_ml == D("0.0")

    def test_pause_as_a_gap_gives_the_same_completion(self):
        segments = (
            RateSegment(T0, self.RATE, at_minute(20)),
            RateSegment(at_minute(25), self.RATE),
        )
        progress = infusion_progress(D(35), D(100), segments, at_minute(50))
        assert progress.completes_at == at_minute(45)
        assert progress.delivered_mg == D("35.0")

    def test_during_the_pause_nothing_is_projected(self):
        segments = (RateSegment(T0, self.RATE, at_minute(20)), RateSegment(at_minute(20), D(0)))
        progress = infusion_progress(D(35), D(100), segments, at_minute(22))
        assert progress.delivered_mg == D("17.5")
        assert progress.current_rate_mg_per_h == 0
        assert progress.remaining_minutes is None
        assert progress.completes_at is None
        assert progress.remaining_volume_ml == D("50.0")

    def test_after_resume_the_projection_includes_the_pause(self):
        segments = (
            RateSegment(T0, self.RATE, at_minute(20)),
            RateSegment(at_minute(25), self.RATE),
        )
        progress = infusion_progress(D(35), D(100), segments, at_minute(30))
        assert progress.delivered_mg == D("21.9")  # 17.5 + 4.375
        assert progress.remaining_minutes == D("15.0")
        assert progress.completes_at == at_minute(45)
        assert progress.minutes_infused == D("25.0")

    def test_rate_halved_at_minute_20_completes_at_minute_60(self):
        segments = (
            RateSegment(T0, self.RATE, at_minute(20)),
            RateSegment(at_minute(20), D("26.25")),
        )
        midway = infusion_progress(D(35), D(100), segments, at_minute(40))
        assert midway.delivered_mg == D("26.3")  # 17.5 + 8.75 = 26.25, half-up
        assert midway.remaining_mg == D("8.8")
        assert midway.remaining_minutes == D("20.0")
        assert midway.remaining_volume_ml == D("25.0")
        assert midway.completes_at == at_minute(60)
        done = infusion_progress(D(35), D(100), segments, at_minute(60))
        assert done.complete
        assert done.delivered_mg == D("35.0")
        assert done.minutes_infused == D("60.0")

    def test_open_segment_past_completion_never_exceeds_the_order(self):
        segments = (RateSegment(T0, self.RATE),)
        progress = infusion_progress(D(35), D("3.5"), segments, at_minute(90))
        assert progress.delivered_mg == D("35.0")
        assert progress.delivered_volume_ml == D("3.5")
        assert progress.completes_at == at_minute(40)
        assert progress.minutes_infused == D("40.0")

    def test_stopped_early(self):
        segments = (RateSegment(T0, self.RATE, at_minute(30)),)
        progress = infusion_progress(D(35), D("3.5"), segments, at_minute(60))
        assert not progress.complete
        assert progress.delivered_mg == D("26.3")
        assert progress.remaining_volume_ml == D("0.9")  # 8.75 mg at 10 mg/mL = 0.875 mL
        assert progress.remaining_minutes is None

    @pytest.mark.parametrize(
        ("minute", "delivered", "remaining_minutes"),
        [(-1, "0.0", None), (0, "0.0", "40.0"), (10, "8.8", "30.0"), (39, "34.1", "1.0")],
    )
    def test_progress_along_a_plain_infusion(self, minute, delivered, remaining_minutes):
        progress = infusion_progress(
            D(35), D(100), (RateSegment(T0, self.RATE),), at_minute(minute)
        )
        assert progress.delivered_mg == D(delivered)
        expected = None if remaining_minutes is None else D(remaining_minutes)
        assert progress.remaining_minutes == expected

    def test_completion_rounds_up_to_the_microsecond(self):
        segments = (RateSegment(T0, D(7)),)  # 1 mg at 7 mg/h = 514285714.28… µs
        done = infusion_progress(D(1), D(10), segments, T0 + timedelta(microseconds=514_285_715))
        assert done.complete
        assert done.completes_at == T0 + timedelta(microseconds=514_285_715)
        before = infusion_progress(D(1), D(10), segments, T0 + timedelta(microseconds=514_285_714))
        assert not before.complete

    def test_order_must_be_positive(self):
        with pytest.raises(InvalidSegments, match="positive"):
            infusion_progress(D(0), D(100), (RateSegment(T0, self.RATE),), at_minute(10))

    @pytest.mark.parametrize(
        "segments",
        [
            (RateSegment(T0, D(10), at_minute(10)), RateSegment(at_minute(5), D(10))),
            (RateSegment(T0, D(10)), RateSegment(at_minute(5), D(10))),
            (RateSegment(T0, D(-1)),),
            (RateSegment(at_minute(5), D(10), T0),),
            (RateSegment(datetime(2025, 3, 1, 12, 0), D(10)),),  # noqa: DTZ001
        ],
        ids=["overlap", "open-not-last", "negative-rate", "end-before-start", "naive"],
    )
    def test_invalid_segments_are_refused(self, segments):
        with pytest.raises(InvalidSegments):
            infusion_progress(D(35), D(100), segments, at_minute(10))

    @given(
        spans=st.lists(
            st.tuples(
                st.integers(min_value=0, max_value=3_600_000_000),
                st.integers(min_value=0, max_value=2_400_000_000),
                st.sampled_from([D(0), D("26.25"), D("52.5"), D("105"), D("7.3")]),
            ),
            min_size=1,
            max_size=6,
        ),
        ordered=st.decimals(min_value=1, max_value=200, places=1),
        probe_us=st.integers(min_value=0, max_value=30_000_000_000),
    )
    def test_delivered_never_exceeds_the_order_and_only_grows(self, spans, ordered, probe_us):
        segments, start = [], T0
        for gap_us, length_us, rate in spans:
            start += timedelta(microseconds=gap_us)
            end = start + timedelta(microseconds=length_us)
            segments.append(RateSegment(start, rate, end))
            start = end
        at = T0 + timedelta(microseconds=probe_us)
        early = infusion_progress(ordered, D(100), tuple(segments), at)
        late = infusion_progress(ordered, D(100), tuple(segments), at + timedelta(hours=1))
        assert D(0) <= early.delivered_mg <= ordered
        assert early.delivered_mg <= late.delivered_mg <= ordered
        assert early.delivered_volume_ml <= D(100)
        assert abs(early.delivered_mg + early.remaining_mg - ordered) <= D("0.1")


def alarm_rule(**changes: Any) -> AlarmRule:
    base = AlarmRule(
        id="spo2_low_medium",
        phases=frozenset({Phase.INFUSING, Phase.RECOVERY}),
        metric=Metric.SPO2,
        comparator=Comparator.LT,
        priority=Priority.MEDIUM,
        onset_delay_s=15,
        hysteresis_margin=1.0,
        clear_time_s=10,
        latching=False,
        action="stimulate",
        limit=92.0,
        max_gap_s=5,
    )
    return replace(base, **changes)


class TestAlarmRule:
    @pytest.mark.parametrize(
        ("comparator", "limit", "margin", "value", "breached", "clears"),
        [
            (Comparator.LT, 92.0, 1.0, 91.0, True, False),
            (Comparator.LT, 92.0, 1.0, 92.0, False, False),
            (Comparator.LT, 92.0, 1.0, 93.0, False, True),
            (Comparator.LE, 92.0, 0.0, 92.0, True, False),
            (Comparator.GE, 160.0, 5.0, 160.0, True, False),
            (Comparator.GE, 160.0, 5.0, 155.0, False, False),
            (Comparator.GE, 160.0, 5.0, 154.0, False, True),
            (Comparator.GT, 110.0, 0.0, 110.0, False, True),
        ],
    )
    def test_breach_and_hysteresis(self, comparator, limit, margin, value, breached, clears):
        rule = alarm_rule(comparator=comparator, limit=limit, hysteresis_margin=margin)
        assert rule.breached(value, limit) is breached
        assert rule.clears(value, limit) is clears

    def test_baseline_offset_limit(self):
        rule = alarm_rule(
            metric=Metric.SBP,
            comparator=Comparator.GE,
            limit=None,
            baseline_offset=40.0,
            max_gap_s=None,
        )
        assert rule.limit_in_force(130.0) == 170.0
        assert rule.limit_in_force(None) is None
        assert not rule.is_continuous
        assert alarm_rule().limit_in_force(None) == 92.0

    def test_phases(self):
        assert alarm_rule().applies_in(Phase.INFUSING)
        assert not alarm_rule().applies_in(Phase.CHECKED_IN)

    @pytest.mark.parametrize(
        ("changes", "match"),
        [
            ({"limit": None}, "exactly one of limit or baseline_offset"),
            ({"baseline_offset": 5.0}, "exactly one of limit or baseline_offset"),
            ({"max_gap_s": None}, "continuous metrics need a positive max_gap_s"),
            ({"onset_delay_s": -1}, "non-negative"),
            ({"phases": frozenset()}, "at least one phase"),
        ],
    )
    def test_invalid_rules_are_refused(self, changes, match):
        with pytest.raises(ValueError, match=match):
            alarm_rule(**changes)

    def test_technical_settings_need_medium_before_high(self):
        with pytest.raises(ValueError, match="no_data_medium_s"):
            TechnicalAlarmSettings(
                no_data_metrics=frozenset({Metric.SPO2}),
                no_data_medium_s=120,
                no_data_high_s=30,
                nibp_overdue_grace_s=120,
                device_silent_s=60,
                device_offline_priority=Priority.MEDIUM,
                clock_skew_limit_s=30,
                clock_skew_priority=Priority.LOW,
                no_board_priority=Priority.MEDIUM,
            )

    def test_priority_rank_orders_low_medium_high(self):
        assert Priority.LOW.rank < Priority.MEDIUM.rank < Priority.HIGH.rank


GATES = PreSessionRules(
    gates=(
        PreSessionGate(
            "sbp_severe", Metric.SBP, Comparator.GT, 180, GateOutcome.REPEAT_THEN_BLOCK, "m"
        ),
        PreSessionGate(
            "dbp_severe", Metric.DBP, Comparator.GT, 100, GateOutcome.REPEAT_THEN_BLOCK, "m"
        ),
        PreSessionGate(
            "sbp_elevated", Metric.SBP, Comparator.GT, 140, GateOutcome.PHYSICIAN_ACK, "m"
        ),
        PreSessionGate(
            "dbp_elevated", Metric.DBP, Comparator.GT, 90, GateOutcome.PHYSICIAN_ACK, "m"
        ),
        PreSessionGate("spo2_low", Metric.SPO2, Comparator.LT, 95, GateOutcome.BLOCK, "m"),
    ),
    repeat_after_minutes=5,
    fasting_solids_hours=6,
    fasting_clear_fluids_hours=2,
    checklist=("escort_confirmed",),
)


class TestPreSessionGates:
    @pytest.mark.parametrize(
        ("sbp", "dbp", "spo2", "is_repeat", "status"),
        [
            (120, 80, 98, False, GateStatus.CLEAR),
            (140, 90, 98, False, GateStatus.CLEAR),
            (145, 85, 98, False, GateStatus.PHYSICIAN_ACK_REQUIRED),
            (185, 95, 98, False, GateStatus.REPEAT_REQUIRED),
            (185, 95, 98, True, GateStatus.BLOCKED),
            (170, 101, 98, False, GateStatus.REPEAT_REQUIRED),
            (120, 80, 93, False, GateStatus.BLOCKED),
        ],
    )
    def test_gate_table(self, sbp, dbp, spo2, is_repeat, status):
        readings = {Metric.SBP: sbp, Metric.DBP: dbp, Metric.SPO2: spo2}
        assert evaluate_pre_session_gates(GATES, readings, is_repeat=is_repeat).status is status

    def test_missing_metric_blocks_and_is_named(self):
        decision = evaluate_pre_session_gates(GATES, {Metric.SBP: 120}, is_repeat=False)
        assert decision.status is GateStatus.BLOCKED
        assert decision.missing_metrics == (Metric.DBP, Metric.SPO2)


TITRATION = TitrationRules(
    steps_mg_per_kg=(D("0.5"), D("0.75")),
    step_up_after_infusions=3,
    step_up_if_improvement_below_pct=D(50),
    step_up_blocked_if_cadss_ge=30,
    step_down_mg_per_kg=D("0.1"),
    min_mg_per_kg=D("0.1"),
    physician_max_mg_per_kg=D("1.0"),
    rate_reduction_factor=D("0.5"),
)


class TestTitration:
    @pytest.mark.parametrize(
        ("current", "given_", "baseline", "latest", "cadss", "decision", "mg_per_kg"),
        [
            ("0.5", 3, 30, 20, 10, DoseStepDecision.STEP_UP, "0.75"),
            ("0.5", 3, 30, 15, 10, DoseStepDecision.KEEP, "0.5"),
            ("0.5", 3, 30, 20, 30, DoseStepDecision.KEEP, "0.5"),
            ("0.5", 3, 30, 20, 29, DoseStepDecision.STEP_UP, "0.75"),
            ("0.5", 2, 30, 29, 10, DoseStepDecision.KEEP, "0.5"),
            ("0.5", 3, None, 20, 10, DoseStepDecision.KEEP, "0.5"),
            ("0.5", 3, 30, 20, None, DoseStepDecision.KEEP, "0.5"),
            ("0.75", 4, 30, 29, 10, DoseStepDecision.KEEP, "0.75"),
            ("0.4", 4, 30, 29, 10, DoseStepDecision.KEEP, "0.4"),
        ],
    )
    def test_proposals(self, current, given_, baseline, latest, cadss, decision, mg_per_kg):
        proposal = propose_dose_step(
            TITRATION,
            current_mg_per_kg=D(current),
            infusions_given=given_,
            madrs_baseline=baseline,
            madrs_latest=latest,
            last_cadss_total=cadss,
        )
        assert proposal.decision is decision
        assert proposal.mg_per_kg == D(mg_per_kg)
        assert proposal.reason

    @pytest.mark.parametrize(
        ("current", "lower"), [("0.5", "0.4"), ("0.15", "0.1"), ("0.1", "0.1")]
    )
    def test_step_down_never_below_minimum(self, current, lower):
        assert step_down_mg_per_kg(TITRATION, D(current)) == D(lower)

    def test_rate_reduction_halves_and_rounds(self):
        assert reduced_rate_mg_per_h(TITRATION, D("52.5")) == D("26.3")


class TestCourseAndCheckpoints:
    def test_earliest_next_infusion(self):
        rules = CourseRules(6, 3, 48, 3, 6)
        assert earliest_next_infusion_at(rules, T0) == T0 + timedelta(hours=48)

    def test_checkpoint_kinds(self):
        recurring = Checkpoint("nibp", "nibp", 2, frozenset({Phase.INFUSING}), interval_minutes=10)
        once = Checkpoint(
            "cadss_40", "cadss", 10, anchor=CheckpointAnchor.AFTER_START, offset_minutes=40
        )
        assert recurring.is_recurring
        assert not once.is_recurring

    @pytest.mark.parametrize(
        ("make", "match"),
        [
            (lambda: Checkpoint("x", "nibp", 2), "either interval_minutes or anchor"),
            (lambda: Checkpoint("x", "nibp", 2, interval_minutes=10), "needs phases"),
            (
                lambda: Checkpoint(
                    "x", "nibp", 2, interval_minutes=10, anchor=CheckpointAnchor.BEFORE_START
                ),
                "either interval_minutes or anchor",
            ),
        ],
    )
    def test_invalid_checkpoints(self, make, match):
        with pytest.raises(ValueError, match=match):
            make()
