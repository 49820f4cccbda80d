"""Course outcomes: MADRS response and remission, PHQ-9 remission (issue 11 point 2, DESIGN §10).

Pure: scores and their dates come in, results go out. Percentages use exact integer
arithmetic so that a fall of exactly 50 % counts as response (clinical.md §4).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from app.protocols.domain import OutcomeDefinitions
from app.scales.domain import ScaleScore

MADRS = "madrs"
PHQ9 = "phq9"


class Timepoint(StrEnum):
    """When a course scale was taken; values are the protocol `[scales] schedule` names."""

    BASELINE = "baseline"
    AFTER_INFUSION_3 = "after_infusion_3"
    AFTER_INFUSION_6 = "after_infusion_6"
    WEEKS_4_AFTER = "weeks_4_after"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class CourseScaleScore:
    """A scored course scale (MADRS, PHQ-9) with the date it was taken and its timepoint."""

    score: ScaleScore
    taken_on: date
    timepoint: Timepoint

    @property
    def scale_id(self) -> str:
        """The scale id of the underlying score (`madrs`, `phq9`)."""
        return self.score.scale_id

    @property
    def total(self) -> int:
        """The scale total (points)."""
        return self.score.total


class OutcomeStatus(StrEnum):
    """MET: the criterion was met on `first_met_on`; NOT_MET: not (yet); NOT_COMPUTABLE: see reason."""

    MET = "met"
    NOT_MET = "not_met"
    NOT_COMPUTABLE = "not_computable"


@dataclass(frozen=True, slots=True)
class OutcomeResult:
    """One outcome: status, the date first met (only when MET) and the reason in words."""

    status: OutcomeStatus
    first_met_on: date | None
    reason: str


@dataclass(frozen=True, slots=True)
class CourseOutcomes:
    """MADRS response and remission and PHQ-9 remission of one course."""

    madrs_response: OutcomeResult
    madrs_remission: OutcomeResult
    phq9_remission: OutcomeResult


def _baseline(scores: list[CourseScaleScore]) -> CourseScaleScore | None:
    baselines = [s for s in scores if s.timepoint is Timepoint.BASELINE]
    return max(baselines, key=lambda s: s.taken_on, default=None)


def _follow_ups(
    scores: list[CourseScaleScore], baseline: CourseScaleScore | None
) -> list[CourseScaleScore]:
    later = [
        s
        for s in scores
        if s.timepoint is not Timepoint.BASELINE
        and (baseline is None or s.taken_on >= baseline.taken_on)
    ]
    return sorted(later, key=lambda s: s.taken_on)


def _first_met(
    follow_ups: list[CourseScaleScore], met: Callable[[int], bool], what: str
) -> OutcomeResult:
    if not follow_ups:
        return OutcomeResult(OutcomeStatus.NOT_MET, None, f"no score after baseline yet for {what}")
    for s in follow_ups:
        if met(s.total):
            return OutcomeResult(
                OutcomeStatus.MET,
                s.taken_on,
                f"{what}: met on {s.taken_on.isoformat()} ({s.timepoint.value}, total {s.total})",
            )
    return OutcomeResult(
        OutcomeStatus.NOT_MET, None, f"{what}: not met in {len(follow_ups)} score(s) after baseline"
    )


def is_response(baseline_total: int, total: int, improvement_pct: int) -> bool:
    """Whether a score is a response relative to baseline.

    Rule (clinical.md §4 [S30][S42][S43]; protocol `[scales] response_improvement_pct`, default
    50): (baseline − total) / baseline × 100 ≥ improvement_pct, in points and percent, compared
    exactly in integers as (baseline − total) × 100 ≥ improvement_pct × baseline, so a fall of
    exactly 50 % is a response. Needs baseline_total > 0 (ValueError otherwise).
    """
    if baseline_total <= 0:
        raise ValueError(f"baseline total must be positive, got {baseline_total}")
    return (baseline_total - total) * 100 >= improvement_pct * baseline_total


def madrs_response(
    scores: Iterable[CourseScaleScore], definitions: OutcomeDefinitions
) -> OutcomeResult:
    """MADRS response of a course and the date first met.

    Rule (DESIGN §10, clinical.md §4 [S30]; protocol `response_improvement_pct`, default 50 %):
    the first MADRS after the baseline (by date, baseline date or later, baseline timepoint
    excluded) whose fall from baseline is ≥ the percentage (`is_response`). Baseline = the latest
    MADRS with timepoint `baseline`. No baseline, or a baseline total of 0, → NOT_COMPUTABLE
    with the reason.
    """
    madrs = [s for s in scores if s.scale_id == MADRS]
    baseline = _baseline(madrs)
    if baseline is None:
        return OutcomeResult(
            OutcomeStatus.NOT_COMPUTABLE, None, "not computable: no baseline MADRS recorded"
        )
    if baseline.total <= 0:
        return OutcomeResult(
            OutcomeStatus.NOT_COMPUTABLE,
            None,
            "not computable: baseline MADRS is 0, a percentage fall is undefined",
        )
    pct = definitions.response_improvement_pct
    return _first_met(
        _follow_ups(madrs, baseline),
        lambda total: is_response(baseline.total, total, pct),
        f"MADRS response (fall ≥ {pct} % from baseline {baseline.total})",
    )


def madrs_remission(
    scores: Iterable[CourseScaleScore], definitions: OutcomeDefinitions
) -> OutcomeResult:
    """MADRS remission of a course and the date first met.

    Rule (DESIGN §10, clinical.md §4 [S42]; protocol `remission_madrs_max`, default 10 points):
    the first MADRS after the baseline (baseline timepoint excluded, not before the baseline date)
    with total ≤ the maximum. Without a baseline it is NOT_COMPUTABLE (the course has no
    reference point; same rule as response).
    """
    madrs = [s for s in scores if s.scale_id == MADRS]
    baseline = _baseline(madrs)
    if baseline is None:
        return OutcomeResult(
            OutcomeStatus.NOT_COMPUTABLE, None, "not computable: no baseline MADRS recorded"
        )
    limit = definitions.remission_madrs_max
    return _first_met(
        _follow_ups(madrs, baseline),
        lambda total: total <= limit,
        f"MADRS remission (total ≤ {limit})",
    )


def phq9_remission(
    scores: Iterable[CourseScaleScore], definitions: OutcomeDefinitions
) -> OutcomeResult:
    """PHQ-9 remission of a course and the date first met.

    Rule (clinical.md §4 [S44]; protocol `remission_phq9_below`, default 5 points): the first
    PHQ-9 after the PHQ-9 baseline (baseline timepoint excluded, not before its date) with total
    strictly below the limit. No PHQ-9 baseline → NOT_COMPUTABLE with the reason.
    """
    phq9 = [s for s in scores if s.scale_id == PHQ9]
    baseline = _baseline(phq9)
    if baseline is None:
        return OutcomeResult(
            OutcomeStatus.NOT_COMPUTABLE, None, "not computable: no baseline PHQ-9 recorded"
        )
    limit = definitions.remission_phq9_below
    return _first_met(
        _follow_ups(phq9, baseline),
        lambda total: total < limit,
        f"PHQ-9 remission (total < {limit})",
    )


def course_outcomes(
    scores: Iterable[CourseScaleScore], definitions: OutcomeDefinitions
) -> CourseOutcomes:
    """All course outcomes at once: MADRS response, MADRS remission and PHQ-9 remission.

    Rule: see `madrs_response`, `madrs_remission`, `phq9_remission` (DESIGN §10, clinical.md §4;
    thresholds from the protocol `[scales]` section).
    """
    listed = tuple(scores)
    return CourseOutcomes(
        madrs_response=madrs_response(listed, definitions),
        madrs_remission=madrs_remission(listed, definitions),
        phq9_remission=phq9_remission(listed, definitions),
    )
