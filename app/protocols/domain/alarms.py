"""Alarm rule value objects in the schema of issue 7 (DESIGN §7, clinical.md §7.5, §9).

The alerts domain evaluates these (onset delay, hysteresis, latching); this module only holds
the rules and the arithmetic of a single limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.protocols.domain.common import (
    CONTINUOUS_METRICS,
    Comparator,
    Metric,
    Phase,
    Priority,
    compare,
)


@dataclass(frozen=True, slots=True)
class AlarmRule:
    """One physiological alarm rule (protocol file `[[alarms.rules]]`).

    Exactly one of `limit` (absolute, in the metric's UCUM unit) or `baseline_offset` (added to
    the session's frozen baseline value) is set. `max_gap_s` is None for single-measurement
    (NIBP) metrics. Times are seconds of device time.
    """

    id: str
    phases: frozenset[Phase]
    metric: Metric
    comparator: Comparator
    priority: Priority
    onset_delay_s: int
    hysteresis_margin: float
    clear_time_s: int
    latching: bool
    action: str
    limit: float | None = None
    baseline_offset: float | None = None
    max_gap_s: int | None = None

    def __post_init__(self) -> None:
        if (self.limit is None) == (self.baseline_offset is None):
            raise ValueError(f"alarm rule {self.id}: set exactly one of limit or baseline_offset")
        if self.onset_delay_s < 0 or self.clear_time_s < 0 or self.hysteresis_margin < 0:
            raise ValueError(f"alarm rule {self.id}: delays and margin must be non-negative")
        if not self.phases:
            raise ValueError(f"alarm rule {self.id}: needs at least one phase")
        if self.is_continuous and (self.max_gap_s is None or self.max_gap_s <= 0):
            raise ValueError(f"alarm rule {self.id}: continuous metrics need a positive max_gap_s")

    @property
    def is_continuous(self) -> bool:
        """True for streamed metrics (SpO2, HR, PR, RR), False for single measurements (NIBP)."""
        return self.metric in CONTINUOUS_METRICS

    def applies_in(self, phase: Phase) -> bool:
        """Whether the rule is active in `phase` (protocol `phases`; none before check-in)."""
        return phase in self.phases

    def limit_in_force(self, baseline: float | None) -> float | None:
        """The absolute limit for this session: `limit`, or baseline + `baseline_offset`.

        Rule: relative limits use the session's frozen pre-infusion baseline (DESIGN §5, §7).
        Returns None when the rule is relative and the session has no baseline for the metric.
        """
        if self.limit is not None:
            return self.limit
        if baseline is None or self.baseline_offset is None:
            return None
        return baseline + self.baseline_offset

    def breached(self, value: float, limit: float) -> bool:
        """Whether one reading meets the alarm condition `value <comparator> limit`."""
        return compare(self.comparator, value, limit)

    def clears(self, value: float, limit: float) -> bool:
        """Whether one reading is past the limit by the hysteresis margin (issue 7 point 4).

        Rule: a low rule (`<`, `<=`) clears when the value no longer meets the condition against
        limit + margin; a high rule (`>`, `>=`) against limit − margin. With margin 0 this is
        simply "not breached". Example: `spo2 < 92`, margin 1 → clears at ≥ 93 %.
        """
        shifted = (
            limit + self.hysteresis_margin
            if self.comparator.is_low
            else limit - self.hysteresis_margin
        )
        return not compare(self.comparator, value, shifted)


@dataclass(frozen=True, slots=True)
class TechnicalAlarmSettings:
    """Technical alarm settings (protocol `[alarms.technical]`; DESIGN §7, issue 7 point 8).

    Seconds of server time, from check-in to discharge.
    """

    no_data_metrics: frozenset[Metric]
    no_data_medium_s: int
    no_data_high_s: int
    nibp_overdue_grace_s: int
    device_silent_s: int
    device_offline_priority: Priority
    clock_skew_limit_s: int
    clock_skew_priority: Priority
    no_board_priority: Priority

    def __post_init__(self) -> None:
        if not 0 < self.no_data_medium_s < self.no_data_high_s:
            raise ValueError("no_data_medium_s must be positive and below no_data_high_s")


@dataclass(frozen=True, slots=True)
class EscalationSettings:
    """Acknowledgement, silence and escalation timing in seconds (protocol `[alarms.escalation]`)."""

    high_unacknowledged_s: int
    medium_unacknowledged_s: int
    silence_s: int
    reannunciate_after_ack_s: int


@dataclass(frozen=True, slots=True)
class AlarmSettings:
    """All alarm settings of a protocol: rules, heart-rate source order, technical, escalation."""

    rules: tuple[AlarmRule, ...]
    heart_rate_sources: tuple[Metric, ...]
    technical: TechnicalAlarmSettings
    escalation: EscalationSettings

    def rules_for(self, phase: Phase, metric: Metric | None = None) -> tuple[AlarmRule, ...]:
        """Rules active in `phase` (optionally for one metric), in file order.

        Rule: no threshold alarms outside the monitored phases (issue 7 point 1).
        """
        return tuple(
            rule
            for rule in self.rules
            if rule.applies_in(phase) and (metric is None or rule.metric is metric)
        )
