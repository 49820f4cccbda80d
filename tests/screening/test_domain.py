"""Pure tests of the eligibility rules engine, with the rules of the shipped protocol files."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.protocols.file_schema import load_protocol_file, to_screening_rules
from app.screening.domain import (
    IMPLAUSIBLE_DATA_RULE,
    MISSING_DATA_RULE,
    STALE_DATA_RULE,
    EligibilityResult,
    EligibilityStatus,
    HepaticImpairment,
    HypertensionStatus,
    LiverTests,
    Medication,
    MedicationClass,
    Presence,
    RestingVitals,
    RuleId,
    Screening,
    ScreeningRules,
    Severity,
    ThyroidStatus,
    evaluate_eligibility,
)

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"
RULES = to_screening_rules(load_protocol_file(PROTOCOLS / "ketamine-iv-0.5mgkg-40min.toml")[0])
VARIANT_RULES = to_screening_rules(
    load_protocol_file(PROTOCOLS / "site-variant-syringe-10mgml-120min.toml")[0]
)
NOW = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
RECENT = NOW - timedelta(days=2)
D = Decimal

SERTRALINE = Medication("sertraline", frozenset({MedicationClass.OTHER}))
VITALS = RestingVitals(RECENT, sbp_mmhg=128, dbp_mmhg=82, hr_bpm=72, spo2_pct=98)
LIVER = LiverTests(RECENT, D(30), D(45), D(28), D(40))

CLEAN = Screening(
    psychosis=Presence.NONE,
    mania=Presence.NONE,
    bipolar_disorder=False,
    substance_use_disorder=Presence.NONE,
    hypertension=HypertensionStatus.NONE,
    aneurysmal_vascular_disease=False,
    intracranial_haemorrhage=False,
    stroke=False,
    significant_cardiac_disease=False,
    raised_intracranial_pressure=False,
    raised_intraocular_pressure=False,
    pregnancy_applicable=True,
    pregnant=False,
    breastfeeding=False,
    hyperthyroidism=ThyroidStatus.NONE,
    hepatic_impairment=HepaticImpairment.NONE,
    liver_tests=LIVER,
    ketamine_hypersensitivity=False,
    birth_date=date(1980, 6, 15),
    medications=(SERTRALINE,),
    resting_vitals=VITALS,
    weight_kg=D(70),
    weight_measured_at=RECENT,
    consent_off_label=True,
    failed_antidepressant_trials=3,
)


def med(name: str, cls: MedicationClass, dzp: str | None = None) -> Medication:
    return Medication(name, frozenset({cls}), None if dzp is None else D(dzp))


def evaluate(rules: ScreeningRules = RULES, **changes: Any) -> EligibilityResult:
    return evaluate_eligibility(replace(CLEAN, **changes), rules, NOW)


def rule_ids(result: EligibilityResult) -> list[str]:
    return [finding.rule_id for finding in result.findings]


def test_clean_screening_is_eligible():
    result = evaluate()
    assert result.status is EligibilityStatus.ELIGIBLE
    assert result.findings == ()
    assert result.evaluated_at == NOW


ABSOLUTE_CASES = [
    ("psychosis_current", {"psychosis": Presence.CURRENT}),
    ("mania_current", {"mania": Presence.CURRENT}),
    ("pregnancy", {"pregnant": True}),
    ("resting_bp_severe", {"resting_vitals": replace(VITALS, sbp_mmhg=185, dbp_mmhg=95)}),
    ("resting_bp_severe", {"resting_vitals": replace(VITALS, sbp_mmhg=150, dbp_mmhg=105)}),
    ("aneurysmal_vascular_disease", {"aneurysmal_vascular_disease": True}),
    ("intracranial_haemorrhage", {"intracranial_haemorrhage": True}),
    ("stroke", {"stroke": True}),
    ("raised_intracranial_pressure", {"raised_intracranial_pressure": True}),
    ("raised_intraocular_pressure", {"raised_intraocular_pressure": True}),
    ("ketamine_hypersensitivity", {"ketamine_hypersensitivity": True}),
    ("hyperthyroidism_untreated", {"hyperthyroidism": ThyroidStatus.UNTREATED}),
    ("xanthine_derivative", {"medications": (med("theophylline", MedicationClass.XANTHINE),)}),
    ("ergometrine", {"medications": (med("ergometrine", MedicationClass.ERGOMETRINE),)}),
    ("under_minimum_age", {"birth_date": date(2007, 3, 2)}),
    ("under_minimum_age", {"birth_date": None, "age_years": 16}),
    ("consent_refused", {"consent_off_label": False}),
]


@pytest.mark.parametrize(
    ("rule_id", "changes"),
    ABSOLUTE_CASES,
    ids=[f"{rule}-{i}" for i, (rule, _) in enumerate(ABSOLUTE_CASES)],
)
def test_absolute_contraindication_is_ineligible(rule_id, changes):
    result = evaluate(**changes)
    assert result.status is EligibilityStatus.INELIGIBLE
    assert rule_ids(result) == [rule_id]
    (finding,) = result.findings
    assert finding.severity is Severity.ABSOLUTE
    assert finding.protocol_key == f"screening.rules.{rule_id}"
    assert finding.data


RELATIVE_CASES = [
    ("psychosis_history", {"psychosis": Presence.PAST}),
    ("bipolar_disorder", {"bipolar_disorder": True}),
    ("bipolar_disorder", {"mania": Presence.PAST}),
    ("substance_use_disorder_active", {"substance_use_disorder": Presence.CURRENT}),
    ("breastfeeding", {"breastfeeding": True}),
    ("resting_bp_elevated", {"resting_vitals": replace(VITALS, sbp_mmhg=145, dbp_mmhg=85)}),
    ("resting_bp_elevated", {"resting_vitals": replace(VITALS, sbp_mmhg=135, dbp_mmhg=92)}),
    ("resting_bp_elevated", {"resting_vitals": replace(VITALS, sbp_mmhg=180, dbp_mmhg=100)}),
    ("resting_hr_out_of_range", {"resting_vitals": replace(VITALS, hr_bpm=45)}),
    ("resting_hr_out_of_range", {"resting_vitals": replace(VITALS, hr_bpm=125)}),
    ("resting_spo2_low", {"resting_vitals": replace(VITALS, spo2_pct=94)}),
    ("hypertension_uncontrolled", {"hypertension": HypertensionStatus.UNCONTROLLED}),
    ("cardiac_disease", {"significant_cardiac_disease": True}),
    ("hepatic_impairment", {"hepatic_impairment": HepaticImpairment.MODERATE}),
    ("hepatic_impairment", {"hepatic_impairment": HepaticImpairment.SEVERE}),
    ("liver_enzymes_raised", {"liver_tests": replace(LIVER, alt_u_per_l=D(136))}),
    ("liver_enzymes_raised", {"liver_tests": replace(LIVER, ast_u_per_l=D(140))}),
    (
        "benzodiazepine_dose",
        {
            "medications": (
                med("diazepam", MedicationClass.BENZODIAZEPINE, "5"),
                med("oxazepam", MedicationClass.BENZODIAZEPINE, "6"),
            )
        },
    ),
    ("maoi", {"medications": (med("phenelzine", MedicationClass.MAOI),)}),
    ("lamotrigine", {"medications": (med("lamotrigine", MedicationClass.LAMOTRIGINE),)}),
    ("memantine", {"medications": (med("memantine", MedicationClass.MEMANTINE),)}),
    ("lithium", {"medications": (med("lithium", MedicationClass.LITHIUM),)}),
    ("treatment_resistance_unconfirmed", {"failed_antidepressant_trials": 1}),
]


@pytest.mark.parametrize(
    ("rule_id", "changes"),
    RELATIVE_CASES,
    ids=[f"{rule}-{i}" for i, (rule, _) in enumerate(RELATIVE_CASES)],
)
def test_relative_contraindication_needs_review(rule_id, changes):
    result = evaluate(**changes)
    assert result.status is EligibilityStatus.NEEDS_REVIEW
    assert rule_ids(result) == [rule_id]
    assert result.findings[0].severity is Severity.RELATIVE
    assert result.with_severity(Severity.RELATIVE) == result.findings


def test_every_rule_is_covered_by_a_case():
    covered = {rule for rule, _ in ABSOLUTE_CASES + RELATIVE_CASES}
    assert covered == {rule.value for rule in RuleId}


BOUNDARY_CASES = [
    {"resting_vitals": replace(VITALS, sbp_mmhg=140, dbp_mmhg=90)},
    {"resting_vitals": replace(VITALS, hr_bpm=50)},
    {"resting_vitals": replace(VITALS, hr_bpm=120)},
    {"resting_vitals": replace(VITALS, spo2_pct=95)},
    {"liver_tests": replace(LIVER, alt_u_per_l=D(135))},
    {"medications": (med("diazepam", MedicationClass.BENZODIAZEPINE, "8"),)},
    {"medications": ()},
    {"hepatic_impairment": HepaticImpairment.MILD},
    {"hyperthyroidism": ThyroidStatus.TREATED},
    {"hypertension": HypertensionStatus.CONTROLLED},
    {"substance_use_disorder": Presence.PAST},
    {"pregnancy_applicable": False, "pregnant": None, "breastfeeding": None},
    {"birth_date": date(2007, 3, 1)},
    {"failed_antidepressant_trials": 2},
    {"weight_kg": D(250), "weight_measured_at": NOW - timedelta(days=30)},
]


@pytest.mark.parametrize("changes", BOUNDARY_CASES)
def test_values_at_the_limits_are_eligible(changes):
    assert evaluate(**changes).status is EligibilityStatus.ELIGIBLE


REQUIRED = [
    f.name for f in fields(Screening) if f.name not in {"age_years", "pregnant", "breastfeeding"}
]


@pytest.mark.parametrize("name", REQUIRED)
def test_missing_field_needs_review_naming_it(name):
    missing: dict[str, Any] = {name: None}
    result = evaluate(**missing)
    assert result.status is EligibilityStatus.NEEDS_REVIEW
    assert [(f.rule_id, f.severity) for f in result.findings] == [
        (MISSING_DATA_RULE, Severity.MISSING_DATA)
    ]
    assert result.findings[0].data == (("field", name),)
    assert name in result.findings[0].message


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"pregnant": None}, "pregnant"),
        ({"breastfeeding": None}, "breastfeeding"),
        ({"resting_vitals": replace(VITALS, sbp_mmhg=None)}, "resting_vitals.sbp_mmhg"),
        ({"resting_vitals": replace(VITALS, spo2_pct=None)}, "resting_vitals.spo2_pct"),
        ({"liver_tests": replace(LIVER, ast_uln_u_per_l=None)}, "liver_tests.ast_uln_u_per_l"),
        (
            {"medications": (med("alprazolam", MedicationClass.BENZODIAZEPINE),)},
            "medications[0].diazepam_equivalent_mg_per_day (alprazolam)",
        ),
    ],
)
def test_missing_nested_field_is_named(changes, field):
    result = evaluate(**changes)
    assert result.status is EligibilityStatus.NEEDS_REVIEW
    assert ("field", field) in result.findings[0].data


@pytest.mark.parametrize(
    ("changes", "rule", "key"),
    [
        (
            {"resting_vitals": replace(VITALS, measured_at=NOW - timedelta(days=31))},
            STALE_DATA_RULE,
            "screening.data_windows.resting_vitals_max_age_days",
        ),
        (
            {"liver_tests": replace(LIVER, measured_at=NOW - timedelta(days=91))},
            STALE_DATA_RULE,
            "screening.data_windows.liver_tests_max_age_days",
        ),
        (
            {"weight_measured_at": NOW - timedelta(days=31)},
            STALE_DATA_RULE,
            "screening.data_windows.weight_max_age_days",
        ),
        (
            {"resting_vitals": replace(VITALS, measured_at=NOW + timedelta(hours=1))},
            IMPLAUSIBLE_DATA_RULE,
            "screening.data_windows.resting_vitals_max_age_days",
        ),
        ({"weight_kg": D(25)}, IMPLAUSIBLE_DATA_RULE, "infusion.plausible_weight_min_kg"),
    ],
    ids=["stale-vitals", "stale-labs", "stale-weight", "future-vitals", "implausible-weight"],
)
def test_stale_or_implausible_data_needs_review(changes, rule, key):
    result = evaluate(**changes)
    assert result.status is EligibilityStatus.NEEDS_REVIEW
    assert [(f.rule_id, f.severity, f.protocol_key) for f in result.findings] == [
        (rule, Severity.MISSING_DATA, key)
    ]


def test_bipolar_is_flagged_even_when_mania_is_not_recorded():
    result = evaluate(bipolar_disorder=True, mania=None)
    assert rule_ids(result) == [MISSING_DATA_RULE, "bipolar_disorder"]
    assert dict(result.findings[1].data) == {"bipolar_disorder": "True", "mania": "None"}


def test_finding_carries_the_data_that_triggered_it():
    result = evaluate(resting_vitals=replace(VITALS, sbp_mmhg=185, dbp_mmhg=95))
    data = dict(result.findings[0].data)
    assert (data["sbp_mmhg"], data["dbp_mmhg"]) == ("185", "95")
    assert data["measured_at"] == RECENT.isoformat()
    assert "185/95 mmHg" in result.findings[0].message


def test_absolute_wins_and_every_finding_is_listed():
    result = evaluate(pregnant=True, significant_cardiac_disease=True, consent_off_label=None)
    assert result.status is EligibilityStatus.INELIGIBLE
    assert {f.severity for f in result.findings} == set(Severity)
    assert len(result.findings) == 3


def test_site_variant_relaxes_untreated_hyperthyroidism_to_relative():
    default = evaluate(RULES, hyperthyroidism=ThyroidStatus.UNTREATED)
    variant = evaluate(VARIANT_RULES, hyperthyroidism=ThyroidStatus.UNTREATED)
    assert default.status is EligibilityStatus.INELIGIBLE
    assert variant.status is EligibilityStatus.NEEDS_REVIEW
    assert variant.findings[0].severity is Severity.RELATIVE


def test_rules_must_classify_every_rule():
    with pytest.raises(ValueError, match="maoi"):
        replace(
            RULES, severities={k: v for k, v in RULES.severities.items() if k is not RuleId.MAOI}
        )
    with pytest.raises(ValueError, match="absolute or relative"):
        replace(RULES, severities={**RULES.severities, RuleId.MAOI: Severity.MISSING_DATA})


def test_naive_measurement_time_is_refused():
    naive = replace(VITALS, measured_at=datetime(2025, 3, 1, 9, 0))  # noqa: DTZ001
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate(resting_vitals=naive)


def test_naive_now_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate_eligibility(CLEAN, RULES, datetime(2025, 3, 1, 10, 0))  # noqa: DTZ001


@given(
    psychosis=st.sampled_from([*Presence, None]),
    pregnant=st.sampled_from([True, False, None]),
    sbp=st.floats(min_value=80, max_value=220),
    dbp=st.floats(min_value=40, max_value=130),
    benzo=st.decimals(min_value=0, max_value=30, places=1),
    trials=st.integers(min_value=0, max_value=5) | st.none(),
)
def test_status_follows_the_most_severe_finding(psychosis, pregnant, sbp, dbp, benzo, trials):
    result = evaluate(
        psychosis=psychosis,
        pregnant=pregnant,
        resting_vitals=replace(VITALS, sbp_mmhg=sbp, dbp_mmhg=dbp),
        medications=(Medication("diazepam", frozenset({MedicationClass.BENZODIAZEPINE}), benzo),),
        failed_antidepressant_trials=trials,
    )
    severities = {f.severity for f in result.findings}
    if Severity.ABSOLUTE in severities:
        assert result.status is EligibilityStatus.INELIGIBLE
    elif severities:
        assert result.status is EligibilityStatus.NEEDS_REVIEW
    else:
        assert result.status is EligibilityStatus.ELIGIBLE
    assert (sbp > 180 or dbp > 100) == (RuleId.RESTING_BP_SEVERE.value in rule_ids(result))
