"""Protocol rules used around an infusion session: pre-session gates, checkpoints, course,
titration, recovery and discharge criteria, outcome definitions (DESIGN §3, §5, §10).

Pure value objects plus the small calculations that belong to the protocol itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from enum import StrEnum

from app.protocols.domain.common import (
    DOSE_CONTEXT,
    Comparator,
    Metric,
    Phase,
    compare,
    require_aware,
    round_tenth,
)

# Pre-session gates --------------------------------------------------------------------------


class GateOutcome(StrEnum):
    """What a triggered pre-session gate does (DESIGN §5, clinical.md §9 `pre_session`)."""

    BLOCK = "block"
    REPEAT_THEN_BLOCK = "repeat_then_block"
    PHYSICIAN_ACK = "physician_ack"


class GateStatus(StrEnum):
    """Overall result of the pre-session gates, most restrictive first."""

    BLOCKED = "blocked"
    REPEAT_REQUIRED = "repeat_required"
    PHYSICIAN_ACK_REQUIRED = "physician_ack_required"
    CLEAR = "clear"


@dataclass(frozen=True, slots=True)
class PreSessionGate:
    """A check-in rule: if `metric <comparator> limit` then `outcome` (protocol `[[pre_session.gates]]`)."""

    id: str
    metric: Metric
    comparator: Comparator
    limit: float
    outcome: GateOutcome
    message: str

    def triggered(self, value: float) -> bool:
        """Whether a pre-infusion reading meets this gate's condition (units of the metric)."""
        return compare(self.comparator, value, self.limit)


@dataclass(frozen=True, slots=True)
class PreSessionRules:
    """Check-in rules: gates, repeat interval (min), fasting (h) and checklist item ids."""

    gates: tuple[PreSessionGate, ...]
    repeat_after_minutes: int
    fasting_solids_hours: int
    fasting_clear_fluids_hours: int
    checklist: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GateDecision:
    """Result of the gates: status, the gates that triggered and the metrics still missing."""

    status: GateStatus
    triggered: tuple[PreSessionGate, ...]
    missing_metrics: tuple[Metric, ...]


def evaluate_pre_session_gates(
    rules: PreSessionRules, readings: dict[Metric, float], *, is_repeat: bool
) -> GateDecision:
    """Apply the pre-session gates to the pre-infusion readings.

    Rule (DESIGN §5, clinical.md §2.5, §9): a `block` gate blocks; a `repeat_then_block` gate
    (default SBP > 180 or DBP > 100 mmHg [S14]) first asks for a repeat after
    `repeat_after_minutes` and blocks if the repeat (`is_repeat=True`) still triggers it; a
    `physician_ack` gate (default > 140/90 [S16][S47]) needs a physician's acknowledgement. A
    metric that a gate needs but that has no reading blocks until it is recorded.
    """
    triggered = tuple(
        gate
        for gate in rules.gates
        if gate.metric in readings and gate.triggered(readings[gate.metric])
    )
    missing = tuple(dict.fromkeys(g.metric for g in rules.gates if g.metric not in readings))
    outcomes = {gate.outcome for gate in triggered}
    if missing or GateOutcome.BLOCK in outcomes:
        status = GateStatus.BLOCKED
    elif GateOutcome.REPEAT_THEN_BLOCK in outcomes:
        status = GateStatus.BLOCKED if is_repeat else GateStatus.REPEAT_REQUIRED
    elif GateOutcome.PHYSICIAN_ACK in outcomes:
        status = GateStatus.PHYSICIAN_ACK_REQUIRED
    else:
        status = GateStatus.CLEAR
    return GateDecision(status=status, triggered=triggered, missing_metrics=missing)


# Checkpoints ---------------------------------------------------------------------------------


