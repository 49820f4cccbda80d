"""Pure rules for incoming vital-sign readings: units, plausibility, NIBP consistency, duplicate
versus conflicting retries, evaluation order and device clock skew (DESIGN §6, issue 6).

The plausibility ranges below are measurement limits (what a monitor can physically report),
not clinical thresholds: alarm limits live in the protocol files.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from app.protocols.domain import NIBP_METRICS, Metric

# A reading dated later than this past its arrival is refused: the device clock is wrong.
FUTURE_TOLERANCE = timedelta(minutes=5)


class RejectCode(StrEnum):
    """Machine codes of a rejected reading (documented for integrators in the README)."""

    UNKNOWN_METRIC = "unknown_metric"
    UNKNOWN_UNIT = "unknown_unit"
    NOT_A_NUMBER = "not_a_number"
    IMPLAUSIBLE_VALUE = "implausible_value"
    DBP_NOT_BELOW_SBP = "dbp_not_below_sbp"
    MISSING_OFFSET = "missing_offset"
    FUTURE_OBSERVED_AT = "future_observed_at"


CANONICAL_UNIT: Mapping[Metric, str] = {
    Metric.SBP: "mm[Hg]",
    Metric.DBP: "mm[Hg]",
    Metric.MAP: "mm[Hg]",
    Metric.HR: "/min",
    Metric.PR: "/min",
    Metric.SPO2: "%",
    Metric.RR: "/min",
    Metric.TEMP: "Cel",
}

_MMHG_PER_KPA = 7.500615758


def _same(value: float) -> float:
    return value


def _kpa_to_mmhg(value: float) -> float:
    return round(value * _MMHG_PER_KPA, 1)


def _degf_to_cel(value: float) -> float:
    return round((value - 32.0) * 5.0 / 9.0, 2)


_PRESSURE = {"mm[Hg]": _same, "kPa": _kpa_to_mmhg}
_BEATS = {"/min": _same, "{beat}/min": _same, "{beats}/min": _same}
_BREATHS = {"/min": _same, "{breath}/min": _same, "{breaths}/min": _same}

# UCUM units accepted per metric, each with its conversion to the canonical unit.
UNIT_CONVERSIONS: Mapping[Metric, Mapping[str, Callable[[float], float]]] = {
    Metric.SBP: _PRESSURE,
    Metric.DBP: _PRESSURE,
    Metric.MAP: _PRESSURE,
    Metric.HR: _BEATS,
    Metric.PR: _BEATS,
    Metric.SPO2: {"%": _same},
    Metric.RR: _BREATHS,
    Metric.TEMP: {"Cel": _same, "[degF]": _degf_to_cel},
}

# Inclusive ranges a monitor can report, in the canonical unit (see the module docstring).
PLAUSIBLE: Mapping[Metric, tuple[float, float]] = {
    Metric.SBP: (30.0, 300.0),
    Metric.DBP: (10.0, 250.0),
    Metric.MAP: (20.0, 270.0),
    Metric.HR: (15.0, 300.0),
    Metric.PR: (15.0, 300.0),
    Metric.SPO2: (30.0, 100.0),
    Metric.RR: (0.0, 80.0),
    Metric.TEMP: (25.0, 45.0),
}


@dataclass(frozen=True, slots=True)
class RawReading:
    """A reading as a device sent it (any unit, any offset, maybe without one)."""

    source_id: str
    metric: str
    value: float
    unit: str
    observed_at: datetime
    measurement_id: str | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """An accepted reading in canonical units, observed_at in UTC with the sender's offset kept."""

    source_id: str
    metric: Metric
    value: float
    unit: str
    observed_at: datetime
    utc_offset_minutes: int
    measurement_id: str | None
    original_value: float
    original_unit: str

    def content_key(self) -> tuple[object, ...]:
        """What must match for a retry to be a duplicate rather than a conflict."""
        return (self.metric, self.value, self.unit, self.observed_at, self.measurement_id)


@dataclass(frozen=True, slots=True)
class Rejection:
    source_id: str
    code: RejectCode
    message: str


