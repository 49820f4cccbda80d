"""Screening rule ids, severities, limits and results (DESIGN §4, protocol `[screening]`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from app.screening.domain.inputs import HepaticImpairment, MedicationClass


class Severity(StrEnum):
    """Finding severity: absolute cannot be overridden, relative needs a written justification."""

    ABSOLUTE = "absolute"
    RELATIVE = "relative"
    MISSING_DATA = "missing-data"


class EligibilityStatus(StrEnum):
    """Overall result (DESIGN §4)."""

    ELIGIBLE = "ELIGIBLE"
    NEEDS_REVIEW = "NEEDS_REVIEW"
    INELIGIBLE = "INELIGIBLE"


class RuleId(StrEnum):
    """Contraindication rules; each has a table `screening.rules.<id>` in the protocol file."""

    PSYCHOSIS_CURRENT = "psychosis_current"
    PSYCHOSIS_HISTORY = "psychosis_history"
    MANIA_CURRENT = "mania_current"
    BIPOLAR_DISORDER = "bipolar_disorder"
    SUBSTANCE_USE_DISORDER_ACTIVE = "substance_use_disorder_active"
    PREGNANCY = "pregnancy"
    BREASTFEEDING = "breastfeeding"
    RESTING_BP_SEVERE = "resting_bp_severe"
    RESTING_BP_ELEVATED = "resting_bp_elevated"
    RESTING_HR_OUT_OF_RANGE = "resting_hr_out_of_range"
    RESTING_SPO2_LOW = "resting_spo2_low"
    HYPERTENSION_UNCONTROLLED = "hypertension_uncontrolled"
    ANEURYSMAL_VASCULAR_DISEASE = "aneurysmal_vascular_disease"
    INTRACRANIAL_HAEMORRHAGE = "intracranial_haemorrhage"
    STROKE = "stroke"
    CARDIAC_DISEASE = "cardiac_disease"
    RAISED_INTRACRANIAL_PRESSURE = "raised_intracranial_pressure"
    RAISED_INTRAOCULAR_PRESSURE = "raised_intraocular_pressure"
    KETAMINE_HYPERSENSITIVITY = "ketamine_hypersensitivity"
    HYPERTHYROIDISM_UNTREATED = "hyperthyroidism_untreated"
    HEPATIC_IMPAIRMENT = "hepatic_impairment"
    LIVER_ENZYMES_RAISED = "liver_enzymes_raised"
    XANTHINE_DERIVATIVE = "xanthine_derivative"
    ERGOMETRINE = "ergometrine"
    BENZODIAZEPINE_DOSE = "benzodiazepine_dose"
    MAOI = "maoi"
    LAMOTRIGINE = "lamotrigine"
    MEMANTINE = "memantine"
    LITHIUM = "lithium"
    UNDER_MINIMUM_AGE = "under_minimum_age"
    CONSENT_REFUSED = "consent_refused"
    TREATMENT_RESISTANCE_UNCONFIRMED = "treatment_resistance_unconfirmed"


MISSING_DATA_RULE = "missing_data"
STALE_DATA_RULE = "stale_data"
IMPLAUSIBLE_DATA_RULE = "implausible_data"


# Yes/no history fields and the rule each one triggers when True.
YES_NO_RULES: tuple[tuple[str, RuleId, str], ...] = (
    (
        "aneurysmal_vascular_disease",
        RuleId.ANEURYSMAL_VASCULAR_DISEASE,
        "aneurysmal vascular disease or AVM",
    ),
    (
        "intracranial_haemorrhage",
        RuleId.INTRACRANIAL_HAEMORRHAGE,
        "history of intracranial haemorrhage",
    ),
    ("stroke", RuleId.STROKE, "previous stroke"),
    ("significant_cardiac_disease", RuleId.CARDIAC_DISEASE, "significant cardiac disease"),
    (
        "raised_intracranial_pressure",
        RuleId.RAISED_INTRACRANIAL_PRESSURE,
        "raised intracranial pressure",
    ),
    (
        "raised_intraocular_pressure",
        RuleId.RAISED_INTRAOCULAR_PRESSURE,
        "raised intraocular pressure",
    ),
    (
        "ketamine_hypersensitivity",
        RuleId.KETAMINE_HYPERSENSITIVITY,
        "known hypersensitivity to ketamine",
    ),
)

# Medication classes and the rule each one triggers when present.
MEDICATION_RULES: tuple[tuple[MedicationClass, RuleId], ...] = (
    (MedicationClass.XANTHINE, RuleId.XANTHINE_DERIVATIVE),
    (MedicationClass.ERGOMETRINE, RuleId.ERGOMETRINE),
    (MedicationClass.MAOI, RuleId.MAOI),
    (MedicationClass.LAMOTRIGINE, RuleId.LAMOTRIGINE),
    (MedicationClass.MEMANTINE, RuleId.MEMANTINE),
    (MedicationClass.LITHIUM, RuleId.LITHIUM),
)


def rule_protocol_key(rule_id: RuleId) -> str:
    """Dotted protocol-file key of a rule's table, e.g. `screening.rules.maoi`."""
    return f"screening.rules.{rule_id.value}"


@dataclass(frozen=True, slots=True)
class ScreeningLimits:
    """Numeric limits of the rules (units in the names; keys under `screening.rules.<id>`)."""

    min_age_years: int
    bp_severe_sbp_above_mmhg: float
    bp_severe_dbp_above_mmhg: float
    bp_elevated_sbp_above_mmhg: float
    bp_elevated_dbp_above_mmhg: float
    hr_below_bpm: float
    hr_above_bpm: float
    spo2_below_pct: float
    benzodiazepine_max_diazepam_eq_mg_per_day: Decimal
    liver_enzyme_max_times_uln: Decimal
    hepatic_impairment_flag_from: HepaticImpairment
    min_failed_antidepressant_trials: int
    weight_min_kg: Decimal
    weight_max_kg: Decimal


@dataclass(frozen=True, slots=True)
class DataWindows:
    """Maximum age in days of screening data before it counts as stale (site choices)."""

    resting_vitals_max_age_days: int
    liver_tests_max_age_days: int
    weight_max_age_days: int


@dataclass(frozen=True, slots=True)
class ScreeningRules:
    """Severity per rule, limits, data windows and signature validity (protocol `[screening]`)."""

    severities: dict[RuleId, Severity]
    limits: ScreeningLimits
    windows: DataWindows
    validity_days: int

    def __post_init__(self) -> None:
        missing = [rule.value for rule in RuleId if rule not in self.severities]
        if missing:
            raise ValueError(f"screening rules without a severity: {', '.join(missing)}")
        if any(s is Severity.MISSING_DATA for s in self.severities.values()):
            raise ValueError("a rule's severity must be absolute or relative")


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding: rule id, severity, message, protocol key and the data that triggered it."""

    rule_id: str
    severity: Severity
    message: str
    protocol_key: str
    data: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class EligibilityResult:
    """Status and every finding, in rule order."""

    status: EligibilityStatus
    findings: tuple[Finding, ...]
    evaluated_at: datetime

    def with_severity(self, severity: Severity) -> tuple[Finding, ...]:
        """The findings of one severity (e.g. the relative ones a physician must justify)."""
        return tuple(f for f in self.findings if f.severity is severity)
