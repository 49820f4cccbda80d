"""Pure tests of scale scoring and of the shipped scale definition files (no DB, no app)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.scales.definitions import (
    ScaleFileError,
    load_scale_definitions,
    load_scale_file,
    parse_scale_bytes,
)
from app.scales.domain import (
    InvalidScaleAnswers,
    InvalidScaleDefinition,
    ScaleDefinition,
    ScaleItem,
    ScoreBand,
    band_for,
    score,
)

SCALES_DIR = Path(__file__).resolve().parents[2] / "protocols" / "scales"
SCALES = load_scale_definitions(SCALES_DIR)


def answers(definition: ScaleDefinition, value: int | None = None) -> dict[str, int]:
    return {item.id: item.min_score if value is None else value for item in definition.items}


class TestShippedScales:
    def test_every_shipped_scale_loads(self) -> None:
        assert set(SCALES) == {"cadss", "bprs_plus", "aldrete_modified", "madrs", "phq9"}
        assert all(d.source.startswith("reference/clinical.md") for d in SCALES.values())

    @pytest.mark.parametrize(
        ("scale_id", "n_items", "item_max", "total_max"),
        [
            ("cadss", 23, 4, 92),  # clinical.md §4 [S39][S40]
            ("bprs_plus", 4, 6, 24),  # clinical.md §4 [S39][S46]
            ("aldrete_modified", 5, 2, 10),  # clinical.md §5 [S53]
            ("madrs", 10, 6, 60),
            ("phq9", 9, 3, 27),
        ],
    )
    def test_items_and_ranges(
        self, scale_id: str, n_items: int, item_max: int, total_max: int
    ) -> None:
        definition = SCALES[scale_id]
        assert len(definition.items) == n_items
        assert {(i.min_score, i.max_score) for i in definition.items} == {(0, item_max)}
        assert (definition.total_min, definition.total_max) == (0, total_max)

    @pytest.mark.parametrize(
        ("total", "band"),
        [
            (0, "minimal"),
            (4, "minimal"),
            (5, "mild"),
            (9, "mild"),
            (10, "moderate"),
            (14, "moderate"),
            (15, "moderately_severe"),
            (19, "moderately_severe"),
            (20, "severe"),
            (27, "severe"),
        ],
    )
    def test_phq9_bands(self, total: int, band: str) -> None:
        found = band_for(SCALES["phq9"], total)
        assert found is not None
        assert found.id == band

    @pytest.mark.parametrize(
        ("total", "band"),
        [
            (0, "none"),
            (6, "none"),
            (7, "mild"),
            (19, "mild"),
            (20, "moderate"),
            (34, "moderate"),
            (35, "severe"),
            (60, "severe"),
        ],
    )
    def test_madrs_bands(self, total: int, band: str) -> None:
        found = band_for(SCALES["madrs"], total)
        assert found is not None
        assert found.id == band

    def test_scales_without_bands(self) -> None:
        for scale_id in ("cadss", "bprs_plus", "aldrete_modified"):
            assert score(SCALES[scale_id], answers(SCALES[scale_id])).band is None

    def test_aldrete_levels_are_data(self) -> None:
        circulation = SCALES["aldrete_modified"].item("circulation")
        assert dict(circulation.levels)[2] == "BP within ±20 % of baseline"

    def test_unknown_item_lookup(self) -> None:
        with pytest.raises(KeyError):
            SCALES["phq9"].item("nope")


class TestScore:
    def test_total_and_band(self) -> None:
        phq9 = SCALES["phq9"]
        given_answers = {**answers(phq9, 1), "self_harm": 3, "sleep": 2}
        result = score(phq9, given_answers)
        assert result.total == 12
        assert result.band is not None
        assert result.band.id == "moderate"
        assert [item for item, _ in result.answers] == [i.id for i in phq9.items]

    def test_cadss_extremes(self) -> None:
        cadss = SCALES["cadss"]
        assert score(cadss, answers(cadss, 0)).total == 0
        assert score(cadss, answers(cadss, 4)).total == 92

    def test_aldrete_nine(self) -> None:
        aldrete = SCALES["aldrete_modified"]
        assert score(aldrete, {**answers(aldrete, 2), "activity": 1}).total == 9

    def test_out_of_range_item_is_named_with_its_range(self) -> None:
        cadss = SCALES["cadss"]
        with pytest.raises(InvalidScaleAnswers) as caught:
            score(cadss, {**answers(cadss), "item_07": 5})
        assert caught.value.item_id == "item_07"
        assert str(caught.value) == "cadss: item 'item_07': 5 is outside the allowed range 0–4"

    def test_negative_value_refused(self) -> None:
        with pytest.raises(
            InvalidScaleAnswers, match="item 'lassitude': -1 is outside the allowed range 0–6"
        ):
            score(SCALES["madrs"], {**answers(SCALES["madrs"]), "lassitude": -1})

    def test_missing_item_is_named(self) -> None:
        bprs = SCALES["bprs_plus"]
        partial = answers(bprs)
        del partial["suspiciousness"]
        with pytest.raises(
            InvalidScaleAnswers,
            match=r"item 'suspiciousness': missing \(an integer 0–6 is required\)",
        ):
            score(bprs, partial)

    def test_unknown_item_refused(self) -> None:
        with pytest.raises(InvalidScaleAnswers, match="item 'extra': not an item of this scale"):
            score(SCALES["phq9"], {**answers(SCALES["phq9"]), "extra": 0})

    @pytest.mark.parametrize("value", [True, 1.0, "2"])
    def test_non_integers_refused(self, value: object) -> None:
        with pytest.raises(InvalidScaleAnswers, match="is not an integer 0–3"):
            score(SCALES["phq9"], {**answers(SCALES["phq9"]), "tired": value})  # type: ignore[dict-item]

    def test_every_problem_is_reported(self) -> None:
        with pytest.raises(InvalidScaleAnswers) as caught:
            score(SCALES["phq9"], {"interest": 9})
        assert len(caught.value.problems) == 9

    @given(st.data())
    def test_total_is_the_sum_and_band_covers_it(self, data: st.DataObject) -> None:
        definition = SCALES[data.draw(st.sampled_from(sorted(SCALES)))]
        given_answers = {
            item.id: data.draw(st.integers(item.min_score, item.max_score))
            for item in definition.items
        }
        result = score(definition, given_answers)
        assert result.total == sum(given_answers.values())
        assert definition.total_min <= result.total <= definition.total_max
        assert (result.band is None) == (not definition.bands)


def item(item_id: str = "a", low: int = 0, high: int = 3) -> ScaleItem:
    return ScaleItem(item_id, item_id.upper(), low, high)


class TestDefinitionRules:
    @pytest.mark.parametrize(
        ("kwargs", "key"),
        [
            ({"items": ()}, "items"),
            ({"items": (item(), item())}, "items[1].id"),
            ({"items": (item(low=3, high=1),), "total_min": 3, "total_max": 1}, "items[0].max"),
            ({"total_max": 4}, "total"),
            ({"bands": (ScoreBand("x", "X", 1, 3),)}, "bands[0].min"),
            ({"bands": (ScoreBand("x", "X", 0, 1), ScoreBand("y", "Y", 3, 3))}, "bands[1].min"),
            ({"bands": (ScoreBand("x", "X", 0, 2), ScoreBand("y", "Y", 2, 3))}, "bands[1].min"),
            ({"bands": (ScoreBand("x", "X", 0, 2),)}, "bands[0].max"),
            ({"bands": (ScoreBand("x", "X", 2, 1),)}, "bands[0].max"),
            ({"items": (ScaleItem("a", "A", 0, 3, ((4, "four"),)),)}, "items[0].levels.4"),
        ],
    )
    def test_inconsistent_definitions_refused(self, kwargs: dict[str, object], key: str) -> None:
        base: dict[str, object] = {
            "id": "s",
            "name": "S",
            "source": "test",
            "items": (item(),),
            "total_min": 0,
            "total_max": 3,
        }
        with pytest.raises(InvalidScaleDefinition) as caught:
            ScaleDefinition(**{**base, **kwargs})  # type: ignore[arg-type]
        assert caught.value.key == key


MINIMAL = """
schema_version = 1
[scale]
id = "tiny"
name = "Tiny"
source = "test"
[total]
min = 0
max = 2
[[items]]
id = "only"
label = "Only item"
min = 0
max = 2
"""


class TestScaleFiles:
    def test_minimal_file(self) -> None:
        definition = parse_scale_bytes(MINIMAL.encode(), "tiny.toml")
        assert definition.id == "tiny"
        assert definition.bands == ()

    @pytest.mark.parametrize(
        ("content", "key", "reason"),
        [
            (
                MINIMAL.replace('label = "Only item"', 'label = "Only item"\nweight = 2'),
                "items[0].weight",
                "unknown key",
            ),
            (MINIMAL.replace('name = "Tiny"\n', ""), "scale.name", "required key is missing"),
            (
                MINIMAL.replace("max = 2\n[[items]]", 'max = "2"\n[[items]]'),
                "total.max",
                "valid integer",
            ),
            (
                MINIMAL.replace("max = 2\n[[items]]", "max = 3\n[[items]]"),
                "total",
                "differs from the items' sum 0–2",
            ),
            (MINIMAL.replace('id = "only"', 'id = "Only Item"'), "items[0].id", "pattern"),
            (MINIMAL.replace("schema_version = 1", "schema_version = 2"), "schema_version", "1"),
            (
                MINIMAL
                + "[[bands]]\nid = 'a'\nlabel = 'A'\nmin = 0\nmax = 1\n[[bands]]\nid = 'a'\nlabel = 'B'\nmin = 2\nmax = 2\n",
                "bands[1].id",
                "duplicate band id 'a'",
            ),
            ("schema_version = ", "", "TOML syntax error"),
        ],
    )
    def test_bad_file_refused_naming_file_and_key(
        self, content: str, key: str, reason: str
    ) -> None:
        with pytest.raises(ScaleFileError) as caught:
            parse_scale_bytes(content.encode(), "site/tiny.toml")
        assert caught.value.key == key
        assert reason in caught.value.reason
        assert str(caught.value).startswith(f"site/tiny.toml: {key or '(file)'}: ")

    def test_not_utf8(self) -> None:
        with pytest.raises(ScaleFileError, match="not UTF-8"):
            parse_scale_bytes(b"\xff\xfe", "x.toml")

    def test_file_name_must_match_the_id(self, tmp_path: Path) -> None:
        (tmp_path / "other.toml").write_text(MINIMAL)
        with pytest.raises(
            ScaleFileError, match=r"other.toml: scale.id: 'tiny' must equal the file name 'other'"
        ):
            load_scale_file(tmp_path / "other.toml")

    def test_a_site_adds_a_scale_without_code(self, tmp_path: Path) -> None:
        for path in SCALES_DIR.glob("*.toml"):
            (tmp_path / path.name).write_bytes(path.read_bytes())
        (tmp_path / "tiny.toml").write_text(MINIMAL)
        loaded = load_scale_definitions(tmp_path)
        assert set(loaded) == {*SCALES, "tiny"}
        assert score(loaded["tiny"], {"only": 2}).total == 2

    def test_one_bad_file_refuses_the_directory(self, tmp_path: Path) -> None:
        (tmp_path / "tiny.toml").write_text(MINIMAL.replace('label = "Only item"', "label = 3"))
        with pytest.raises(ScaleFileError, match=r"tiny.toml: items\[0\].label"):
            load_scale_definitions(tmp_path)

    def test_missing_file_and_directory(self, tmp_path: Path) -> None:
        with pytest.raises(ScaleFileError, match="cannot read the file"):
            load_scale_file(tmp_path / "absent.toml")
        with pytest.raises(ScaleFileError, match="not a directory"):
            load_scale_definitions(tmp_path / "absent")
