"""Protocol file validation: the shipped files load, bad values are refused naming the key."""

from __future__ import annotations

import copy
import hashlib
import re
import tomllib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.protocols.domain import (
    Metric,
    Phase,
    PreparationMode,
    Priority,
    WeightMeasurement,
    calculate_dose,
)
from app.protocols.file_schema import (
    ProtocolFileError,
    load_protocol_file,
    to_protocol_definition,
    validate_protocol_data,
)
from app.protocols.file_schema.sections import ScreeningRulesFile
from app.screening.domain import RuleId, Severity

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"
DEFAULT = PROTOCOLS / "ketamine-iv-0.5mgkg-40min.toml"
VARIANT = PROTOCOLS / "site-variant-syringe-10mgml-120min.toml"
NOW = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)


def parsed(path: Path = DEFAULT) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle, parse_float=Decimal)


def refused(data: dict[str, Any]) -> ProtocolFileError:
    with pytest.raises(ProtocolFileError) as error:
        validate_protocol_data(data, "test.toml")
    return error.value


def first_rule_index(data: dict[str, Any], metric: str) -> int:
    return next(i for i, rule in enumerate(data["alarms"]["rules"]) if rule["metric"] == metric)


class TestShippedFiles:
    @pytest.mark.parametrize("path", [DEFAULT, VARIANT], ids=["default", "site-variant"])
    def test_loads_with_the_sha256_of_its_bytes(self, path):
        model, digest = load_protocol_file(path)
        assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
        definition = to_protocol_definition(model)
        assert definition.protocol_id == path.stem
        assert set(definition.screening.severities) == set(RuleId)

    def test_every_protocol_file_in_the_folder_loads(self):
        paths = sorted(PROTOCOLS.glob("*.toml"))
        assert len(paths) >= 2
        for path in paths:
            load_protocol_file(path)

    def test_default_reproduces_the_design_example(self):
        definition = to_protocol_definition(load_protocol_file(DEFAULT)[0])
        dose = calculate_dose(definition.dosing, WeightMeasurement(Decimal(70), NOW), NOW)
        assert (dose.dose_mg, dose.rate_mg_per_h) == (Decimal("35.0"), Decimal("52.5"))
        assert (dose.rate_ml_per_h, dose.concentration_mg_per_ml) == (
            Decimal("150.0"),
            Decimal("0.35"),
        )

    def test_default_alarm_and_gate_defaults(self):
        definition = to_protocol_definition(load_protocol_file(DEFAULT)[0])
        spo2 = definition.alarms.rules_for(Phase.INFUSING, Metric.SPO2)
        assert [(r.limit, r.priority, r.onset_delay_s, r.latching) for r in spo2] == [
            (92.0, Priority.MEDIUM, 15, False),
            (90.0, Priority.HIGH, 15, True),
        ]
        assert definition.alarms.rules_for(Phase.CHECKED_IN, Metric.DBP) == ()
        assert definition.alarms.technical.no_data_medium_s == 30
        assert definition.alarms.technical.clock_skew_limit_s == 30
        assert definition.discharge.min_observation_minutes == 60
        assert definition.dosing.max_dose_mg is None
        assert {g.id for g in definition.pre_session.gates} >= {"sbp_severe", "spo2_low", "rr_high"}

    def test_site_variant_carries_real_differences(self):
        default = to_protocol_definition(load_protocol_file(DEFAULT)[0])
        variant = to_protocol_definition(load_protocol_file(VARIANT)[0])
        assert variant.dosing.preparation.mode is PreparationMode.FIXED_CONCENTRATION
        assert variant.dosing.preparation.concentration_mg_per_ml == Decimal(10)
        assert variant.dosing.max_dose_mg == Decimal(100)
        assert variant.discharge.min_observation_minutes == 120
        rule = RuleId.HYPERTHYROIDISM_UNTREATED
        assert default.screening.severities[rule] is Severity.ABSOLUTE
        assert variant.screening.severities[rule] is Severity.RELATIVE
        dose = calculate_dose(variant.dosing, WeightMeasurement(Decimal(70), NOW), NOW)
        assert (dose.volume_ml, dose.rate_ml_per_h) == (Decimal("3.5"), Decimal("5.3"))

    def test_schema_has_one_table_per_screening_rule(self):
        assert set(ScreeningRulesFile.model_fields) == {rule.value for rule in RuleId}


