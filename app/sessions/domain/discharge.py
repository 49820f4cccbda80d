"""Recovery and discharge criteria (DESIGN §5, clinical.md §5, issue 5 point 8)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.protocols.domain import (
    AlarmSettings,
    DischargeCriteria,
    Metric,
    Phase,
    Priority,
)
from app.protocols.domain.common import require_aware
from app.sessions.domain.blockers import Blocker, BlockerCode


def medium_alarm_limit(
    alarms: AlarmSettings, metric: Metric, phase: Phase = Phase.RECOVERY
) -> float | None:
    """The lowest absolute high-side medium-priority alarm limit for `metric` in `phase`.

    Rule (DESIGN §5 "BP below the medium alarm limits"; protocol `[[alarms.rules]]`): among the
    rules for `metric` active in `phase` with priority medium, a high comparator (`>`, `>=`)
    and an absolute `limit`, the lowest limit. Defaults: SBP 160, DBP 100 mmHg (clinical.md §9
    sbp_high/dbp_high medium). None when the protocol has no such rule.
    """
    limits = [
        rule.limit
        for rule in alarms.rules_for(phase, metric)
        if rule.priority is Priority.MEDIUM
        and not rule.comparator.is_low
        and rule.limit is not None
    ]
    return min(limits, default=None)


def _bp_blockers(
    criteria: DischargeCriteria,
    label: str,
    value: float | None,
    baseline: float | None,
    limit: float | None,
) -> list[Blocker]:
    if value is None:
        return [
            Blocker(
                BlockerCode.BP_MISSING,
                f"no {label} measured in recovery",
                f"measure BP ({label})",
                subject=label.lower(),
            )
        ]
    blockers: list[Blocker] = []
    pct = criteria.bp_within_pct_of_baseline
    if baseline is None or baseline <= 0:
        blockers.append(
            Blocker(
                BlockerCode.BP_BASELINE_MISSING,
                f"no pre-infusion {label} baseline to compare with",
                "record the session's pre-infusion baseline",
                subject=label.lower(),
            )
        )
    elif abs(value - baseline) * 100 > pct * baseline:
        deviation = (value - baseline) * 100 / baseline
        blockers.append(
            Blocker(
                BlockerCode.BP_NOT_NEAR_BASELINE,
                f"{label} {value:g} mmHg is {deviation:+.1f} % from the baseline "
                f"{baseline:g} mmHg (allowed ±{pct:g} %)",
                f"{label} between {baseline * (100 - pct) / 100:g} and "
                f"{baseline * (100 + pct) / 100:g} mmHg on a new measurement",
                subject=label.lower(),
            )
        )
    if criteria.bp_below_medium_alarm_limits and limit is not None and value >= limit:
        blockers.append(
            Blocker(
                BlockerCode.BP_AT_OR_ABOVE_ALARM_LIMIT,
                f"{label} {value:g} mmHg is not below the medium alarm limit {limit:g} mmHg",
                f"{label} below {limit:g} mmHg on a new measurement",
                subject=label.lower(),
            )
        )
    return blockers


def discharge_blockers(
    criteria: DischargeCriteria,
    *,
    recovery_started_at: datetime,
    now: datetime,
    physician_evaluation: bool,
    aldrete_total: int | None,
    spo2_pct: float | None,
    sbp_mmhg: float | None,
    dbp_mmhg: float | None,
    baseline_sbp_mmhg: float | None,
    baseline_dbp_mmhg: float | None,
    sbp_medium_limit_mmhg: float | None,
    dbp_medium_limit_mmhg: float | None,
    cadss_latest: int | None,
    cadss_pre: int | None,
    escort_present: bool,
    advice_no_driving_given: bool,
    advice_no_alcohol_given: bool,
    uncleared_alarm_count: int,
) -> tuple[Blocker, ...]:
    """Every unmet discharge criterion at `now`, each with what would lift it.

    Rules (DESIGN §5, clinical.md §5, §9; protocol `[recovery]`, `[discharge]`):
    - at least `min_observation_minutes` (60) since the end of the infusion (completion or
      stop); the blocker gives the instant it is reached;
    - a physician's evaluation, when `physician_evaluation_required`;
    - modified Aldrete ≥ `aldrete_modified_min` (9) [S53];
    - SpO2 ≥ `spo2_min_pct` (92 %) [S53];
    - SBP and DBP (latest, in recovery) each within ±`bp_within_pct_of_baseline` (20 %) of the
      frozen pre-infusion baseline [S53], and below the medium alarm limits (SBP 160, DBP
      100 mmHg by default; pass None for no limit) when `bp_below_medium_alarm_limits`;
    - CADSS back to its pre-infusion value (latest ≤ pre) when `cadss_at_or_below_pre` [S16];
    - escort present when `escort_required` [S47];
    - advice given: no driving until `advice.no_driving_until`, no alcohol for
      `advice.no_alcohol_hours` h [S16][S47];
    - no alarm left uncleared when `alarms_cleared_required` (issue 7 point 11).
    A missing value is itself a blocker. An empty tuple means discharge is allowed.
    """
    require_aware("recovery_started_at", recovery_started_at)
    require_aware("now", now)
    blockers: list[Blocker] = []
    reached_at = recovery_started_at + timedelta(minutes=criteria.min_observation_minutes)
    if now < reached_at:
        blockers.append(
            Blocker(
                BlockerCode.OBSERVATION_TIME_NOT_PASSED,
                f"minimum observation of {criteria.min_observation_minutes} min not reached",
                f"wait until {reached_at.isoformat()}",
                available_at=reached_at,
            )
        )
    if criteria.physician_evaluation_required and not physician_evaluation:
        blockers.append(
            Blocker(
                BlockerCode.PHYSICIAN_EVALUATION_REQUIRED,
                "discharge needs a physician's evaluation",
                "a physician evaluates the patient and discharges",
            )
        )
    minimum = criteria.aldrete_modified_min
    if aldrete_total is None:
        blockers.append(
            Blocker(
                BlockerCode.ALDRETE_MISSING,
                "no modified Aldrete score recorded",
                f"record the modified Aldrete score (≥ {minimum} needed)",
                subject="aldrete_modified",
            )
        )
    elif aldrete_total < minimum:
        blockers.append(
            Blocker(
                BlockerCode.ALDRETE_BELOW_MINIMUM,
                f"modified Aldrete {aldrete_total} is below {minimum}",
                f"a new modified Aldrete score of at least {minimum}",
                subject="aldrete_modified",
            )
        )
    spo2_min = criteria.spo2_min_pct
    if spo2_pct is None:
        blockers.append(
            Blocker(
                BlockerCode.SPO2_MISSING,
                "no SpO2 reading in recovery",
                f"an SpO2 reading of at least {spo2_min:g} % on room air",
                subject="spo2",
            )
        )
    elif spo2_pct < spo2_min:
        blockers.append(
            Blocker(
                BlockerCode.SPO2_BELOW_MINIMUM,
                f"SpO2 {spo2_pct:g} % is below {spo2_min:g} %",
                f"SpO2 of at least {spo2_min:g} % on room air",
                subject="spo2",
            )
        )
    blockers += _bp_blockers(criteria, "SBP", sbp_mmhg, baseline_sbp_mmhg, sbp_medium_limit_mmhg)
    blockers += _bp_blockers(criteria, "DBP", dbp_mmhg, baseline_dbp_mmhg, dbp_medium_limit_mmhg)
    if criteria.cadss_at_or_below_pre:
        if cadss_latest is None or cadss_pre is None:
            which = "pre-infusion" if cadss_pre is None else "current"
            blockers.append(
                Blocker(
                    BlockerCode.CADSS_MISSING,
                    f"no {which} CADSS to compare",
                    f"record the {which} CADSS",
                    subject="cadss",
                )
            )
        elif cadss_latest > cadss_pre:
            blockers.append(
                Blocker(
                    BlockerCode.CADSS_ABOVE_PRE,
                    f"CADSS {cadss_latest} is above its pre-infusion value {cadss_pre}",
                    f"a new CADSS of at most {cadss_pre}",
                    subject="cadss",
                )
            )
    if criteria.escort_required and not escort_present:
        blockers.append(
            Blocker(
                BlockerCode.ESCORT_ABSENT,
                "no escort present",
                "a responsible adult escort is present to take the patient home",
            )
        )
    advice = criteria.advice
    if not advice_no_driving_given:
        blockers.append(
            Blocker(
                BlockerCode.ADVICE_NO_DRIVING_NOT_GIVEN,
                "advice not given: no driving",
                f"tell the patient: no driving until {advice.no_driving_until.replace('_', ' ')}",
            )
        )
    if not advice_no_alcohol_given:
        blockers.append(
            Blocker(
                BlockerCode.ADVICE_NO_ALCOHOL_NOT_GIVEN,
                "advice not given: no alcohol",
                f"tell the patient: no alcohol for {advice.no_alcohol_hours} h",
            )
        )
    if criteria.alarms_cleared_required and uncleared_alarm_count > 0:
        blockers.append(
            Blocker(
                BlockerCode.ALARMS_NOT_CLEARED,
                f"{uncleared_alarm_count} alarm(s) not cleared",
                "every alarm of the session is cleared (condition resolved)",
            )
        )
    return tuple(blockers)


@dataclass(frozen=True, slots=True)
class DischargeInputs:
    """The recorded data `SessionMachine` passes to `discharge_blockers` on discharge.

    The machine adds the end of infusion (from the history), `now` (the event time) and the
    medium alarm limits (from the protocol); the rest is loaded by the service.
    """

    physician_evaluation: bool
    aldrete_total: int | None
    spo2_pct: float | None
    sbp_mmhg: float | None
    dbp_mmhg: float | None
    baseline_sbp_mmhg: float | None
    baseline_dbp_mmhg: float | None
    cadss_latest: int | None
    cadss_pre: int | None
    escort_present: bool
    advice_no_driving_given: bool
    advice_no_alcohol_given: bool
    uncleared_alarm_count: int = 0
