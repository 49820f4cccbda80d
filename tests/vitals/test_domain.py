from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.protocols.domain import Metric
from app.vitals.domain import (
    PLAUSIBLE,
    RawReading,
    Reading,
    RejectCode,
    Rejection,
    RetryKind,
    classify_retry,
    clock_skew_s,
    evaluation_order,
    is_clock_skewed,
    normalize,
    validate_batch,
)

RECEIVED = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
OSLO = timezone(timedelta(hours=1))
AT = datetime(2026, 11, 23, 9, 59, 50, tzinfo=OSLO)  # 08:59:50 UTC
FIVE_MIN = timedelta(minutes=5)


def raw(metric="spo2", value=97.0, unit="%", observed_at=AT, source_id="r1", measurement_id=None):
    return RawReading(source_id, metric, value, unit, observed_at, measurement_id)


def norm(r: RawReading):
    return normalize(r, received_at=RECEIVED, future_tolerance=FIVE_MIN)


class TestNormalize:
    def test_accepted_reading_is_utc_and_keeps_the_offset(self):
        out = norm(raw())
        assert isinstance(out, Reading)
        assert out.metric is Metric.SPO2
        assert out.observed_at == datetime(2026, 11, 23, 8, 59, 50, tzinfo=UTC)
        assert out.observed_at.tzinfo is UTC
        assert out.utc_offset_minutes == 60

    @pytest.mark.parametrize(
        ("metric", "value", "unit", "expected"),
        [
            ("sbp", 16.0, "kPa", 120.0),
            ("dbp", 10.7, "kPa", 80.3),
            ("map", 93.0, "mm[Hg]", 93.0),
            ("temp", 98.6, "[degF]", 37.0),
            ("temp", 36.8, "Cel", 36.8),
            ("hr", 72, "{beat}/min", 72.0),
            ("hr", 72, "/min", 72.0),
            ("pr", 71, "{beat}/min", 71.0),
            ("rr", 14, "{breath}/min", 14.0),
            ("rr", 14, "/min", 14.0),
        ],
    )
    def test_units_are_converted_to_canonical(self, metric, value, unit, expected):
        out = norm(raw(metric, value, unit))
        assert isinstance(out, Reading), out
        assert out.value == expected
        assert out.original_unit == unit

    @pytest.mark.parametrize(
        ("reading", "code"),
        [
            (raw("etco2", 35, "mm[Hg]"), RejectCode.UNKNOWN_METRIC),
            (raw("spo2", 97, "percent"), RejectCode.UNKNOWN_UNIT),
            (raw("hr", 70, "%"), RejectCode.UNKNOWN_UNIT),
            (raw("temp", 37, "K"), RejectCode.UNKNOWN_UNIT),
            (raw("spo2", 101), RejectCode.IMPLAUSIBLE_VALUE),
            (raw("hr", 301, "/min"), RejectCode.IMPLAUSIBLE_VALUE),
            (raw("spo2", -100), RejectCode.IMPLAUSIBLE_VALUE),
            (raw("spo2", float("nan")), RejectCode.NOT_A_NUMBER),
            (raw("spo2", float("inf")), RejectCode.NOT_A_NUMBER),
            (raw(observed_at=datetime(2026, 11, 23, 9, 0)), RejectCode.MISSING_OFFSET),  # noqa: DTZ001
            (
                raw(observed_at=RECEIVED + timedelta(minutes=5, seconds=1)),
                RejectCode.FUTURE_OBSERVED_AT,
            ),
        ],
    )
    def test_rejections_carry_a_code_and_a_message(self, reading, code):
        out = norm(reading)
        assert isinstance(out, Rejection)
        assert out.code is code
        assert out.source_id == "r1"
        assert out.message

    def test_exactly_five_minutes_ahead_is_accepted(self):
        assert isinstance(norm(raw(observed_at=RECEIVED + FIVE_MIN)), Reading)

    def test_unit_message_lists_what_is_accepted(self):
        out = norm(raw("sbp", 120, "mmHg"))
        assert isinstance(out, Rejection)
        assert "mm[Hg]" in out.message
        assert "kPa" in out.message

    @pytest.mark.parametrize("metric", list(Metric))
    def test_range_edges_are_inclusive(self, metric):
        low, high = PLAUSIBLE[metric]
        unit = {"sbp": "mm[Hg]", "dbp": "mm[Hg]", "map": "mm[Hg]", "spo2": "%", "temp": "Cel"}.get(
            metric.value, "/min"
        )
        assert isinstance(norm(raw(metric.value, low, unit)), Reading)
        assert isinstance(norm(raw(metric.value, high, unit)), Reading)
        assert isinstance(norm(raw(metric.value, high + 0.5, unit)), Rejection)


