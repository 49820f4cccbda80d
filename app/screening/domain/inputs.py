"""Screening input value objects (issue 4 point 5). Every field None means "not recorded"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum


class Presence(StrEnum):
    """History of a condition: never, in the past only, or current."""

    NONE = "none"
    PAST = "past"
    CURRENT = "current"


class HypertensionStatus(StrEnum):
    """Hypertension history; controlled hypertension is not an exclusion (clinical.md §2.2 [S37])."""

    NONE = "none"
    CONTROLLED = "controlled"
    UNCONTROLLED = "uncontrolled"


class ThyroidStatus(StrEnum):
    """Hyperthyroidism; untreated or inadequately treated is labelled a contraindication [S14]."""

    NONE = "none"
    TREATED = "treated"
    UNTREATED = "untreated"


class HepaticImpairment(StrEnum):
    """Grade of hepatic impairment (clinical.md §2.1 [S14][S16])."""

    NONE = "none"
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"

    @property
    def rank(self) -> int:
        """Ordinal for comparison with the protocol's `flag_from` grade."""
        return list(HepaticImpairment).index(self)


class MedicationClass(StrEnum):
    """Medication classes the rules look at (clinical.md §2.4)."""

    BENZODIAZEPINE = "benzodiazepine"
    MAOI = "maoi"
    LAMOTRIGINE = "lamotrigine"
    MEMANTINE = "memantine"
    XANTHINE = "xanthine"
    ERGOMETRINE = "ergometrine"
    LITHIUM = "lithium"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Medication:
    """A current medication; benzodiazepines carry their diazepam-equivalent mg/day."""

    name: str
    classes: frozenset[MedicationClass]
    diazepam_equivalent_mg_per_day: Decimal | None = None


@dataclass(frozen=True, slots=True)
class LiverTests:
    """ALT and AST in U/L with the laboratory's upper limits of normal, and the sample time."""

    measured_at: datetime
    alt_u_per_l: Decimal | None = None
    alt_uln_u_per_l: Decimal | None = None
    ast_u_per_l: Decimal | None = None
    ast_uln_u_per_l: Decimal | None = None


@dataclass(frozen=True, slots=True)
class RestingVitals:
    """Resting BP (mmHg), HR (/min), SpO2 (%) and the time they were taken."""

    measured_at: datetime
    sbp_mmhg: float | None = None
    dbp_mmhg: float | None = None
    hr_bpm: float | None = None
    spo2_pct: float | None = None


@dataclass(frozen=True, slots=True)
class Screening:
    """The screening answers; every field None means "not recorded" (issue 4 point 5)."""

    psychosis: Presence | None = None
    mania: Presence | None = None
    bipolar_disorder: bool | None = None
    substance_use_disorder: Presence | None = None
    hypertension: HypertensionStatus | None = None
    aneurysmal_vascular_disease: bool | None = None
    intracranial_haemorrhage: bool | None = None
    stroke: bool | None = None
    significant_cardiac_disease: bool | None = None
    raised_intracranial_pressure: bool | None = None
    raised_intraocular_pressure: bool | None = None
    pregnancy_applicable: bool | None = None
    pregnant: bool | None = None
    breastfeeding: bool | None = None
    hyperthyroidism: ThyroidStatus | None = None
    hepatic_impairment: HepaticImpairment | None = None
    liver_tests: LiverTests | None = None
    ketamine_hypersensitivity: bool | None = None
    birth_date: date | None = None
    age_years: int | None = None
    medications: tuple[Medication, ...] | None = None
    resting_vitals: RestingVitals | None = None
    weight_kg: Decimal | None = None
    weight_measured_at: datetime | None = None
    consent_off_label: bool | None = None
    failed_antidepressant_trials: int | None = None
