"""Per-session side effects, interventions and adverse events as the registry records them
(issue 11 point 1, DESIGN §10, clinical.md §6, clinic article: bladder symptoms, liver tests).

Pure: the checklist items, their allowed range and the adverse-event grading scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

SIDE_EFFECT_ITEMS: tuple[str, ...] = (
    "nausea_vomiting",
    "headache",
    "dizziness",
    "sedation",
    "blurred_double_vision",
    "anxiety",
    "distressing_dissociation",
    "bladder_frequency",
    "bladder_urgency",
    "bladder_dysuria",
    "bladder_haematuria",
)
"""The side-effect checklist (issue 11 point 1; DESIGN §10; clinical.md §6 lower-urinary-tract
symptoms [S15][S34]; clinic article: nausea, headache, dizziness, blurred vision, bladder)."""

INTERVENTION_ITEMS: tuple[str, ...] = ("antiemetic", "rate_reduced", "paused", "oxygen")
"""Interventions during the session (issue 11 point 1)."""


class Severity(StrEnum):
    """Side-effect severity of the checklist: none, mild, moderate, severe — the CTCAE
    adjectives for grades 1-3 (clinical.md §6 [S45] NCI CTCAE 4.03) plus `none`."""

    NONE = "none"
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"


SEVERITY_POINTS: dict[Severity, int] = {s: i for i, s in enumerate(Severity)}
"""Severity as an ordinal 0-3 for export (0 = none)."""

CTCAE_GRADES: tuple[int, ...] = (1, 2, 3, 4, 5)
"""NCI CTCAE grades: 1 mild, 2 moderate, 3 severe, 4 life-threatening, 5 death
(clinical.md §6 SKIPMDD: adverse events graded by NCI CTCAE 4.03 [S45])."""

CTCAE_GRADE_MIN = CTCAE_GRADES[0]
CTCAE_GRADE_MAX = CTCAE_GRADES[-1]


class AdverseEventOutcome(StrEnum):
    """Outcome of an adverse event: the FHIR R4 `adverse-event-outcome` codes."""

    RESOLVED = "resolved"
    RECOVERING = "recovering"
    ONGOING = "ongoing"
    RESOLVED_WITH_SEQUELAE = "resolvedWithSequelae"
    FATAL = "fatal"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class GradeProblem:
    """Why an adverse event's grade, seriousness and outcome do not fit together."""

    field: str
    reason: str


def check_adverse_event(
    grade: int, serious: bool, outcome: AdverseEventOutcome
) -> GradeProblem | None:
    """Whether grade, seriousness and outcome are consistent, else the first problem.

    Rules (NCI CTCAE 4.03 [S45], clinical.md §6): the grade is 1-5; grade 5 is death, so its
    outcome is `fatal` and a `fatal` outcome is grade 5; grade 4 (life-threatening) and 5 are
    serious by definition (ICH E2A seriousness criteria [INFERENCE]).
    """
    if grade not in CTCAE_GRADES:
        return GradeProblem("grade", f"must be one of {CTCAE_GRADES} (CTCAE), got {grade}")
    if (grade == CTCAE_GRADE_MAX) != (outcome is AdverseEventOutcome.FATAL):
        return GradeProblem(
            "outcome", f"grade {CTCAE_GRADE_MAX} (death) and outcome 'fatal' go together"
        )
    if grade >= CTCAE_GRADES[3] and not serious:
        return GradeProblem("serious", f"a grade {grade} adverse event is serious")
    return None