class CheckpointAnchor(StrEnum):
    """When a one-off checkpoint is due."""

    BEFORE_START = "before_start"
    AFTER_START = "after_start"
    BEFORE_DISCHARGE = "before_discharge"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A due observation (protocol `[[checkpoints]]`, issue 5 point 7).

    Recurring: every `interval_minutes` while the session is in one of `phases`. One-off: at
    `anchor` (+ `offset_minutes` after the infusion start). Overdue after `grace_minutes`.
    """

    id: str
    item: str
    grace_minutes: int
    phases: frozenset[Phase] = frozenset()
    interval_minutes: int | None = None
    anchor: CheckpointAnchor | None = None
    offset_minutes: int = 0

    def __post_init__(self) -> None:
        recurring = self.interval_minutes is not None
        if recurring == (self.anchor is not None):
            raise ValueError(f"checkpoint {self.id}: set either interval_minutes or anchor")
        if recurring and not self.phases:
            raise ValueError(f"checkpoint {self.id}: a recurring checkpoint needs phases")

    @property
    def is_recurring(self) -> bool:
        """True for interval checkpoints (e.g. NIBP every 10 min), False for one-off ones."""
        return self.interval_minutes is not None


# Course and titration ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CourseRules:
    """Course length and spacing (protocol `[course]`, clinical.md §1.6, §9)."""

    induction_infusions: int
    induction_weeks: int
    min_hours_between_infusions: int
    futility_review_after_infusions: int
    maintenance_max_months: int


def earliest_next_infusion_at(rules: CourseRules, previous_infusion_at: datetime) -> datetime:
    """Earliest instant the next infusion of a course may start.

    Rule: at least `min_hours_between_infusions` (default 48 h, alternate days [S29]) after the
    previous infusion's start. Units: hours; instants timezone-aware.
    """
    require_aware("previous_infusion_at", previous_infusion_at)
    return previous_infusion_at + timedelta(hours=rules.min_hours_between_infusions)


@dataclass(frozen=True, slots=True)
class TitrationRules:
    """Dose steps and step rules (protocol `[titration]`, clinical.md §1.4–1.5, §9)."""

    steps_mg_per_kg: tuple[Decimal, ...]
    step_up_after_infusions: int
    step_up_if_improvement_below_pct: Decimal
    step_up_blocked_if_cadss_ge: int
    step_down_mg_per_kg: Decimal
    min_mg_per_kg: Decimal
    physician_max_mg_per_kg: Decimal
    rate_reduction_factor: Decimal


class DoseStepDecision(StrEnum):
    """Proposal for the next infusion's dose step (a physician orders it; issue 5 point 2)."""

    KEEP = "keep"
    STEP_UP = "step_up"


@dataclass(frozen=True, slots=True)
class DoseStepProposal:
    """Proposed mg/kg for the next infusion with the reason in words."""

    decision: DoseStepDecision
    mg_per_kg: Decimal
    reason: str


