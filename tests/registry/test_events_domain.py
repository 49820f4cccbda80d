"""Pure adverse-event grading rules and the checklist (issue 11 point 1)."""

from __future__ import annotations

import pytest

from app.registry.domain.events import (
    CTCAE_GRADES,
    SEVERITY_POINTS,
    SIDE_EFFECT_ITEMS,
    AdverseEventOutcome,
    Severity,
    check_adverse_event,
)

OUT = AdverseEventOutcome


@pytest.mark.parametrize(
    ("grade", "serious", "outcome", "field"),
    [
        (1, False, OUT.RESOLVED, None),
        (3, True, OUT.RECOVERING, None),
        (3, False, OUT.ONGOING, None),
        (4, True, OUT.RESOLVED_WITH_SEQUELAE, None),
        (5, True, OUT.FATAL, None),
        (0, False, OUT.RESOLVED, "grade"),
        (6, True, OUT.FATAL, "grade"),
        (5, True, OUT.RESOLVED, "outcome"),
        (2, False, OUT.FATAL, "outcome"),
        (4, False, OUT.RESOLVED, "serious"),
    ],
)
def test_check_adverse_event(grade, serious, outcome, field):
    problem = check_adverse_event(grade, serious, outcome)
    assert (None if problem is None else problem.field) == field


def test_grades_and_checklist():
    assert CTCAE_GRADES == (1, 2, 3, 4, 5)
    assert {"bladder_frequency", "bladder_urgency", "bladder_dysuria", "bladder_haematuria"} <= set(
        SIDE_EFFECT_ITEMS
    )
    assert SEVERITY_POINTS[Severity.NONE] == 0
    assert SEVERITY_POINTS[Severity.SEVERE] == 3