class TestRefusedFiles:
    def test_negative_minutes_in_a_file_names_file_and_key(self, tmp_path):
        text = DEFAULT.read_text(encoding="utf-8")
        bad, count = re.subn(r"(?m)^minutes = 40 ", "minutes = -40 ", text)
        assert count == 1
        path = tmp_path / "bad.toml"
        path.write_text(bad, encoding="utf-8")
        with pytest.raises(ProtocolFileError) as error:
            load_protocol_file(path)
        assert error.value.key == "infusion.minutes"
        assert error.value.path == str(path)
        assert str(error.value).startswith(f"{path}: infusion.minutes: ")
        assert "greater than 0" in error.value.reason

    def test_spo2_limit_150_is_refused_naming_the_key(self):
        data = parsed()
        index = first_rule_index(data, "spo2")
        data["alarms"]["rules"][index]["limit"] = 150
        error = refused(data)
        assert error.key == f"alarms.rules[{index}].limit"
        assert "50–100" in error.reason

    def test_unknown_key_is_refused(self):
        data = parsed()
        data["infusion"]["bolus_mg"] = 10
        error = refused(data)
        assert (error.key, error.reason) == (
            "infusion.bolus_mg",
            "unknown key (not part of the protocol schema)",
        )

    def test_unknown_section_is_refused(self):
        data = parsed()
        data["extras"] = {"x": 1}
        assert refused(data).key == "extras"

    @pytest.mark.parametrize(
        ("section", "key", "value", "dotted"),
        [
            ("infusion", "mg_per_kg", Decimal("2.5"), "infusion.mg_per_kg"),
            ("infusion", "mg_per_kg", 0, "infusion.mg_per_kg"),
            ("infusion", "mg_per_kg", "0.5", "infusion.mg_per_kg"),
            ("infusion", "minutes", True, "infusion.minutes"),
            ("infusion", "weight_basis", "ideal", "infusion.weight_basis"),
            ("infusion", "max_dose_mg", 0, "infusion.max_dose_mg"),
            ("preparation", "mode", "bolus", "preparation.mode"),
            ("preparation", "bag_volume_ml", Decimal(-1), "preparation.bag_volume_ml"),
            ("discharge", "spo2_min_pct", 101, "discharge.spo2_min_pct"),
            ("recovery", "min_observation_minutes", -5, "recovery.min_observation_minutes"),
            ("course", "induction_infusions", 0, "course.induction_infusions"),
        ],
    )
    def test_bad_values_name_their_key(self, section, key, value, dotted):
        data = parsed()
        data[section][key] = value
        assert refused(data).key == dotted

    def test_missing_key_is_refused(self):
        data = parsed()
        del data["screening"]["rules"]["maoi"]
        error = refused(data)
        assert (error.key, error.reason) == ("screening.rules.maoi", "required key is missing")

    def test_bp_alarm_limit_out_of_range(self):
        data = parsed()
        index = first_rule_index(data, "sbp")
        data["alarms"]["rules"][index]["limit"] = 400
        assert refused(data).key == f"alarms.rules[{index}].limit"

    def test_zero_baseline_offset_is_refused(self):
        data = parsed()
        index = next(i for i, r in enumerate(data["alarms"]["rules"]) if "baseline_offset" in r)
        data["alarms"]["rules"][index]["baseline_offset"] = 0
        assert refused(data).key == f"alarms.rules[{index}].baseline_offset"

    def test_gate_limit_out_of_range(self):
        data = parsed()
        data["pre_session"]["gates"][0]["limit"] = 10
        assert refused(data).key == "pre_session.gates[0].limit"

    def test_bad_loinc_code(self):
        data = parsed()
        data["codes"]["loinc"]["sbp"] = "8480-X"
        assert refused(data).key == "codes.loinc.sbp"

    @pytest.mark.parametrize(
        ("mutate", "dotted"),
        [
            (lambda d: d["infusion"].update(minutes=120), "infusion.minutes"),
            (lambda d: d["infusion"].update(warning_weight_kg=260), "infusion.warning_weight_kg"),
            (lambda d: d["preparation"].pop("bag_volume_ml"), "preparation.bag_volume_ml"),
            (
                lambda d: d["preparation"].update(mode="fixed_concentration"),
                "preparation.concentration_mg_per_ml",
            ),
            (
                lambda d: d["titration"].update(steps_mg_per_kg=[Decimal("0.75"), Decimal("0.5")]),
                "titration.steps_mg_per_kg",
            ),
            (lambda d: d["infusion"].update(mg_per_kg=Decimal("0.6")), "infusion.mg_per_kg"),
            (
                lambda d: d["titration"].update(physician_max_mg_per_kg=Decimal("0.6")),
                "titration.physician_max_mg_per_kg",
            ),
            (
                lambda d: d["alarms"]["rules"][1].update(id=d["alarms"]["rules"][0]["id"]),
                "alarms.rules[1].id",
            ),
            (lambda d: d["alarms"]["rules"][0].pop("max_gap_s"), "alarms.rules[0].max_gap_s"),
            (lambda d: d["alarms"]["rules"][0].update(baseline_offset=5), "alarms.rules[0].limit"),
            (
                lambda d: d["alarms"]["technical"].update(no_data_high_s=30),
                "alarms.technical.no_data_high_s",
            ),
            (
                lambda d: d["checkpoints"][0].update(anchor="before_start"),
                "checkpoints[0].interval_minutes",
            ),
            (lambda d: d["checkpoints"][0].update(phases=[]), "checkpoints[0].phases"),
            (lambda d: d["checkpoints"][2].update(phases=["infusing"]), "checkpoints[2].phases"),
            (
                lambda d: d["checkpoints"][2].update(offset_minutes=5),
                "checkpoints[2].offset_minutes",
            ),
            (
                lambda d: d["preparation"].update(concentration_mg_per_ml=1),
                "preparation.bag_volume_ml",
            ),
            (
                lambda d: d["titration"].update(min_mg_per_kg=Decimal("0.6")),
                "titration.min_mg_per_kg",
            ),
            (
                lambda d: d["screening"]["rules"]["resting_hr_out_of_range"].update(below_bpm=130),
                "screening.rules.resting_hr_out_of_range.above_bpm",
            ),
            (
                lambda d: d["screening"]["rules"]["resting_bp_elevated"].update(sbp_above_mmhg=190),
                "screening.rules.resting_bp_elevated",
            ),
        ],
    )
    def test_cross_field_rules_name_their_key(self, mutate, dotted):
        data = copy.deepcopy(parsed())
        mutate(data)
        assert refused(data).key == dotted

    def test_several_problems_are_all_reported(self):
        data = parsed()
        data["infusion"]["minutes"] = -1
        data["course"]["induction_infusions"] = 0
        error = refused(data)
        assert len(error.problems) == 2
        assert "course.induction_infusions" in str(error)

    def test_toml_syntax_error(self, tmp_path):
        path = tmp_path / "broken.toml"
        path.write_text("[infusion\nminutes = 40\n", encoding="utf-8")
        with pytest.raises(ProtocolFileError, match="TOML syntax error"):
            load_protocol_file(path)

    def test_missing_file(self, tmp_path):
        with pytest.raises(ProtocolFileError, match="cannot read the file"):
            load_protocol_file(tmp_path / "absent.toml")

    def test_not_utf8(self, tmp_path):
        path = tmp_path / "latin1.toml"
        path.write_bytes(b'name = "\xe6\xf8\xe5"\n')
        with pytest.raises(ProtocolFileError, match="UTF-8"):
            load_protocol_file(path)
