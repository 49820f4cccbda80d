"""Session API models. Units are in the field names; every measurement carries its time."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.config import JsonDict

from app.core.schemas import InputModel, UtcTimestamp
from app.patients.schemas import WeightCreate

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
ItemId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Password = Annotated[str, Field(min_length=1, max_length=1024)]
Answers = Annotated[dict[ItemId, int], Field(max_length=200)]

# OpenAPI examples: one realistic body per request (ids are placeholders; times are UTC).
_EXAMPLE_MONITOR_ID = "3e0f6b1a-8c4d-4f7e-a2b9-5d6c7e8f9a01"
_EXAMPLE_SPARE_MONITOR_ID = "7a9b0c1d-2e3f-4a5b-8c6d-7e8f9a0b1c2d"
_EXAMPLE_VITALS: JsonDict = {
    "taken_at": "2026-11-23T08:52:00Z",
    "sbp_mmhg": 128,
    "dbp_mmhg": 82,
    "hr_bpm": 74,
    "spo2_pct": 98,
    "rr_per_min": 14,
}
_EXAMPLE_CADSS_PRE: JsonDict = {f"item_{i:02d}": 1 if i == 4 else 0 for i in range(1, 24)}


class SessionCreate(InputModel):
    """Book a session: patient, chair, approved protocol version and planned start.

    `mg_per_kg` is the physician's order for this infusion; without it the titration proposal
    is ordered. A nurse may order the proposal or less, never more (403).
    """

    patient_id: uuid.UUID
    chair_id: uuid.UUID
    protocol_id: uuid.UUID = Field(description="an approved protocol version id")
    scheduled_for: UtcTimestamp
    mg_per_kg: Decimal | None = Field(default=None, gt=0, le=5, max_digits=5, decimal_places=3)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "patient_id": "6f1c0a52-3c2e-4c43-9d55-0a4b1f1f3c11",
                    "chair_id": "0c3d7c9e-5a7b-4b8e-9b9f-1f1d2c3b4a5e",
                    "protocol_id": "a5b6c7d8-1111-2222-3333-444455556666",
                    "scheduled_for": "2026-11-23T09:00:00Z",
                }
            ]
        },
    )


class VitalsIn(InputModel):
    """Pre-infusion vitals (mmHg, /min, %): SBP, DBP, HR or PR, SpO2, RR, with `taken_at`."""

    taken_at: UtcTimestamp
    sbp_mmhg: float = Field(ge=40, le=300, allow_inf_nan=False)
    dbp_mmhg: float = Field(ge=20, le=200, allow_inf_nan=False)
    hr_bpm: float | None = Field(default=None, ge=20, le=250, allow_inf_nan=False)
    pr_bpm: float | None = Field(default=None, ge=20, le=250, allow_inf_nan=False)
    spo2_pct: float = Field(ge=50, le=100, allow_inf_nan=False)
    rr_per_min: float = Field(ge=2, le=80, allow_inf_nan=False)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                _EXAMPLE_VITALS,
                {
                    "taken_at": "2026-11-23T08:58:00Z",
                    "sbp_mmhg": 152,
                    "dbp_mmhg": 88,
                    "pr_bpm": 80,
                    "spo2_pct": 97,
                    "rr_per_min": 16,
                },
            ]
        },
    )

    @model_validator(mode="after")
    def _heart_rate(self) -> VitalsIn:
        if self.hr_bpm is None and self.pr_bpm is None:
            raise ValueError("give hr_bpm (ECG) or pr_bpm (pulse rate)")
        return self


class CheckInCreate(InputModel):
    """Check-in: the monitor on the chair, checklist items confirmed, pre-vitals, pre CADSS
    answers, and a new weight when the recorded one is outside the protocol's window."""

    device_id: uuid.UUID = Field(description="the monitor bound to the chair, as shown")
    checklist: list[ItemId] = Field(default_factory=list, max_length=50)
    vitals: VitalsIn | None = None
    cadss: Answers | None = None
    weight: WeightCreate | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "device_id": _EXAMPLE_MONITOR_ID,
                    "checklist": [
                        "consent_offlabel",
                        "escort_confirmed",
                        "no_driving_ack",
                        "fasting_confirmed",
                        "pregnancy_test_if_applicable",
                        "medication_changes",
                        "substance_use_last_12h",
                        "new_symptoms",
                        "bladder_symptoms",
                    ],
                    "vitals": _EXAMPLE_VITALS,
                    "cadss": _EXAMPLE_CADSS_PRE,
                    "weight": {"weight_kg": "72.4", "measured_at": "2026-11-23T08:50:00Z"},
                }
            ]
        },
    )