class TestBatch:
    def test_one_bad_reading_does_not_reject_the_others(self):
        out = validate_batch(
            [
                raw(source_id="a"),
                raw("spo2", 150, source_id="b"),
                raw("hr", 70, "/min", source_id="c"),
            ],
            received_at=RECEIVED,
            future_tolerance=FIVE_MIN,
        )
        assert [type(o).__name__ for o in out] == ["Reading", "Rejection", "Reading"]
        assert [o.source_id for o in out] == ["a", "b", "c"]

    def test_dbp_not_below_sbp_rejects_the_measurement(self):
        out = validate_batch(
            [
                raw("sbp", 80, "mm[Hg]", source_id="s", measurement_id="m1"),
                raw("dbp", 85, "mm[Hg]", source_id="d", measurement_id="m1"),
                raw("map", 83, "mm[Hg]", source_id="m", measurement_id="m1"),
            ],
            received_at=RECEIVED,
            future_tolerance=FIVE_MIN,
        )
        assert [o.code for o in out[:2]] == [RejectCode.DBP_NOT_BELOW_SBP] * 2  # type: ignore[union-attr]
        assert isinstance(out[2], Reading)

    def test_measurements_without_id_group_by_observed_at(self):
        other_time = AT + timedelta(minutes=10)
        out = validate_batch(
            [
                raw("sbp", 120, "mm[Hg]", source_id="s1"),
                raw("dbp", 80, "mm[Hg]", source_id="d1"),
                raw("sbp", 90, "mm[Hg]", source_id="s2", observed_at=other_time),
                raw("dbp", 95, "mm[Hg]", source_id="d2", observed_at=other_time),
            ],
            received_at=RECEIVED,
            future_tolerance=FIVE_MIN,
        )
        assert [isinstance(o, Reading) for o in out] == [True, True, False, False]

    def test_different_measurements_are_not_compared(self):
        out = validate_batch(
            [
                raw("sbp", 90, "mm[Hg]", source_id="s", measurement_id="m1"),
                raw("dbp", 95, "mm[Hg]", source_id="d", measurement_id="m2"),
            ],
            received_at=RECEIVED,
            future_tolerance=FIVE_MIN,
        )
        assert all(isinstance(o, Reading) for o in out)


class TestRetries:
    def test_same_content_is_a_duplicate(self):
        a = norm(raw())
        b = norm(raw(observed_at=AT.astimezone(UTC)))  # same instant, other offset
        assert isinstance(a, Reading)
        assert isinstance(b, Reading)
        assert classify_retry(a, b) is RetryKind.DUPLICATE

    def test_other_value_is_a_conflict(self):
        a, b = norm(raw(value=97)), norm(raw(value=96))
        assert isinstance(a, Reading)
        assert isinstance(b, Reading)
        assert classify_retry(a, b) is RetryKind.CONFLICT

    def test_the_same_pressure_sent_in_kpa_is_a_duplicate(self):
        a, b = norm(raw("sbp", 120, "mm[Hg]")), norm(raw("sbp", 16.0, "kPa"))
        assert isinstance(a, Reading)
        assert isinstance(b, Reading)
        assert classify_retry(a, b) is RetryKind.DUPLICATE


class TestOrderAndSkew:
    @given(st.permutations(list(range(6))))
    def test_evaluation_order_ignores_batch_order(self, order):
        readings = [
            norm(
                raw("hr", 60 + i, "/min", observed_at=AT + timedelta(seconds=i), source_id=f"r{i}")
            )
            for i in range(6)
        ]
        shuffled = [readings[i] for i in order]
        assert evaluation_order(shuffled) == evaluation_order(readings)  # type: ignore[arg-type]
        assert [r.source_id for r in evaluation_order(shuffled)] == [f"r{i}" for i in range(6)]  # type: ignore[arg-type]

    def test_backlog_with_fresh_sent_at_is_not_skew(self):
        skew = clock_skew_s(
            received_at=RECEIVED,
            sent_at=RECEIVED - timedelta(seconds=1),
            newest_observed_at=RECEIVED - timedelta(hours=2),
        )
        assert skew == 1.0
        assert not is_clock_skewed(skew, limit_s=30)

    def test_device_clock_behind_is_skew(self):
        skew = clock_skew_s(
            received_at=RECEIVED, sent_at=RECEIVED - timedelta(seconds=45), newest_observed_at=None
        )
        assert is_clock_skewed(skew, limit_s=30)

    def test_device_clock_ahead_is_skew(self):
        skew = clock_skew_s(
            received_at=RECEIVED, sent_at=None, newest_observed_at=RECEIVED + timedelta(seconds=31)
        )
        assert skew == -31.0
        assert is_clock_skewed(skew, limit_s=30)

    def test_unknown_is_not_skew(self):
        assert clock_skew_s(received_at=RECEIVED, sent_at=None, newest_observed_at=None) is None
        assert not is_clock_skewed(None, limit_s=30)
