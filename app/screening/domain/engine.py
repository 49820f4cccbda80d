"""Eligibility evaluation (DESIGN §4, clinical.md §2, issue 4 point 6)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from app.screening.domain.inputs import (
    HypertensionStatus,
    MedicationClass,
    Presence,
    Screening,
    ThyroidStatus,
)
from app.screening.domain.rules import (
    IMPLAUSIBLE_DATA_RULE,
    MEDICATION_RULES,
    MISSING_DATA_RULE,
    STALE_DATA_RULE,
    YES_NO_RULES,
    EligibilityResult,
    EligibilityStatus,
    Finding,
    RuleId,
    ScreeningRules,
    Severity,
    rule_protocol_key,
)


@dataclass(slots=True)
class _Collector:
    rules: ScreeningRules
    now: datetime
    findings: list[Finding] = field(default_factory=list)
    _missing: set[str] = field(default_factory=set)

    def present(self, name: str, value: object, needed_by: RuleId | str) -> bool:
        if value is not None:
            return True
        key = rule_protocol_key(needed_by) if isinstance(needed_by, RuleId) else needed_by
        if name not in self._missing:
            self._missing.add(name)
            self.findings.append(
                Finding(
                    MISSING_DATA_RULE,
                    Severity.MISSING_DATA,
                    f"{name} is not recorded (required by {key})",
                    key,
                    (("field", name),),
                )
            )
        return False

    def flag(self, rule: RuleId, message: str, **data: object) -> None:
        evidence = tuple((key, _text(value)) for key, value in data.items())
        self.findings.append(
            Finding(
                rule.value, self.rules.severities[rule], message, rule_protocol_key(rule), evidence
            )
        )

    def check_age(self, name: str, measured_at: datetime, max_age_days: int, key: str) -> None:
        if measured_at.tzinfo is None or measured_at.utcoffset() is None:
            raise ValueError(f"{name} must be a timezone-aware datetime")
        if measured_at > self.now:
            self.findings.append(
                Finding(
                    IMPLAUSIBLE_DATA_RULE,
                    Severity.MISSING_DATA,
                    f"{name} ({measured_at.isoformat()}) is later than the evaluation time",
                    key,
                    (("field", name), ("measured_at", measured_at.isoformat())),
                )
            )
        elif self.now - measured_at > timedelta(days=max_age_days):
            self.findings.append(
                Finding(
                    STALE_DATA_RULE,
                    Severity.MISSING_DATA,
                    f"{name} ({measured_at.isoformat()}) is older than {max_age_days} days; "
                    "record it again",
                    key,
                    (("field", name), ("measured_at", measured_at.isoformat())),
                )
            )


def _text(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    return str(value)


def _age_years(birth_date: date, on: date) -> int:
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def _psychiatric(c: _Collector, s: Screening) -> None:
    if c.present("psychosis", s.psychosis, RuleId.PSYCHOSIS_CURRENT):
        if s.psychosis is Presence.CURRENT:
            c.flag(RuleId.PSYCHOSIS_CURRENT, "active psychosis", psychosis=s.psychosis)
        elif s.psychosis is Presence.PAST:
            c.flag(RuleId.PSYCHOSIS_HISTORY, "history of psychosis", psychosis=s.psychosis)
    if c.present("mania", s.mania, RuleId.MANIA_CURRENT) and s.mania is Presence.CURRENT:
        c.flag(RuleId.MANIA_CURRENT, "current mania or hypomania", mania=s.mania)
    c.present("bipolar_disorder", s.bipolar_disorder, RuleId.BIPOLAR_DISORDER)
    if s.mania is not Presence.CURRENT and (s.bipolar_disorder or s.mania is Presence.PAST):
        c.flag(
            RuleId.BIPOLAR_DISORDER,
            "bipolar disorder without current mania",
            bipolar_disorder=s.bipolar_disorder,
            mania=s.mania,
        )
    substance = s.substance_use_disorder
    if (
        c.present("substance_use_disorder", substance, RuleId.SUBSTANCE_USE_DISORDER_ACTIVE)
        and substance is Presence.CURRENT
    ):
        c.flag(
            RuleId.SUBSTANCE_USE_DISORDER_ACTIVE,
            "active substance use disorder",
            substance_use_disorder=substance,
        )


def _somatic(c: _Collector, s: Screening) -> None:
    for name, rule, label in YES_NO_RULES:
        value = getattr(s, name)
        if c.present(name, value, rule) and value:
            c.flag(rule, label, **{name: value})
    if (
        c.present("hypertension", s.hypertension, RuleId.HYPERTENSION_UNCONTROLLED)
        and s.hypertension is HypertensionStatus.UNCONTROLLED
    ):
        c.flag(
            RuleId.HYPERTENSION_UNCONTROLLED,
            "uncontrolled hypertension",
            hypertension=s.hypertension,
        )
    if (
        c.present("hyperthyroidism", s.hyperthyroidism, RuleId.HYPERTHYROIDISM_UNTREATED)
        and s.hyperthyroidism is ThyroidStatus.UNTREATED
    ):
        c.flag(
            RuleId.HYPERTHYROIDISM_UNTREATED,
            "untreated or inadequately treated hyperthyroidism",
            hyperthyroidism=s.hyperthyroidism,
        )
    if c.present("pregnancy_applicable", s.pregnancy_applicable, RuleId.PREGNANCY) and (
        s.pregnancy_applicable
    ):
        if c.present("pregnant", s.pregnant, RuleId.PREGNANCY) and s.pregnant:
            c.flag(RuleId.PREGNANCY, "pregnancy", pregnant=s.pregnant)
        if c.present("breastfeeding", s.breastfeeding, RuleId.BREASTFEEDING) and s.breastfeeding:
            c.flag(RuleId.BREASTFEEDING, "breastfeeding", breastfeeding=s.breastfeeding)


def _hepatic(c: _Collector, s: Screening) -> None:
    limits = c.rules.limits
    grade = s.hepatic_impairment
    if (
        c.present("hepatic_impairment", grade, RuleId.HEPATIC_IMPAIRMENT)
        and grade is not None
        and grade.rank >= limits.hepatic_impairment_flag_from.rank
    ):
        c.flag(
            RuleId.HEPATIC_IMPAIRMENT, f"{grade.value} hepatic impairment", hepatic_impairment=grade
        )
    tests = s.liver_tests
    if not c.present("liver_tests", tests, RuleId.LIVER_ENZYMES_RAISED) or tests is None:
        return
    c.check_age(
        "liver_tests.measured_at",
        tests.measured_at,
        c.rules.windows.liver_tests_max_age_days,
        "screening.data_windows.liver_tests_max_age_days",
    )
    for enzyme, value, uln in (
        ("alt", tests.alt_u_per_l, tests.alt_uln_u_per_l),
        ("ast", tests.ast_u_per_l, tests.ast_uln_u_per_l),
    ):
        value_ok = c.present(f"liver_tests.{enzyme}_u_per_l", value, RuleId.LIVER_ENZYMES_RAISED)
        uln_ok = c.present(f"liver_tests.{enzyme}_uln_u_per_l", uln, RuleId.LIVER_ENZYMES_RAISED)
        if value_ok and uln_ok and value is not None and uln is not None and uln > 0:
            times_uln = value / uln
            if times_uln > limits.liver_enzyme_max_times_uln:
                c.flag(
                    RuleId.LIVER_ENZYMES_RAISED,
                    f"{enzyme.upper()} {value} U/L is {times_uln:.1f} × the upper limit "
                    f"{uln} U/L (limit {limits.liver_enzyme_max_times_uln} ×)",
                    **{f"{enzyme}_u_per_l": value, f"{enzyme}_uln_u_per_l": uln},
                )


def _medications(c: _Collector, s: Screening) -> None:
    if not c.present("medications", s.medications, RuleId.BENZODIAZEPINE_DOSE):
        return
    medications = s.medications or ()
    for med_class, rule in MEDICATION_RULES:
        names = [m.name for m in medications if med_class in m.classes]
        if names:
            c.flag(rule, f"{med_class.value}: {', '.join(names)}", medications=", ".join(names))
    total = Decimal(0)
    benzos = []
    for index, med in enumerate(medications):
        if MedicationClass.BENZODIAZEPINE not in med.classes:
            continue
        benzos.append(med.name)
        dose = med.diazepam_equivalent_mg_per_day
        name = f"medications[{index}].diazepam_equivalent_mg_per_day ({med.name})"
        if c.present(name, dose, RuleId.BENZODIAZEPINE_DOSE) and dose is not None:
            total += dose
    limit = c.rules.limits.benzodiazepine_max_diazepam_eq_mg_per_day
    if total > limit:
        c.flag(
            RuleId.BENZODIAZEPINE_DOSE,
            f"benzodiazepines {total} mg/day diazepam equivalents, above {limit} mg/day",
            diazepam_equivalent_mg_per_day=total,
            medications=", ".join(benzos),
        )


def _vitals(c: _Collector, s: Screening) -> None:
    limits = c.rules.limits
    vitals = s.resting_vitals
    if not c.present("resting_vitals", vitals, RuleId.RESTING_BP_SEVERE) or vitals is None:
        return
    c.check_age(
        "resting_vitals.measured_at",
        vitals.measured_at,
        c.rules.windows.resting_vitals_max_age_days,
        "screening.data_windows.resting_vitals_max_age_days",
    )
    sbp, dbp = vitals.sbp_mmhg, vitals.dbp_mmhg
    sbp_ok = c.present("resting_vitals.sbp_mmhg", sbp, RuleId.RESTING_BP_SEVERE)
    dbp_ok = c.present("resting_vitals.dbp_mmhg", dbp, RuleId.RESTING_BP_SEVERE)
    if sbp_ok and dbp_ok and sbp is not None and dbp is not None:
        bp = f"{sbp:g}/{dbp:g} mmHg"
        if sbp > limits.bp_severe_sbp_above_mmhg or dbp > limits.bp_severe_dbp_above_mmhg:
            c.flag(
                RuleId.RESTING_BP_SEVERE,
                f"resting BP {bp} above {limits.bp_severe_sbp_above_mmhg:g}/"
                f"{limits.bp_severe_dbp_above_mmhg:g} mmHg",
                sbp_mmhg=sbp,
                dbp_mmhg=dbp,
                measured_at=vitals.measured_at,
            )
        elif sbp > limits.bp_elevated_sbp_above_mmhg or dbp > limits.bp_elevated_dbp_above_mmhg:
            c.flag(
                RuleId.RESTING_BP_ELEVATED,
                f"resting BP {bp} above {limits.bp_elevated_sbp_above_mmhg:g}/"
                f"{limits.bp_elevated_dbp_above_mmhg:g} mmHg",
                sbp_mmhg=sbp,
                dbp_mmhg=dbp,
                measured_at=vitals.measured_at,
            )
    hr = vitals.hr_bpm
    if (
        c.present("resting_vitals.hr_bpm", hr, RuleId.RESTING_HR_OUT_OF_RANGE)
        and hr is not None
        and not limits.hr_below_bpm <= hr <= limits.hr_above_bpm
    ):
        c.flag(
            RuleId.RESTING_HR_OUT_OF_RANGE,
            f"resting HR {hr:g}/min outside {limits.hr_below_bpm:g}–{limits.hr_above_bpm:g}/min",
            hr_bpm=hr,
            measured_at=vitals.measured_at,
        )
    spo2 = vitals.spo2_pct
    if (
        c.present("resting_vitals.spo2_pct", spo2, RuleId.RESTING_SPO2_LOW)
        and spo2 is not None
        and spo2 < limits.spo2_below_pct
    ):
        c.flag(
            RuleId.RESTING_SPO2_LOW,
            f"resting SpO2 {spo2:g} % below {limits.spo2_below_pct:g} %",
            spo2_pct=spo2,
            measured_at=vitals.measured_at,
        )


def _person(c: _Collector, s: Screening) -> None:
    limits = c.rules.limits
    age = s.age_years
    if s.birth_date is not None:
        age = _age_years(s.birth_date, c.now.date())
    if (
        c.present("birth_date", age, RuleId.UNDER_MINIMUM_AGE)
        and age is not None
        and age < limits.min_age_years
    ):
        c.flag(
            RuleId.UNDER_MINIMUM_AGE,
            f"age {age} years is under {limits.min_age_years}",
            age_years=age,
        )
    if (
        c.present("consent_off_label", s.consent_off_label, RuleId.CONSENT_REFUSED)
        and s.consent_off_label is False
    ):
        c.flag(
            RuleId.CONSENT_REFUSED,
            "consent to off-label treatment not given",
            consent_off_label=False,
        )
    trials = s.failed_antidepressant_trials
    if (
        c.present("failed_antidepressant_trials", trials, RuleId.TREATMENT_RESISTANCE_UNCONFIRMED)
        and trials is not None
        and trials < limits.min_failed_antidepressant_trials
    ):
        c.flag(
            RuleId.TREATMENT_RESISTANCE_UNCONFIRMED,
            f"{trials} failed antidepressant trials, fewer than "
            f"{limits.min_failed_antidepressant_trials}",
            failed_antidepressant_trials=trials,
        )
    weight = s.weight_kg
    weight_key = "screening.data_windows.weight_max_age_days"
    if (
        c.present("weight_kg", weight, weight_key)
        and weight is not None
        and not limits.weight_min_kg <= weight <= limits.weight_max_kg
    ):
        c.findings.append(
            Finding(
                IMPLAUSIBLE_DATA_RULE,
                Severity.MISSING_DATA,
                f"weight {weight} kg is outside the plausible "
                f"{limits.weight_min_kg}–{limits.weight_max_kg} kg; re-weigh",
                "infusion.plausible_weight_min_kg",
                (("field", "weight_kg"), ("weight_kg", str(weight))),
            )
        )
    if c.present("weight_measured_at", s.weight_measured_at, weight_key) and (
        s.weight_measured_at is not None
    ):
        c.check_age(
            "weight_measured_at",
            s.weight_measured_at,
            c.rules.windows.weight_max_age_days,
            weight_key,
        )


def evaluate_eligibility(
    screening: Screening, rules: ScreeningRules, now: datetime
) -> EligibilityResult:
    """Evaluate a screening against the protocol's screening rules at instant `now`.

    Rules (DESIGN §4, clinical.md §2): every contraindication in `RuleId`, with the severity the
    protocol gives it (`screening.rules.<id>.severity`; product labels by default: e.g. active
    psychosis or mania, pregnancy, resting BP > 180/100 mmHg [S14], aneurysm, intracranial
    haemorrhage, stroke, raised ICP/IOP, hypersensitivity, untreated hyperthyroidism [S14],
    xanthines and ergometrine [S13], age < 18 are absolute; BP > 140/90 [S16][S47], bipolar
    disorder, substance use, cardiac disease, benzodiazepines > 8 mg diazepam equivalents/day
    [S31], MAOI, lamotrigine, memantine, lithium [S36][S38], ALT/AST > 3 × ULN are relative).
    A required field that is None, and vitals, liver tests or weight older than the protocol's
    windows (`screening.data_windows`, days) or dated after `now`, are `missing-data` findings.
    Status: any absolute → INELIGIBLE; else any relative or missing-data → NEEDS_REVIEW; else
    ELIGIBLE. Expected outcomes are returned, never raised.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    collector = _Collector(rules=rules, now=now)
    for check in (_psychiatric, _somatic, _hepatic, _medications, _vitals, _person):
        check(collector, screening)
    severities = {finding.severity for finding in collector.findings}
    if Severity.ABSOLUTE in severities:
        status = EligibilityStatus.INELIGIBLE
    elif severities:
        status = EligibilityStatus.NEEDS_REVIEW
    else:
        status = EligibilityStatus.ELIGIBLE
    return EligibilityResult(status=status, findings=tuple(collector.findings), evaluated_at=now)
