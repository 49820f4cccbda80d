"""Why a session cannot move on yet, and what would let it (issue 5 points 3 and 8).

Blockers are return values, not exceptions (STYLE §4): the start and discharge pages list them
all; `SessionMachine.apply` raises `TransitionRefused` carrying them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class BlockerCode(StrEnum):
    """Machine-readable reason; `subject` says which gate, item, metric or criterion."""

    # Start (check-in gates, course rules)
    SCREENING_NOT_ELIGIBLE = "screening_not_eligible"
    COURSE_COMPLETE = "course_complete"
    INTERVAL_NOT_PASSED = "interval_not_passed"
    WEIGHT_MISSING = "weight_missing"
    WEIGHT_NOT_USABLE = "weight_not_usable"
    BASELINE_VITALS_MISSING = "baseline_vitals_missing"
    VITAL_MISSING = "vital_missing"
    VITAL_GATE = "vital_gate"
    REPEAT_REQUIRED = "repeat_required"
    REPEAT_STILL_ABOVE = "repeat_still_above"
    PHYSICIAN_ACK_REQUIRED = "physician_ack_required"
    CHECKLIST_ITEM_UNCONFIRMED = "checklist_item_unconfirmed"
    PRE_CADSS_MISSING = "pre_cadss_missing"
    # Completion and reasons
    DOSE_NOT_DELIVERED = "dose_not_delivered"
    REASON_REQUIRED = "reason_required"
    # Discharge
    OBSERVATION_TIME_NOT_PASSED = "observation_time_not_passed"
    PHYSICIAN_EVALUATION_REQUIRED = "physician_evaluation_required"
    ALDRETE_MISSING = "aldrete_missing"
    ALDRETE_BELOW_MINIMUM = "aldrete_below_minimum"
    SPO2_MISSING = "spo2_missing"
    SPO2_BELOW_MINIMUM = "spo2_below_minimum"
    BP_MISSING = "bp_missing"
    BP_BASELINE_MISSING = "bp_baseline_missing"
    BP_NOT_NEAR_BASELINE = "bp_not_near_baseline"
    BP_AT_OR_ABOVE_ALARM_LIMIT = "bp_at_or_above_alarm_limit"
    CADSS_MISSING = "cadss_missing"
    CADSS_ABOVE_PRE = "cadss_above_pre"
    ESCORT_ABSENT = "escort_absent"
    ADVICE_NO_DRIVING_NOT_GIVEN = "advice_no_driving_not_given"
    ADVICE_NO_ALCOHOL_NOT_GIVEN = "advice_no_alcohol_not_given"
    ALARMS_NOT_CLEARED = "alarms_not_cleared"


@dataclass(frozen=True, slots=True)
class Blocker:
    """One unmet condition.

    `message` says what is wrong, `resolution` what would lift it. `available_at` is set when
    time alone lifts it (interval, repeat measurement, observation time). `final` means nothing
    can lift it in this session (e.g. BP still above after the repeat): cancel or stop instead.
    """

    code: BlockerCode
    message: str
    resolution: str
    subject: str | None = None
    available_at: datetime | None = None
    final: bool = False
