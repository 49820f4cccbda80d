"""Start gating: every reason the infusion cannot start yet (DESIGN §5, issue 5 points 2–3).

Pure: the service loads the screening result, vitals, checklist, weight, CADSS and previous
infusions, and passes them in with `now`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.protocols.domain import (
    DoseRefused,
    GateDecision,
    GateOutcome,
    Metric,
    PreSessionGate,
    PreSessionRules,
    ProtocolDefinition,
    WeightMeasurement,
    check_weight,
    evaluate_pre_session_gates,
)
from app.protocols.domain.common import require_aware
from app.sessions.domain.blockers import Blocker, BlockerCode
from app.sessions.domain.course import course_position


@dataclass(frozen=True, slots=True)
class VitalsSet:
    """Pre-infusion vital signs taken together at `taken_at` (mmHg, /min, %, Cel)."""

    taken_at: datetime
    readings: Mapping[Metric, float]


def gate_readings(
    readings: Mapping[Metric, float], heart_rate_sources: Sequence[Metric]
) -> dict[Metric, float]:
    """Readings as the pre-session gates see them, with heart rate filled from its sources.

    Rule (protocol `alarms.heart_rate_sources`, default ["hr", "pr"]; DESIGN §7): the HR gates
    read `hr` (ECG) and, when there is none, the first other source present (`pr`, pulse rate
    from the oximeter or cuff). Other metrics pass through unchanged.
    """
    result = dict(readings)
    for source in heart_rate_sources:
        if source in readings:
            result[Metric.HR] = readings[source]
            break
    return result


@dataclass(frozen=True, slots=True)
class PreVitalsAssessment:
    """The pre-session gates applied to every pre-infusion vitals set in time order.

    `in_force` is the latest set: it decides the gates and becomes the frozen baseline.
    `repeat_due_at` is set while a repeat measurement is still needed; `repeat_gates` are the
    gates that asked for it. `failed_gates` are set when a valid repeat still triggered them:
    the start is then refused for this session.
    """

    in_force: VitalsSet | None
    decision: GateDecision | None
    repeat_due_at: datetime | None = None
    repeat_gates: tuple[PreSessionGate, ...] = ()
    failed_gates: tuple[PreSessionGate, ...] = ()


def _repeat_gates(decision: GateDecision) -> tuple[PreSessionGate, ...]:
    return tuple(g for g in decision.triggered if g.outcome is GateOutcome.REPEAT_THEN_BLOCK)


def assess_pre_vitals(
    rules: PreSessionRules,
    pre_vitals: Sequence[VitalsSet],
    *,
    heart_rate_sources: Sequence[Metric],
) -> PreVitalsAssessment:
    """Apply the pre-session gates across the pre-infusion measurements of a session.

    Rule (DESIGN §5, clinical.md §2.5, §9): a `repeat_then_block` gate (SBP > 180 or DBP > 100
    mmHg [S14]) asks for a repeat at least `repeat_after_minutes` (5 min) after the first
    reading that triggered it; an earlier re-measurement does not count. If the valid repeat
    still triggers such a gate the start is refused for the session (a later, lower reading
    does not lift it: "no ketamine that session" [S47]). `block` gates and `physician_ack` gates
    are judged on the latest set. Heart rate per `gate_readings`.
    """
    for index, vitals in enumerate(pre_vitals):
        require_aware(f"pre_vitals[{index}].taken_at", vitals.taken_at)
    ordered = sorted(pre_vitals, key=lambda s: s.taken_at)
    repeat_after = timedelta(minutes=rules.repeat_after_minutes)
    pending: tuple[datetime, tuple[PreSessionGate, ...]] | None = None
    failed: tuple[PreSessionGate, ...] = ()
    decision: GateDecision | None = None
    for vitals in ordered:
        readings = gate_readings(vitals.readings, heart_rate_sources)
        is_repeat = pending is not None and vitals.taken_at >= pending[0] + repeat_after
        decision = evaluate_pre_session_gates(rules, readings, is_repeat=is_repeat)
        triggered = _repeat_gates(decision)
        if is_repeat:
            pending = None
            if triggered and not failed:
                failed = triggered
        elif triggered and pending is None:
            pending = (vitals.taken_at, triggered)
    return PreVitalsAssessment(
        in_force=ordered[-1] if ordered else None,
        decision=decision,
        repeat_due_at=None if pending is None else pending[0] + repeat_after,
        repeat_gates=() if pending is None else pending[1],
        failed_gates=failed,
    )


@dataclass(frozen=True, slots=True)
class StartInputs:
    """What the service loaded to decide whether the infusion may start.

    `screening_eligible`/`screening_reason`: the eligibility endpoint's answer at this time.
    `pre_vitals`: every pre-infusion vitals set of the session. `physician_ack_at`: when a
    physician acknowledged elevated BP on this session. `checklist_confirmed`: confirmed ids of
    the protocol's `pre_session.checklist`. `weight`: the dosing weight. `pre_cadss_total`: the
    pre-infusion CADSS. `previous_infusion_starts`: starts of earlier infusions of the course.
    """

    screening_eligible: bool
    screening_reason: str
    pre_vitals: tuple[VitalsSet, ...]
    checklist_confirmed: frozenset[str]
    weight: WeightMeasurement | None
    pre_cadss_total: int | None
    previous_infusion_starts: tuple[datetime, ...] = ()
    physician_ack_at: datetime | None = None


def _gate_text(gates: Sequence[PreSessionGate]) -> str:
    return "; ".join(gate.message for gate in gates)


def _vitals_blockers(protocol: ProtocolDefinition, inputs: StartInputs) -> list[Blocker]:
    rules = protocol.pre_session
    assessment = assess_pre_vitals(
        rules, inputs.pre_vitals, heart_rate_sources=protocol.alarms.heart_rate_sources
    )
    if assessment.in_force is None or assessment.decision is None:
        return [
            Blocker(
                BlockerCode.BASELINE_VITALS_MISSING,
                "no pre-infusion vital signs recorded",
                "record pre-infusion vital signs (they become the session's baseline)",
            )
        ]
    blockers = [
        Blocker(
            BlockerCode.VITAL_MISSING,
            f"pre-infusion {metric} missing",
            f"record a pre-infusion {metric} reading",
            subject=str(metric),
        )
        for metric in assessment.decision.missing_metrics
    ]
    blockers += [
        Blocker(
            BlockerCode.VITAL_GATE,
            gate.message,
            f"a new reading with {gate.metric} not {gate.comparator} {gate.limit:g}",
            subject=gate.id,
        )
        for gate in assessment.decision.triggered
        if gate.outcome is GateOutcome.BLOCK
    ]
    if assessment.failed_gates:
        blockers.append(
            Blocker(
                BlockerCode.REPEAT_STILL_ABOVE,
                f"still above on the repeat measurement: {_gate_text(assessment.failed_gates)}",
                "none in this session: cancel it and reschedule after BP treatment",
                subject=",".join(g.id for g in assessment.failed_gates),
                final=True,
            )
        )
    elif assessment.repeat_due_at is not None:
        due = assessment.repeat_due_at
        blockers.append(
            Blocker(
                BlockerCode.REPEAT_REQUIRED,
                f"repeat required: {_gate_text(assessment.repeat_gates)}",
                f"repeat the measurement at or after {due.isoformat()} "
                f"({rules.repeat_after_minutes} min after the first); the start stays "
                "refused if it is still above",
                subject=",".join(g.id for g in assessment.repeat_gates),
                available_at=due,
            )
        )
    else:
        ack_gates = tuple(
            g for g in assessment.decision.triggered if g.outcome is GateOutcome.PHYSICIAN_ACK
        )
        in_force_at = assessment.in_force.taken_at
        acknowledged = (
            inputs.physician_ack_at is not None and inputs.physician_ack_at >= in_force_at
        )
        if ack_gates and not acknowledged:
            blockers.append(
                Blocker(
                    BlockerCode.PHYSICIAN_ACK_REQUIRED,
                    f"physician acknowledgement required: {_gate_text(ack_gates)}",
                    "a physician acknowledges the BP reading of "
                    f"{in_force_at.isoformat()} on this session",
                    subject=",".join(g.id for g in ack_gates),
                )
            )
    return blockers


def start_blockers(
    protocol: ProtocolDefinition, inputs: StartInputs, *, now: datetime
) -> tuple[Blocker, ...]:
    """Every reason the infusion cannot start at `now`, each with what would lift it.

    Rules (DESIGN §4–5, issue 5 points 2–3; protocol keys in brackets): a screening that is not
    eligible now blocks; the course is complete when n > N [course.induction_infusions]; the
    start must be ≥ `min_hours_between_infusions` h after the previous infusion (the blocker
    gives the time it becomes allowed); the dosing weight must be plausible and measured within
    `weight_window_days` [infusion.*, `check_weight`]; the pre-session gates per
    `assess_pre_vitals` ([pre_session.gates], repeat after `repeat_after_minutes`, a physician
    acknowledgement recorded at or after the BP in force for > 140/90); every
    [pre_session.checklist] item confirmed; a pre-infusion CADSS recorded (the discharge
    criterion compares against it). An empty tuple means the start is allowed.
    """
    require_aware("now", now)
    blockers: list[Blocker] = []
    if not inputs.screening_eligible:
        blockers.append(
            Blocker(
                BlockerCode.SCREENING_NOT_ELIGIBLE,
                f"screening not eligible: {inputs.screening_reason}",
                "a physician signs a current, eligible screening for this patient",
            )
        )
    course = course_position(protocol.course, inputs.previous_infusion_starts)
    if course.course_complete:
        blockers.append(
            Blocker(
                BlockerCode.COURSE_COMPLETE,
                f"course complete: {course.planned_infusions} of "
                f"{course.planned_infusions} infusions given",
                "a physician starts a new course (e.g. maintenance)",
                final=True,
            )
        )
    previous, earliest = course.previous_infusion_at, course.earliest_start_at
    if previous is not None and earliest is not None and now < earliest:
        blockers.append(
            Blocker(
                BlockerCode.INTERVAL_NOT_PASSED,
                f"less than {protocol.course.min_hours_between_infusions} h since the previous "
                f"infusion started at {previous.isoformat()}",
                f"wait until {earliest.isoformat()}",
                available_at=earliest,
            )
        )
    if inputs.weight is None:
        blockers.append(
            Blocker(
                BlockerCode.WEIGHT_MISSING,
                "no dosing weight recorded",
                f"weigh the patient (valid {protocol.dosing.weight_window_days} days)",
            )
        )
    else:
        try:
            check_weight(protocol.dosing, inputs.weight, now)
        except DoseRefused as refused:
            blockers.append(
                Blocker(
                    BlockerCode.WEIGHT_NOT_USABLE,
                    refused.message,
                    "weigh the patient again and record the new weight",
                    subject=str(refused.code),
                )
            )
    blockers += _vitals_blockers(protocol, inputs)
    blockers += [
        Blocker(
            BlockerCode.CHECKLIST_ITEM_UNCONFIRMED,
            f"checklist item '{item}' not confirmed",
            f"confirm '{item}' with the patient",
            subject=item,
        )
        for item in protocol.pre_session.checklist
        if item not in inputs.checklist_confirmed
    ]
    if inputs.pre_cadss_total is None:
        blockers.append(
            Blocker(
                BlockerCode.PRE_CADSS_MISSING,
                "no pre-infusion CADSS recorded",
                "record the pre-infusion CADSS (discharge compares against it)",
                subject="cadss",
            )
        )
    return tuple(blockers)