class PasswordConfirm(InputModel):
    """A physician's signature: the password re-entered."""

    password: Password

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"password": "the physician's own password"}]}
    )


class ReasonIn(InputModel):
    """Why (required): stopping early, cancelling."""

    reason: Reason

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"reason": "Distressing dissociation at 25 min (CADSS 34); patient asked to stop"},
                {"reason": "Patient has a fever today; rebooked for Thursday"},
            ]
        },
    )


class OptionalReasonIn(InputModel):
    """Why, optionally: pausing or resuming the pump."""

    reason: Reason | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"reason": "Nausea; pump paused while an antiemetic is given"},
                {"reason": "Nausea settled, resuming"},
            ]
        },
    )


class MonitorSwap(InputModel):
    """Another monitor for an active session: a monitor of the clinic, bound to the session's
    chair or bound to it by this swap, with the reason."""

    device_id: uuid.UUID = Field(description="the monitor taking over")
    reason: Reason

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "device_id": _EXAMPLE_SPARE_MONITOR_ID,
                    "reason": "SpO2 probe socket faulty on the chair's monitor; spare monitor",
                }
            ]
        },
    )


class RateChange(InputModel):
    """A new pump rate in mg/h with the reason; above the current order only a physician."""

    rate_mg_per_h: Decimal = Field(gt=0, le=1000, max_digits=7, decimal_places=1)
    reason: Reason

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "rate_mg_per_h": "26.3",
                    "reason": "Dissociation distressing (CADSS 28): rate halved per protocol",
                },
                {
                    "rate_mg_per_h": "52.5",
                    "reason": "Settled after 10 min at half rate; back to the ordered rate",
                },
            ]
        },
    )


class DrugRecordCreate(InputModel):
    """Controlled drug: lot, volumes prepared and wasted (mL), the witnessing nurse."""

    lot: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    prepared_ml: Decimal = Field(gt=0, le=1000, max_digits=6, decimal_places=1)
    wasted_ml: Decimal = Field(ge=0, le=1000, max_digits=6, decimal_places=1)
    witness_user_id: uuid.UUID

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "lot": "KT2409-117",
                    "prepared_ml": "100.0",
                    "wasted_ml": "0.0",
                    "witness_user_id": "5b2e9c40-7d1f-4e8a-b3c6-9f0a1d2e3f45",
                }
            ]
        },
    )


class ScaleEntryCreate(InputModel):
    """Answers per item id (integers); `checkpoint_id` ties it to a one-off checkpoint."""

    answers: Answers
    checkpoint_id: ItemId | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "answers": {
                        "conceptual_disorganisation": 1,
                        "suspiciousness": 0,
                        "hallucinations": 0,
                        "unusual_thought_content": 1,
                    },
                    "checkpoint_id": "bprs_plus_40min",
                },
                {
                    "answers": {f"item_{i:02d}": 1 if i in (3, 4, 8) else 0 for i in range(1, 24)},
                    "checkpoint_id": "cadss_40min",
                },
            ]
        },
    )


class VitalsCheckCreate(InputModel):
    """A manual BP (optionally HR and SpO2) taken for a checkpoint."""

    taken_at: UtcTimestamp
    sbp_mmhg: float = Field(ge=40, le=300, allow_inf_nan=False)
    dbp_mmhg: float = Field(ge=20, le=200, allow_inf_nan=False)
    hr_bpm: float | None = Field(default=None, ge=20, le=250, allow_inf_nan=False)
    spo2_pct: float | None = Field(default=None, ge=50, le=100, allow_inf_nan=False)
    checkpoint_id: ItemId | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "taken_at": "2026-11-23T09:20:00Z",
                    "sbp_mmhg": 138,
                    "dbp_mmhg": 86,
                    "hr_bpm": 78,
                    "spo2_pct": 97,
                    "checkpoint_id": "nibp_infusing",
                }
            ]
        },
    )


class DischargeCreate(InputModel):
    """The physician's discharge evaluation (password re-entered): modified Aldrete answers or
    total, escort present, advice given. SpO2, BP and CADSS come from the recorded values."""

    password: Password
    aldrete_answers: Answers | None = None
    aldrete_total: int | None = Field(default=None, ge=0, le=100)
    escort_present: bool
    advice_no_driving_given: bool
    advice_no_alcohol_given: bool

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "password": "the physician's own password",
                    "aldrete_answers": {
                        "activity": 2,
                        "respiration": 2,
                        "circulation": 2,
                        "consciousness": 2,
                        "spo2": 2,
                    },
                    "escort_present": True,
                    "advice_no_driving_given": True,
                    "advice_no_alcohol_given": True,
                }
            ]
        },
    )

    @model_validator(mode="after")
    def _one_aldrete(self) -> DischargeCreate:
        if self.aldrete_answers is not None and self.aldrete_total is not None:
            raise ValueError("give aldrete_answers or aldrete_total, not both")
        return self


