"""Screening API models. Units are in the field names; every measurement carries its time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    Field,
    StringConstraints,
    field_validator,
)

from app.core.schemas import InputModel
from app.screening.domain import (
    HepaticImpairment,
    HypertensionStatus,
    MedicationClass,
    Presence,
    Severity,
    ThyroidStatus,
)


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


# Stored in UTC so the canonical content (and its hash) does not depend on the sender's offset.
MeasuredAt = Annotated[
    AwareDatetime,
    AfterValidator(_to_utc),
    Field(description="when it was measured or sampled, with a UTC offset"),
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
LabValue = Annotated[Decimal, Field(ge=0, le=100_000, max_digits=8, decimal_places=2)]
UpperLimit = Annotated[Decimal, Field(gt=0, le=10_000, max_digits=7, decimal_places=2)]


class LiverTestsIn(InputModel):
    """ALT/AST (U/L) with the laboratory's upper limits of normal and the sample time."""

    measured_at: MeasuredAt
    alt_u_per_l: LabValue | None = None
    alt_uln_u_per_l: UpperLimit | None = None
    ast_u_per_l: LabValue | None = None
    ast_uln_u_per_l: UpperLimit | None = None


class RestingVitalsIn(InputModel):
    """Resting blood pressure (mmHg), heart rate (/min), SpO2 (%) and when they were taken."""

    measured_at: MeasuredAt
    sbp_mmhg: float | None = Field(default=None, ge=40, le=300, allow_inf_nan=False)
    dbp_mmhg: float | None = Field(default=None, ge=20, le=200, allow_inf_nan=False)
    hr_bpm: float | None = Field(default=None, ge=20, le=250, allow_inf_nan=False)
    spo2_pct: float | None = Field(default=None, ge=50, le=100, allow_inf_nan=False)


class MedicationIn(InputModel):
    """A current medication and the classes the rules look at; benzodiazepines need a dose."""

    name: str = Field(min_length=1, max_length=200)
    classes: list[MedicationClass] = Field(
        default_factory=lambda: [MedicationClass.OTHER], min_length=1, max_length=8
    )
    diazepam_equivalent_mg_per_day: Decimal | None = Field(
        default=None, ge=0, le=1000, max_digits=6, decimal_places=2
    )

    @field_validator("classes")
    @classmethod
    def _canonical_classes(cls, value: list[MedicationClass]) -> list[MedicationClass]:
        return sorted(set(value))


class ScreeningContent(InputModel):
    """The screening answers (issue 4 point 5). A field left out or null means "not recorded",
    which the rules report as missing data. Age comes from the patient's birth date."""

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
    pregnancy_applicable: bool | None = Field(
        default=None, description="false when pregnancy is not possible (then not asked)"
    )
    pregnant: bool | None = None
    breastfeeding: bool | None = None
    hyperthyroidism: ThyroidStatus | None = None
    hepatic_impairment: HepaticImpairment | None = None
    liver_tests: LiverTestsIn | None = None
    ketamine_hypersensitivity: bool | None = None
    medications: list[MedicationIn] | None = Field(
        default=None, max_length=100, description="current medications; [] for none"
    )
    resting_vitals: RestingVitalsIn | None = None
    weight_kg: Decimal | None = Field(
        default=None,
        gt=0,
        le=500,
        max_digits=5,
        decimal_places=1,
        description="replaced by the patient's newest recorded weight when that is newer",
    )
    weight_measured_at: MeasuredAt | None = None
    consent_off_label: bool | None = None
    failed_antidepressant_trials: int | None = Field(default=None, ge=0, le=50)


class ScreeningCreate(ScreeningContent):
    """A new screening for a patient."""


class ScreeningUpdate(ScreeningContent):
    """The whole corrected screening; it becomes a new, unsigned version."""


class FindingRead(BaseModel):
    rule_id: str
    severity: Severity
    message: str
    protocol_key: str = Field(description="the protocol-file key the rule comes from")
    data: dict[str, str] = Field(description="the values that triggered the finding")


class SignatureRead(BaseModel):
    decision: Literal["eligible", "not_eligible"]
    signed_by: uuid.UUID
    signed_at: datetime
    content_sha256: str = Field(description="the content hash the signature covers")
    justifications: dict[str, str] = Field(description="rule id → written justification")
    note: str | None
    expires_at: datetime | None = Field(description="end of the protocol's validity window")


class ScreeningRead(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    version: int
    superseded: bool = Field(description="a newer version exists; this one can no longer be signed")
    protocol_version_id: uuid.UUID
    content: ScreeningContent
    status: Literal["ELIGIBLE", "NEEDS_REVIEW", "INELIGIBLE"]
    evaluated_at: datetime
    findings: list[FindingRead]
    content_sha256: str
    created_at: datetime
    created_by: uuid.UUID | None
    signature: SignatureRead | None


class ScreeningList(BaseModel):
    items: list[ScreeningRead] = Field(description="newest version first")


class ScreeningSign(InputModel):
    password: str = Field(
        min_length=1, max_length=256, repr=False, description="your own password, re-entered"
    )
    decision: Literal["eligible", "not_eligible"]
    note: Text | None = Field(default=None, description="required for not_eligible")
    justifications: dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], Text] = (
        Field(
            default_factory=dict,
            max_length=64,
            description="rule id → written justification; one for every relative finding",
        )
    )


class EligibilityFindingRead(FindingRead):
    justified: bool = Field(description="covered by the signature's justifications")


class EligibilityRead(BaseModel):
    eligible: bool
    reasons: list[str] = Field(description="why not, each saying what would lift it")
    at: datetime
    screening_id: uuid.UUID | None
    version: int | None
    decision: Literal["eligible", "not_eligible"] | None
    signed_at: datetime | None
    expires_at: datetime | None
    status: Literal["ELIGIBLE", "NEEDS_REVIEW", "INELIGIBLE"] | None = Field(
        description="the rules re-evaluated at `at`"
    )
    findings: list[EligibilityFindingRead] = Field(description="the findings at `at`")
