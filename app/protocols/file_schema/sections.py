"""Pydantic v2 models of the protocol file, one per TOML table (extra keys refused, strict).

Bounds here are plausibility guards against typing errors, not clinical defaults: the clinical
numbers live in the protocol files under `protocols/`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)


def _int_to_decimal(value: object) -> object:
    # TOML integers arrive as int; floats arrive as Decimal (parse_float=Decimal). Bools stay
    # bools so that strict validation refuses them.
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return value


Dec = Annotated[Decimal, BeforeValidator(_int_to_decimal)]
MgPerKg = Annotated[Dec, Field(gt=0, le=2)]
Pct = Annotated[Dec, Field(ge=0, le=100)]
Id = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=400)]
Seconds = Annotated[int, Field(ge=0, le=3600)]
Days = Annotated[int, Field(ge=1, le=730)]
Count = Annotated[int, Field(ge=1, le=100)]
PhaseName = Literal["checked_in", "infusing", "paused", "stopped", "recovery"]
MetricName = Literal["sbp", "dbp", "map", "hr", "pr", "spo2", "rr", "temp"]
ComparatorSymbol = Literal["<", "<=", ">", ">="]
PriorityName = Literal["low", "medium", "high"]
SeverityName = Literal["absolute", "relative"]

# Plausible limit values per metric (UCUM units: mm[Hg], /min, %, Cel).
METRIC_LIMIT_BOUNDS: dict[str, tuple[Decimal, Decimal]] = {
    "sbp": (Decimal(40), Decimal(300)),
    "dbp": (Decimal(20), Decimal(200)),
    "map": (Decimal(30), Decimal(250)),
    "hr": (Decimal(20), Decimal(250)),
    "pr": (Decimal(20), Decimal(250)),
    "spo2": (Decimal(50), Decimal(100)),
    "rr": (Decimal(2), Decimal(60)),
    "temp": (Decimal(30), Decimal(45)),
}
MAX_BASELINE_OFFSET = Decimal(100)


def _check_metric_limit(metric: str | None, value: Decimal | None) -> Decimal | None:
    if value is None or metric is None:
        return value
    low, high = METRIC_LIMIT_BOUNDS[metric]
    if not low <= value <= high:
        raise ValueError(f"{value} is outside the plausible {low}–{high} for metric '{metric}'")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ProtocolMeta(_Model):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=80)]
    version: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z.+-]{1,40}$")]
    name: Text
    description: Text | None = None


class Drug(_Model):
    name: Text
    route: Literal["iv"]
    stock_concentrations_mg_per_ml: list[Annotated[Dec, Field(gt=0, le=100)]]


class Infusion(_Model):
    mg_per_kg: MgPerKg
    minutes: Annotated[int, Field(gt=0, le=240)]
    minutes_min: Annotated[int, Field(gt=0, le=240)]
    minutes_max: Annotated[int, Field(gt=0, le=240)]
    weight_basis: Literal["actual"]
    weight_window_days: Annotated[int, Field(ge=1, le=365)]
    plausible_weight_min_kg: Annotated[Dec, Field(ge=1, le=100)]
    plausible_weight_max_kg: Annotated[Dec, Field(ge=100, le=500)]
    warning_weight_kg: Annotated[Dec, Field(gt=0, le=500)]
    max_dose_mg: Annotated[Dec, Field(gt=0, le=500)] | None = None


class PreparationFile(_Model):
    mode: Literal["fixed_bag_volume", "fixed_concentration"]
    bag_volume_ml: Annotated[Dec, Field(gt=0, le=1000)] | None = None
    concentration_mg_per_ml: Annotated[Dec, Field(gt=0, le=100)] | None = None
    diluent: Text
    pump: Literal["volumetric", "syringe"]


class Titration(_Model):
    steps_mg_per_kg: Annotated[list[MgPerKg], Field(min_length=1)]
    step_up_after_infusions: Count
    step_up_if_improvement_below_pct: Annotated[Dec, Field(gt=0, le=100)]
    improvement_scale: Id
    step_up_blocked_if_cadss_ge: Annotated[int, Field(ge=0, le=92)]
    step_down_mg_per_kg: Annotated[Dec, Field(gt=0, le=1)]
    min_mg_per_kg: MgPerKg
    physician_max_mg_per_kg: MgPerKg
    rate_reduction_factor: Annotated[Dec, Field(gt=0, lt=1)]


class Course(_Model):
    induction_infusions: Count
    induction_weeks: Annotated[int, Field(ge=1, le=52)]
    min_hours_between_infusions: Annotated[int, Field(ge=0, le=720)]
    futility_review_after_infusions: Count
    maintenance_max_months: Annotated[int, Field(ge=0, le=60)]


class Gate(_Model):
    id: Id
    metric: MetricName
    comparator: ComparatorSymbol
    limit: Dec
    outcome: Literal["block", "repeat_then_block", "physician_ack"]
    message: Text

    @field_validator("limit")
    @classmethod
    def _limit_plausible(cls, value: Decimal, info: ValidationInfo) -> Decimal | None:
        return _check_metric_limit(info.data.get("metric"), value)


class PreSession(_Model):
    repeat_after_minutes: Annotated[int, Field(ge=1, le=60)]
    fasting_solids_hours: Annotated[int, Field(ge=0, le=24)]
    fasting_clear_fluids_hours: Annotated[int, Field(ge=0, le=24)]
    checklist: list[Id]
    gates: Annotated[list[Gate], Field(min_length=1)]


class CheckpointFile(_Model):
    id: Id
    item: Id
    phases: list[PhaseName] = []
    interval_minutes: Annotated[int, Field(ge=1, le=240)] | None = None
    anchor: Literal["before_start", "after_start", "before_discharge"] | None = None
    offset_minutes: Annotated[int, Field(ge=0, le=600)] = 0
    grace_minutes: Annotated[int, Field(ge=0, le=60)]


class AlarmRuleFile(_Model):
    id: Id
    phases: Annotated[list[PhaseName], Field(min_length=1)]
    metric: MetricName
    comparator: ComparatorSymbol
    limit: Dec | None = None
    baseline_offset: Dec | None = None
    priority: PriorityName
    onset_delay_s: Annotated[int, Field(ge=0, le=600)]
    max_gap_s: Annotated[int, Field(ge=1, le=120)] | None = None
    hysteresis_margin: Annotated[Dec, Field(ge=0, le=50)]
    clear_time_s: Seconds
    latching: bool
    action: Text

    @field_validator("limit")
    @classmethod
    def _limit_plausible(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        return _check_metric_limit(info.data.get("metric"), value)

    @field_validator("baseline_offset")
    @classmethod
    def _offset_plausible(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and not 0 < abs(value) <= MAX_BASELINE_OFFSET:
            raise ValueError(f"must be non-zero and at most {MAX_BASELINE_OFFSET} in magnitude")
        return value


class TechnicalAlarms(_Model):
    no_data_metrics: Annotated[list[MetricName], Field(min_length=1)]
    no_data_medium_s: Annotated[int, Field(ge=1, le=600)]
    no_data_high_s: Annotated[int, Field(ge=1, le=3600)]
    nibp_overdue_grace_s: Annotated[int, Field(ge=0, le=1800)]
    device_silent_s: Annotated[int, Field(ge=1, le=600)]
    device_offline_priority: PriorityName
    clock_skew_limit_s: Annotated[int, Field(ge=1, le=3600)]
    clock_skew_priority: PriorityName
    no_board_priority: PriorityName


class Escalation(_Model):
    high_unacknowledged_s: Annotated[int, Field(ge=1, le=3600)]
    medium_unacknowledged_s: Annotated[int, Field(ge=1, le=3600)]
    silence_s: Annotated[int, Field(ge=1, le=3600)]
    reannunciate_after_ack_s: Annotated[int, Field(ge=1, le=3600)]


class Alarms(_Model):
    heart_rate_sources: Annotated[list[Literal["hr", "pr"]], Field(min_length=1)]
    rules: Annotated[list[AlarmRuleFile], Field(min_length=1)]
    technical: TechnicalAlarms
    escalation: Escalation


class Recovery(_Model):
    min_observation_minutes: Annotated[int, Field(ge=0, le=1440)]


class Advice(_Model):
    no_driving_until: Text
    no_alcohol_hours: Annotated[int, Field(ge=0, le=168)]
    avoid_benzodiazepine_opioid_hours: Annotated[int, Field(ge=0, le=168)]
    no_important_decisions_hours: Annotated[int, Field(ge=0, le=168)]


class Discharge(_Model):
    physician_evaluation_required: bool
    aldrete_modified_min: Annotated[int, Field(ge=0, le=10)]
    spo2_min_pct: Annotated[Dec, Field(ge=50, le=100)]
    bp_within_pct_of_baseline: Pct
    bp_below_medium_alarm_limits: bool
    cadss_at_or_below_pre: bool
    escort_required: bool
    alarms_cleared_required: bool
    advice: Advice


class Scales(_Model):
    primary: Id
    self_report: Id
    schedule: Annotated[list[Id], Field(min_length=1)]
    response_improvement_pct: Annotated[int, Field(ge=1, le=100)]
    remission_madrs_max: Annotated[int, Field(ge=0, le=60)]
    remission_phq9_below: Annotated[int, Field(ge=0, le=27)]
    mania_ymrs_flag_above: Annotated[int, Field(ge=0, le=60)]


class SeverityRule(_Model):
    severity: SeverityName


class BpRule(SeverityRule):
    sbp_above_mmhg: Annotated[Dec, Field(ge=80, le=300)]
    dbp_above_mmhg: Annotated[Dec, Field(ge=40, le=200)]


class HrRule(SeverityRule):
    below_bpm: Annotated[Dec, Field(ge=20, le=250)]
    above_bpm: Annotated[Dec, Field(ge=20, le=250)]


class Spo2Rule(SeverityRule):
    below_pct: Annotated[Dec, Field(ge=50, le=100)]


class HepaticRule(SeverityRule):
    flag_from: Literal["mild", "moderate", "severe"]


class LiverEnzymeRule(SeverityRule):
    max_times_upper_limit: Annotated[Dec, Field(gt=1, le=20)]


class BenzodiazepineRule(SeverityRule):
    max_diazepam_equivalent_mg_per_day: Annotated[Dec, Field(ge=0, le=200)]


class AgeRule(SeverityRule):
    min_age_years: Annotated[int, Field(ge=0, le=120)]


class TreatmentResistanceRule(SeverityRule):
    min_failed_trials: Annotated[int, Field(ge=0, le=10)]


class ScreeningRulesFile(_Model):
    """One table per `RuleId` (checked by a test): `screening.rules.<rule id>`."""

    psychosis_current: SeverityRule
    psychosis_history: SeverityRule
    mania_current: SeverityRule
    bipolar_disorder: SeverityRule
    substance_use_disorder_active: SeverityRule
    pregnancy: SeverityRule
    breastfeeding: SeverityRule
    resting_bp_severe: BpRule
    resting_bp_elevated: BpRule
    resting_hr_out_of_range: HrRule
    resting_spo2_low: Spo2Rule
    hypertension_uncontrolled: SeverityRule
    aneurysmal_vascular_disease: SeverityRule
    intracranial_haemorrhage: SeverityRule
    stroke: SeverityRule
    cardiac_disease: SeverityRule
    raised_intracranial_pressure: SeverityRule
    raised_intraocular_pressure: SeverityRule
    ketamine_hypersensitivity: SeverityRule
    hyperthyroidism_untreated: SeverityRule
    hepatic_impairment: HepaticRule
    liver_enzymes_raised: LiverEnzymeRule
    xanthine_derivative: SeverityRule
    ergometrine: SeverityRule
    benzodiazepine_dose: BenzodiazepineRule
    maoi: SeverityRule
    lamotrigine: SeverityRule
    memantine: SeverityRule
    lithium: SeverityRule
    under_minimum_age: AgeRule
    consent_refused: SeverityRule
    treatment_resistance_unconfirmed: TreatmentResistanceRule


class ScreeningDataWindows(_Model):
    resting_vitals_max_age_days: Days
    liver_tests_max_age_days: Days
    weight_max_age_days: Days


class ScreeningFile(_Model):
    validity_days: Days
    data_windows: ScreeningDataWindows
    rules: ScreeningRulesFile


LoincCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,7}-[0-9]$")]


class AlarmPriorityCodes(_Model):
    none: Literal["PN"]
    low: Literal["PL"]
    medium: Literal["PM"]
    high: Literal["PH"]


class Codes(_Model):
    loinc: dict[Id, LoincCode | list[LoincCode]]
    mdc: dict[Id, Annotated[int, Field(ge=1, le=999_999)]]
    ucum: dict[Id, Annotated[str, StringConstraints(min_length=1, max_length=40)]]
    alarm_priority: AlarmPriorityCodes


class ProtocolFile(_Model):
    """A whole protocol file; section names are the TOML top-level tables."""

    schema_version: Literal[1]
    protocol: ProtocolMeta
    drug: Drug
    infusion: Infusion
    preparation: PreparationFile
    titration: Titration
    course: Course
    pre_session: PreSession
    checkpoints: Annotated[list[CheckpointFile], Field(min_length=1)]
    alarms: Alarms
    recovery: Recovery
    discharge: Discharge
    scales: Scales
    screening: ScreeningFile
    codes: Codes