# Reads -----------------------------------------------------------------------------------------


class BlockerRead(BaseModel):
    code: str
    message: str
    resolution: str
    subject: str | None
    available_at: datetime | None
    final: bool


class StateChangeRead(BaseModel):
    state: str
    event: str | None
    at: datetime
    actor_type: str
    actor_id: str | None
    actor_name: str | None
    reason: str | None


class DoseOrderRead(BaseModel):
    version: int
    mg_per_kg: Decimal
    weight_kg: Decimal
    weight_measured_at: datetime
    minutes: int
    dose_mg: Decimal
    rate_mg_per_h: Decimal
    rate_ml_per_h: Decimal
    volume_ml: Decimal
    concentration_mg_per_ml: Decimal
    ordered_at: datetime
    ordered_by: str
    reason: str


class RateSegmentRead(BaseModel):
    start_at: datetime
    end_at: datetime | None
    rate_mg_per_h: Decimal
    set_by: str
    reason: str | None


class ProgressRead(BaseModel):
    """The server's figures from the rate segments at `at` (mg, min, mL to 0.1)."""

    at: datetime
    ordered_dose_mg: Decimal
    delivered_mg: Decimal
    remaining_mg: Decimal
    delivered_volume_ml: Decimal
    remaining_volume_ml: Decimal
    minutes_infused: Decimal
    current_rate_mg_per_h: Decimal
    remaining_minutes: Decimal | None
    complete: bool
    completes_at: datetime | None


class CheckpointRead(BaseModel):
    checkpoint_id: str
    item: str
    state: str
    due_at: datetime | None
    overdue_at: datetime | None
    done_at: datetime | None


class PreVitalsRead(BaseModel):
    taken_at: datetime
    sbp_mmhg: float
    dbp_mmhg: float
    hr_bpm: float | None
    pr_bpm: float | None
    spo2_pct: float
    rr_per_min: float


class ScaleEntryRead(BaseModel):
    scale_id: str
    checkpoint_id: str | None
    state: str
    answers: dict[str, int]
    total: int
    band: str | None
    at: datetime


class VitalsCheckRead(BaseModel):
    checkpoint_id: str | None
    state: str
    taken_at: datetime
    sbp_mmhg: float
    dbp_mmhg: float
    hr_bpm: float | None
    spo2_pct: float | None


class BaselineRead(BaseModel):
    taken_at: datetime
    sbp_mmhg: float | None
    dbp_mmhg: float | None
    hr_bpm: float | None
    spo2_pct: float | None
    rr_per_min: float | None


class DrugRecordRead(BaseModel):
    lot: str
    prepared_ml: Decimal
    given_ml: Decimal
    wasted_ml: Decimal
    witness_user_id: uuid.UUID
    recorded_by: uuid.UUID | None
    recorded_at: datetime


class SessionSummary(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    chair_id: uuid.UUID
    state: str
    scheduled_for: datetime
    infusion_number: int
    planned_infusions: int


class SessionList(BaseModel):
    items: list[SessionSummary]


class SessionRead(SessionSummary):
    """A session with its history, order, progress, blockers and checkpoints at `at`."""

    at: datetime
    clinic_id: uuid.UUID
    protocol_version_id: uuid.UUID
    protocol_sha256: str
    proposed_mg_per_kg: Decimal
    proposal_reason: str
    ordered_mg_per_kg: Decimal
    ordered_by: str
    device_id: uuid.UUID | None
    checklist_confirmed: list[str]
    physician_ack_at: datetime | None
    allowed_events: list[str]
    history: list[StateChangeRead]
    pre_vitals: list[PreVitalsRead]
    baseline: BaselineRead | None
    start_blockers: list[BlockerRead]
    order: DoseOrderRead | None
    orders: list[DoseOrderRead]
    segments: list[RateSegmentRead]
    progress: ProgressRead | None
    checkpoints: list[CheckpointRead]
    scales: list[ScaleEntryRead]
    vitals_checks: list[VitalsCheckRead]
    drug: DrugRecordRead | None
    discharge_evaluation: dict[str, object] | None