def propose_dose_step(
    rules: TitrationRules,
    *,
    current_mg_per_kg: Decimal,
    infusions_given: int,
    madrs_baseline: int | None,
    madrs_latest: int | None,
    last_cadss_total: int | None,
) -> DoseStepProposal:
    """Propose the dose step for the next infusion.

    Rule (clinical.md §1.4 [S20], §9): after `step_up_after_infusions` infusions (3) with a MADRS
    improvement below `step_up_if_improvement_below_pct` (50 %), propose the next step in
    `steps_mg_per_kg` (0.5 → 0.75 mg/kg), unless the last CADSS total was ≥
    `step_up_blocked_if_cadss_ge` (30, [INFERENCE]). A dose that is not a step (e.g. reduced after
    dissociation) is kept. Missing MADRS or CADSS keeps the dose. Improvement % =
    (baseline − latest) / baseline × 100. It is only a proposal: a physician orders the dose.
    """

    def keep(reason: str) -> DoseStepProposal:
        return DoseStepProposal(DoseStepDecision.KEEP, current_mg_per_kg, reason)

    if current_mg_per_kg not in rules.steps_mg_per_kg:
        return keep("current dose is not a titration step; no automatic step-up")
    index = rules.steps_mg_per_kg.index(current_mg_per_kg)
    if index == len(rules.steps_mg_per_kg) - 1:
        return keep("already at the highest titration step")
    if infusions_given < rules.step_up_after_infusions:
        return keep(f"{infusions_given} of {rules.step_up_after_infusions} infusions before review")
    if madrs_baseline is None or madrs_latest is None or madrs_baseline <= 0:
        return keep("MADRS baseline and latest score are needed to judge improvement")
    with localcontext(DOSE_CONTEXT):
        improvement_pct = Decimal(madrs_baseline - madrs_latest) * 100 / madrs_baseline
    if improvement_pct >= rules.step_up_if_improvement_below_pct:
        return keep(f"MADRS improved {round_tenth(improvement_pct)} %: no step-up needed")
    if last_cadss_total is None:
        return keep("last CADSS total missing: step-up needs it")
    if last_cadss_total >= rules.step_up_blocked_if_cadss_ge:
        return keep(
            f"last CADSS {last_cadss_total} ≥ {rules.step_up_blocked_if_cadss_ge}: no step-up"
        )
    following = rules.steps_mg_per_kg[index + 1]
    return DoseStepProposal(
        DoseStepDecision.STEP_UP,
        following,
        f"MADRS improved {round_tenth(improvement_pct)} % (< "
        f"{rules.step_up_if_improvement_below_pct} %) after {infusions_given} infusions: "
        f"step up to {following} mg/kg",
    )


def step_down_mg_per_kg(rules: TitrationRules, current_mg_per_kg: Decimal) -> Decimal:
    """Next lower dose after too intense dissociation.

    Rule (clinical.md §1.5, §9 [INFERENCE]): current − `step_down_mg_per_kg` (0.1 mg/kg), never
    below `min_mg_per_kg` (0.1 mg/kg, the lowest dose with reported response [S17]).
    """
    return max(rules.min_mg_per_kg, current_mg_per_kg - rules.step_down_mg_per_kg)


def reduced_rate_mg_per_h(rules: TitrationRules, current_rate_mg_per_h: Decimal) -> Decimal:
    """Suggested rate when a nurse reduces a running infusion (distressing dissociation).

    Rule (clinical.md §9 actions "halve_rate_or_pause" [S15][S47c]): current rate ×
    `rate_reduction_factor` (0.5), rounded half-up to 0.1 mg/h.
    """
    with localcontext(DOSE_CONTEXT):
        return round_tenth(current_rate_mg_per_h * rules.rate_reduction_factor)


# Recovery, discharge and outcomes ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DischargeAdvice:
    """Advice given at discharge (clinical.md §5 [S16][S47])."""

    no_driving_until: str
    no_alcohol_hours: int
    avoid_benzodiazepine_opioid_hours: int
    no_important_decisions_hours: int


@dataclass(frozen=True, slots=True)
class DischargeCriteria:
    """Recovery time and discharge criteria (protocol `[recovery]`, `[discharge]`; DESIGN §5)."""

    min_observation_minutes: int
    aldrete_modified_min: int
    spo2_min_pct: float
    bp_within_pct_of_baseline: float
    bp_below_medium_alarm_limits: bool
    cadss_at_or_below_pre: bool
    escort_required: bool
    physician_evaluation_required: bool
    alarms_cleared_required: bool
    advice: DischargeAdvice


@dataclass(frozen=True, slots=True)
class OutcomeDefinitions:
    """Course outcome scales and definitions (protocol `[scales]`, DESIGN §10, clinical.md §4)."""

    primary_scale: str
    self_report_scale: str
    schedule: tuple[str, ...]
    response_improvement_pct: int
    remission_madrs_max: int
    remission_phq9_below: int
    mania_ymrs_flag_above: int
