"""Session vitals summary for the medical record and registry (issue 11 point 1, DESIGN §10,
clinical.md §6 REMS fields [S16]).

Pure: readings, alarm events and the session's instants come in; numbers go out. Readings
marked as excluded (artefact or entered in error) are left out of every number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.protocols.domain import Metric, Priority
from app.protocols.domain.common import require_aware

BP_AT_MINUTES = 40
BP_NEAREST_TOLERANCE = timedelta(minutes=5)
"""Half the NIBP interval during infusion (10 min, protocol `nibp_infusing`): on schedule,
exactly one measurement lies within ±5 min of 40 min [INFERENCE]."""


@dataclass(frozen=True, slots=True)
class SummaryReading:
    """One stored reading: metric, value in canonical units, instant, and whether excluded."""

    metric: Metric
    value: float
    observed_at: datetime
    excluded: bool = False


@dataclass(frozen=True, slots=True)
class AlarmRaised:
    """An alarm episode raised during the session, with its (highest) priority."""

    priority: Priority
    raised_at: datetime


@dataclass(frozen=True, slots=True)
class SessionTimes:
    """The session's instants (timezone-aware); None when that step did not happen."""

    checked_in_at: datetime
    infusion_started_at: datetime | None
    infusion_ended_at: datetime | None
    discharged_at: datetime | None


@dataclass(frozen=True, slots=True)
class BloodPressure:
    """One NIBP measurement: SBP and DBP (mmHg; DBP None if not recorded) and its instant."""

    sbp_mmhg: float
    dbp_mmhg: float | None
    observed_at: datetime


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """The numbers of a session summary (issue 11 point 1); None where not available."""

    bp_pre: BloodPressure | None
    bp_40_min: BloodPressure | None
    bp_end: BloodPressure | None
    min_spo2_pct: float | None
    max_sbp_mmhg: float | None
    alarm_counts: Mapping[Priority, int]
    monitoring_minutes: int | None
    ready_to_leave_minutes: int | None


def _blood_pressures(readings: list[SummaryReading]) -> list[BloodPressure]:
    dbp_at = {r.observed_at: r.value for r in readings if r.metric is Metric.DBP}
    return sorted(
        (
            BloodPressure(r.value, dbp_at.get(r.observed_at), r.observed_at)
            for r in readings
            if r.metric is Metric.SBP
        ),
        key=lambda bp: bp.observed_at,
    )


def bp_nearest(
    pressures: Iterable[BloodPressure], target: datetime, tolerance: timedelta
) -> BloodPressure | None:
    """The NIBP measurement nearest `target`, if one lies within ±`tolerance`.

    Rule (clinical.md §6 REMS "BP at 40 min" [S16]; tolerance [INFERENCE]): smallest
    |observed_at − target|, ties to the earlier measurement; None when none is within tolerance.
    """
    near = [bp for bp in pressures if abs(bp.observed_at - target) <= tolerance]
    return min(near, key=lambda bp: (abs(bp.observed_at - target), bp.observed_at), default=None)


def whole_minutes(start: datetime | None, end: datetime | None) -> int | None:
    """Completed minutes from `start` to `end` (floor), None if either is missing.

    Rule (clinical.md §6 REMS "total monitoring minutes" [S16]): elapsed time counted in whole
    minutes, rounded down so a required minimum (e.g. 120 min) is never overstated. Both
    instants must be timezone-aware (ValueError otherwise) and `end` not before `start`.
    """
    if start is None or end is None:
        return None
    require_aware("start", start)
    require_aware("end", end)
    if end < start:
        raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
    return (end - start) // timedelta(minutes=1)


def summarize_session(
    times: SessionTimes,
    readings: Iterable[SummaryReading],
    alarms: Iterable[AlarmRaised],
    *,
    tolerance: timedelta = BP_NEAREST_TOLERANCE,
) -> SessionSummary:
    """The session summary numbers for the medical record and registry.

    Rules (issue 11 point 1, DESIGN §10, clinical.md §6 REMS [S16]); excluded readings are left
    out of everything:
    - BP pre (baseline): the last NIBP at or before the infusion start.
    - BP at 40 min: the NIBP nearest start + 40 min within ±`tolerance` (default 5 min).
    - BP end: the NIBP nearest the infusion end within ±`tolerance`.
    - min SpO2 (%) and max SBP (mmHg) over all remaining readings passed in.
    - alarm counts per priority (every priority present, 0 when none).
    - monitoring minutes = check-in → discharge; ready-to-leave minutes = infusion end →
      discharge (`whole_minutes`). SBP and DBP of one NIBP share `observed_at`.
    """
    require_aware("checked_in_at", times.checked_in_at)
    kept = [r for r in readings if not r.excluded]
    for r in kept:
        require_aware("observed_at", r.observed_at)
    pressures = _blood_pressures(kept)
    start, end = times.infusion_started_at, times.infusion_ended_at
    before = [bp for bp in pressures if start is not None and bp.observed_at <= start]
    spo2 = [r.value for r in kept if r.metric is Metric.SPO2]
    counts = dict.fromkeys(Priority, 0)
    for alarm in alarms:
        counts[alarm.priority] += 1
    return SessionSummary(
        bp_pre=before[-1] if before else None,
        bp_40_min=None
        if start is None
        else bp_nearest(pressures, start + timedelta(minutes=BP_AT_MINUTES), tolerance),
        bp_end=None if end is None else bp_nearest(pressures, end, tolerance),
        min_spo2_pct=min(spo2, default=None),
        max_sbp_mmhg=max((bp.sbp_mmhg for bp in pressures), default=None),
        alarm_counts=counts,
        monitoring_minutes=whole_minutes(times.checked_in_at, times.discharged_at),
        ready_to_leave_minutes=whole_minutes(end, times.discharged_at),
    )