def normalize(
    raw: RawReading, *, received_at: datetime, future_tolerance: timedelta
) -> Reading | Rejection:
    """Validate one reading and convert it to canonical units (DESIGN §6).

    Rules: the metric and its UCUM unit must be known (kPa → mm[Hg], [degF] → Cel converted);
    observed_at must carry an offset and be no later than received_at + future_tolerance (5 min
    in issue 6); the converted value must be a finite number inside the measurement range.
    """
    try:
        metric = Metric(raw.metric)
    except ValueError:
        known = ", ".join(m.value for m in Metric)
        return Rejection(
            raw.source_id,
            RejectCode.UNKNOWN_METRIC,
            f"unknown metric {raw.metric!r} (known: {known})",
        )
    conversions = UNIT_CONVERSIONS[metric]
    convert = conversions.get(raw.unit)
    if convert is None:
        allowed = ", ".join(conversions)
        return Rejection(
            raw.source_id,
            RejectCode.UNKNOWN_UNIT,
            f"unit {raw.unit!r} is not accepted for {metric.value} (UCUM: {allowed})",
        )
    offset = raw.observed_at.utcoffset()
    if offset is None:
        return Rejection(
            raw.source_id,
            RejectCode.MISSING_OFFSET,
            "observed_at has no UTC offset (send e.g. 2026-11-23T10:00:00.250+01:00)",
        )
    observed_utc = raw.observed_at.astimezone(UTC)
    if observed_utc > received_at + future_tolerance:
        return Rejection(
            raw.source_id,
            RejectCode.FUTURE_OBSERVED_AT,
            f"observed_at is more than {int(future_tolerance.total_seconds())} s after the server "
            "received it; check the device clock",
        )
    if isinstance(raw.value, bool) or not math.isfinite(raw.value):
        return Rejection(raw.source_id, RejectCode.NOT_A_NUMBER, "value must be a finite number")
    value = convert(float(raw.value))
    low, high = PLAUSIBLE[metric]
    if not low <= value <= high:
        return Rejection(
            raw.source_id,
            RejectCode.IMPLAUSIBLE_VALUE,
            f"{metric.value} {value:g} {CANONICAL_UNIT[metric]} is outside the measurable "
            f"{low:g}–{high:g}",
        )
    return Reading(
        source_id=raw.source_id,
        metric=metric,
        value=value,
        unit=CANONICAL_UNIT[metric],
        observed_at=observed_utc,
        utc_offset_minutes=int(offset.total_seconds() // 60),
        measurement_id=raw.measurement_id,
        original_value=float(raw.value),
        original_unit=raw.unit,
    )


def _measurement_key(reading: Reading) -> tuple[str, object]:
    # One NIBP measurement: the same measurement_id, or else the same observed_at.
    if reading.measurement_id is not None:
        return ("id", reading.measurement_id)
    return ("at", reading.observed_at)


def validate_batch(
    raws: Sequence[RawReading], *, received_at: datetime, future_tolerance: timedelta
) -> tuple[Reading | Rejection, ...]:
    """Normalize every reading, in order; one bad reading never rejects the others, except that
    an NIBP measurement whose DBP is not below its SBP is rejected whole (both readings)."""
    results: list[Reading | Rejection] = [
        normalize(r, received_at=received_at, future_tolerance=future_tolerance) for r in raws
    ]
    groups: dict[tuple[str, object], dict[Metric, list[tuple[int, Reading]]]] = {}
    for index, item in enumerate(results):
        if isinstance(item, Reading) and item.metric in NIBP_METRICS:
            group = groups.setdefault(_measurement_key(item), {})
            group.setdefault(item.metric, []).append((index, item))
    for members in groups.values():
        sbps, dbps = members.get(Metric.SBP, []), members.get(Metric.DBP, [])
        if not sbps or not dbps:
            continue
        sbp, dbp = sbps[0][1], dbps[0][1]
        if dbp.value >= sbp.value:
            message = f"DBP {dbp.value:g} is not below SBP {sbp.value:g} in one NIBP measurement"
            for index, reading in (*sbps, *dbps):
                results[index] = Rejection(reading.source_id, RejectCode.DBP_NOT_BELOW_SBP, message)
    return tuple(results)


class RetryKind(StrEnum):
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"


def classify_retry(stored: Reading, incoming: Reading) -> RetryKind:
    """Same key seen before: a duplicate when the content matches (nothing changes), else a
    conflict (nothing is stored; the first version stands)."""
    return (
        RetryKind.DUPLICATE
        if stored.content_key() == incoming.content_key()
        else RetryKind.CONFLICT
    )


def evaluation_order(readings: Sequence[Reading]) -> tuple[Reading, ...]:
    """Readings of one batch in device-time order, so their order in the batch does not matter
    (DESIGN §7); ties broken by metric and the device's id for determinism."""
    return tuple(sorted(readings, key=lambda r: (r.observed_at, r.metric.value, r.source_id)))


def clock_skew_s(
    *, received_at: datetime, sent_at: datetime | None, newest_observed_at: datetime | None
) -> float | None:
    """Device clock error estimate in seconds (positive: device behind the server).

    With ``sent_at`` it is received − sent, so a store-and-forward backlog (old observed_at,
    fresh sent_at) is not skew. Without it, the newest reading of the message stands in for the
    send time. None when neither is known.
    """
    reference = sent_at if sent_at is not None else newest_observed_at
    if reference is None:
        return None
    return (received_at - reference).total_seconds()


def is_clock_skewed(skew_s: float | None, *, limit_s: float) -> bool:
    """Skewed when the estimate is beyond the protocol's limit either way (default 30 s)."""
    return skew_s is not None and abs(skew_s) > limit_s


@dataclass(frozen=True, slots=True)
class SessionWindow:
    """A session's monitoring window on a chair: check-in to discharge (open while active)."""

    session_id: str
    start: datetime
    end: datetime | None


def route(windows: Sequence[SessionWindow], observed_at: datetime) -> str | None:
    """The session whose window contains ``observed_at`` (start inclusive, end exclusive), else
    None: a reading outside every session is unrouted, never filed under the next patient."""
    for window in sorted(windows, key=lambda w: w.start, reverse=True):
        if window.start <= observed_at and (window.end is None or observed_at < window.end):
            return window.session_id
    return None
