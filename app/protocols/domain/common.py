"""Shared vocabulary of the protocol domain: phases, metrics, comparators, rounding.

Pure module: stdlib only, no clock, no I/O.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal
from enum import StrEnum

# Enough digits that intermediate dose arithmetic is exact for every plausible input; results
# are rounded once, at the end, with ROUND_HALF_UP (DESIGN §3).
DOSE_CONTEXT = Context(prec=40, rounding=ROUND_HALF_UP)
TENTH = Decimal("0.1")
HUNDREDTH = Decimal("0.01")
MICROSECONDS_PER_HOUR = 3_600_000_000
MICROSECONDS_PER_MINUTE = 60_000_000


class Phase(StrEnum):
    """Session phases in which a monitor is expected and protocol rules apply (DESIGN §5, §7)."""

    CHECKED_IN = "checked_in"
    INFUSING = "infusing"
    PAUSED = "paused"
    STOPPED = "stopped"
    RECOVERY = "recovery"


class Metric(StrEnum):
    """Vital-sign metrics (DESIGN §6); `pr` is pulse rate from an oximeter or NIBP cuff."""

    SBP = "sbp"
    DBP = "dbp"
    MAP = "map"
    HR = "hr"
    PR = "pr"
    SPO2 = "spo2"
    RR = "rr"
    TEMP = "temp"


NIBP_METRICS = frozenset({Metric.SBP, Metric.DBP, Metric.MAP})
"""Single-measurement metrics: one reading raises and one reading clears (issue 7)."""

CONTINUOUS_METRICS = frozenset({Metric.HR, Metric.PR, Metric.SPO2, Metric.RR})
"""Streamed metrics: onset delay, max gap and clear time apply (issue 7)."""


class Comparator(StrEnum):
    """Comparison of a reading against a limit; the reading is on the left (`spo2 < 92`)."""

    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="

    @property
    def is_low(self) -> bool:
        """True for low-limit comparators (`<`, `<=`): the condition is a value below a limit."""
        return self in (Comparator.LT, Comparator.LE)


class Priority(StrEnum):
    """Alarm priority per IEC 60601-1-8 (clinical.md §7.5 [T12]); IHE codes PL/PM/PH [T10]."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        """Ordinal used to check that an episode's priority only rises (DESIGN §7)."""
        return {Priority.LOW: 1, Priority.MEDIUM: 2, Priority.HIGH: 3}[self]


def compare(comparator: Comparator, value: float | Decimal, limit: float | Decimal) -> bool:
    """Return whether `value <comparator> limit` holds.

    Rule: a protocol condition such as `spo2 < 92` or `sbp >= 160` is met when this returns True.
    Units are those of the metric (UCUM, clinical.md §7.4). Source: protocol file `comparator`.
    """
    if comparator is Comparator.LT:
        return value < limit
    if comparator is Comparator.LE:
        return value <= limit
    if comparator is Comparator.GT:
        return value > limit
    return value >= limit


def require_aware(name: str, moment: datetime) -> None:
    """Raise ValueError unless `moment` is timezone-aware.

    Rule: every instant in the system is timezone-aware UTC (STYLE §3 Time); naive datetimes are
    refused rather than guessed.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"{name} must be a timezone-aware datetime, got naive {moment.isoformat()}"
        )


def round_tenth(value: Decimal) -> Decimal:
    """Round to 0.1 with ROUND_HALF_UP (mg, mg/h, mL, mL/h, minutes; DESIGN §3, issue 4)."""
    return value.quantize(TENTH, rounding=ROUND_HALF_UP)


def round_hundredth(value: Decimal) -> Decimal:
    """Round to 0.01 with ROUND_HALF_UP (concentration in mg/mL; DESIGN §3, issue 4)."""
    return value.quantize(HUNDREDTH, rounding=ROUND_HALF_UP)


def microseconds_between(start: datetime, end: datetime) -> int:
    """Exact elapsed time from `start` to `end` in integer microseconds (negative if reversed).

    Rule: delivered dose = rate (mg/h) × time; integer microseconds keep that product exact.
    """
    return (end - start) // timedelta(microseconds=1)
