"""Course bookkeeping: infusion n of N and the minimum interval (issue 5 point 2)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from app.protocols.domain import CourseRules, earliest_next_infusion_at
from app.protocols.domain.common import require_aware


@dataclass(frozen=True, slots=True)
class CoursePosition:
    """Where the next infusion falls in the course.

    `infusion_number` is n (1-based), `planned_infusions` is N. `earliest_start_at` is None for
    the first infusion. `course_complete` is True when n > N.
    """

    infusion_number: int
    planned_infusions: int
    previous_infusion_at: datetime | None
    earliest_start_at: datetime | None

    @property
    def course_complete(self) -> bool:
        """True when all planned infusions of the course were given (n > N)."""
        return self.infusion_number > self.planned_infusions


def course_position(
    rules: CourseRules, previous_infusion_starts: Iterable[datetime]
) -> CoursePosition:
    """Infusion number and earliest start of the next infusion of a course.

    Rule (clinical.md §1.6, §9; protocol `[course]`): n = number of earlier infusions in the
    course + 1, N = `induction_infusions` (default 6 [S20][S47]); the next infusion may start
    `min_hours_between_infusions` (default 48 h [S29][INFERENCE]) after the latest previous
    infusion's start (`earliest_next_infusion_at`). Count only sessions whose infusion was
    started (stopped ones included: drug was given). Instants timezone-aware.
    """
    starts = tuple(previous_infusion_starts)
    for index, started_at in enumerate(starts):
        require_aware(f"previous_infusion_starts[{index}]", started_at)
    latest = max(starts, default=None)
    return CoursePosition(
        infusion_number=len(starts) + 1,
        planned_infusions=rules.induction_infusions,
        previous_infusion_at=latest,
        earliest_start_at=None if latest is None else earliest_next_infusion_at(rules, latest),
    )
