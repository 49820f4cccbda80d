"""Rating scales as data and their scoring (issue 5 point 6, DESIGN §10, clinical.md §4).

Pure: a `ScaleDefinition` is built from a validated scale file (`app.scales.definitions`);
`score()` checks every answer and returns the total and its band.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise


class InvalidScaleDefinition(ValueError):
    """A scale definition is inconsistent; `key` is the dotted key (`bands[1].min`)."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"{key}: {reason}")


class InvalidScaleAnswers(ValueError):
    """Answers that cannot be scored; `problems` maps each item id to what is wrong with it."""

    def __init__(self, scale_id: str, problems: tuple[tuple[str, str], ...]) -> None:
        self.scale_id = scale_id
        self.problems = problems
        self.item_id = problems[0][0]
        text = "; ".join(f"item '{item}': {reason}" for item, reason in problems)
        super().__init__(f"{scale_id}: {text}")


@dataclass(frozen=True, slots=True)
class ScaleItem:
    """One item: id, label, allowed integer range [min_score, max_score], optional level texts."""

    id: str
    label: str
    min_score: int
    max_score: int
    levels: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ScoreBand:
    """A named range of totals [min_total, max_total], both inclusive (e.g. PHQ-9 "moderate")."""

    id: str
    label: str
    min_total: int
    max_total: int


@dataclass(frozen=True, slots=True)
class ScaleDefinition:
    """A rating scale: items, the total's range and optional score bands covering that range.

    The total is the sum of the items; `total_min`/`total_max` must equal the sums of the item
    minima/maxima (a check against typing errors in a file). Bands, when given, are in order,
    do not overlap and cover the whole total range without gaps.
    """

    id: str
    name: str
    source: str
    items: tuple[ScaleItem, ...]
    total_min: int
    total_max: int
    bands: tuple[ScoreBand, ...] = ()

    def __post_init__(self) -> None:
        if not self.items:
            raise InvalidScaleDefinition("items", "a scale needs at least one item")
        seen: set[str] = set()
        for index, item in enumerate(self.items):
            if item.id in seen:
                raise InvalidScaleDefinition(f"items[{index}].id", f"duplicate item id '{item.id}'")
            seen.add(item.id)
            if item.min_score > item.max_score:
                raise InvalidScaleDefinition(f"items[{index}].max", "must not be below min")
            for score, _ in item.levels:
                if not item.min_score <= score <= item.max_score:
                    raise InvalidScaleDefinition(
                        f"items[{index}].levels.{score}",
                        f"level outside the item range {item.min_score}–{item.max_score}",
                    )
        lowest = sum(item.min_score for item in self.items)
        highest = sum(item.max_score for item in self.items)
        if (self.total_min, self.total_max) != (lowest, highest):
            raise InvalidScaleDefinition(
                "total",
                f"range {self.total_min}–{self.total_max} differs from the items' "
                f"sum {lowest}–{highest}",
            )
        self._check_bands()

    def _check_bands(self) -> None:
        if not self.bands:
            return
        for index, band in enumerate(self.bands):
            if band.min_total > band.max_total:
                raise InvalidScaleDefinition(f"bands[{index}].max", "must not be below min")
        if self.bands[0].min_total != self.total_min:
            raise InvalidScaleDefinition(
                "bands[0].min", f"must start at the total's minimum {self.total_min}"
            )
        for index, (before, after) in enumerate(pairwise(self.bands), start=1):
            if after.min_total != before.max_total + 1:
                raise InvalidScaleDefinition(
                    f"bands[{index}].min",
                    f"must be {before.max_total + 1} (bands in order, no gap, no overlap)",
                )
        last = len(self.bands) - 1
        if self.bands[last].max_total != self.total_max:
            raise InvalidScaleDefinition(
                f"bands[{last}].max", f"must end at the total's maximum {self.total_max}"
            )

    def item(self, item_id: str) -> ScaleItem:
        """The item with `item_id` (KeyError if none)."""
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)


@dataclass(frozen=True, slots=True)
class ScaleScore:
    """A scored administration: the answers in item order, the total and its band (if any)."""

    scale_id: str
    answers: tuple[tuple[str, int], ...]
    total: int
    band: ScoreBand | None


def band_for(definition: ScaleDefinition, total: int) -> ScoreBand | None:
    """The band containing `total`, or None if the scale defines no bands.

    Rule: bands are inclusive ranges of the total from the scale file (e.g. PHQ-9 0–4 minimal,
    5–9 mild, 10–14 moderate, 15–19 moderately severe, 20–27 severe, clinical.md §4 [S47]).
    """
    return next((b for b in definition.bands if b.min_total <= total <= b.max_total), None)


def score(definition: ScaleDefinition, answers: Mapping[str, int]) -> ScaleScore:
    """Validate the answers to every item and return the total and its band.

    Rule (issue 5 point 6; ranges from the scale file, clinical.md §4): every item must be
    answered with an integer in its range (e.g. CADSS 0–4 per item, PHQ-9 0–3); no item may be
    missing (no prorating) and no unknown item given. The total is the plain sum of the items
    (no weights). Raises InvalidScaleAnswers naming each item and its allowed range.
    """
    problems: list[tuple[str, str]] = []
    for item in definition.items:
        allowed = f"{item.min_score}–{item.max_score}"
        if item.id not in answers:
            problems.append((item.id, f"missing (an integer {allowed} is required)"))
            continue
        value = answers[item.id]
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append((item.id, f"{value!r} is not an integer {allowed}"))
        elif not item.min_score <= value <= item.max_score:
            problems.append((item.id, f"{value} is outside the allowed range {allowed}"))
    known = {item.id for item in definition.items}
    problems += [(key, "not an item of this scale") for key in answers if key not in known]
    if problems:
        raise InvalidScaleAnswers(definition.id, tuple(problems))
    ordered = tuple((item.id, answers[item.id]) for item in definition.items)
    total = sum(value for _, value in ordered)
    return ScaleScore(
        scale_id=definition.id,
        answers=ordered,
        total=total,
        band=band_for(definition, total),
    )
