"""Registry API shapes (issue 11): session side effects and adverse events, course records,
course view, session summary numbers, clinic report."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from app.core.schemas import InputModel, UtcTimestamp
from app.registry.domain import EvaluationPoint, Timepoint
from app.registry.domain.events import (
    CTCAE_GRADE_MAX,
    CTCAE_GRADE_MIN,
    AdverseEventOutcome,
    Severity,
)

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
UnitsPerLitre = Annotated[float | None, Field(default=None, ge=0, le=100_000, allow_inf_nan=False)]


class SideEffectsCreate(InputModel):
    """The side-effect checklist (severity per item, `none` when absent) and interventions."""

    nausea_vomiting: Severity = Severity.NONE
    headache: Severity = Severity.NONE
    dizziness: Severity = Severity.NONE
    sedation: Severity = Severity.NONE
    blurred_double_vision: Severity = Severity.NONE
    anxiety: Severity = Severity.NONE
    distressing_dissociation: Severity = Severity.NONE
    bladder_frequency: Severity = Severity.NONE
    bladder_urgency: Severity = Severity.NONE
    bladder_dysuria: Severity = Severity.NONE
    bladder_haematuria: Severity = Severity.NONE
    antiemetic: bool = False
    rate_reduced: bool = False
    paused: bool = False
    oxygen: bool = False
    note: LongText | None = None


class SideEffectsRead(SideEffectsCreate):
    recorded_at: datetime


class AdverseEventCreate(InputModel):
    """An adverse event: term, CTCAE grade 1-5, seriousness, outcome, onset, description."""

    term: Text200
    grade: int = Field(ge=CTCAE_GRADE_MIN, le=CTCAE_GRADE_MAX, description="NCI CTCAE grade")
    serious: bool
    outcome: AdverseEventOutcome
    onset_at: UtcTimestamp
    description: LongText | None = None


class AdverseEventRead(BaseModel):
    id: uuid.UUID
    term: str
    grade: int
    serious: bool
    outcome: str
    onset_at: datetime
    description: str | None
    recorded_at: datetime


class SessionRegistryRead(BaseModel):
    """What the registry holds for a session: side effects and adverse events."""

    session_id: uuid.UUID
    side_effects: SideEffectsRead | None
    adverse_events: list[AdverseEventRead]


class CourseScaleCreate(InputModel):
    """A course scale (MADRS, PHQ-9) at a schedule timepoint; every item validated."""

    scale_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    timepoint: Timepoint
    taken_date: date
    answers: dict[str, int]


class LiverTestCreate(InputModel):
    """Liver tests of a sample: ALT, AST, GGT in U/L (at least one)."""

    sample_date: date
    alt_u_per_l: UnitsPerLitre = None
    ast_u_per_l: UnitsPerLitre = None
    ggt_u_per_l: UnitsPerLitre = None
    note: LongText | None = None


class LiverTestRead(BaseModel):
    """A liver test; `source` is `registry` or `screening` (the pre-course screening labs)."""

    id: uuid.UUID
    sample_date: date
    alt_u_per_l: float | None
    ast_u_per_l: float | None
    ggt_u_per_l: float | None
    note: str | None
    source: str = "registry"


class EvaluationCreate(InputModel):
    """A psychologist evaluation of the course: mid-course or final."""

    kind: EvaluationPoint
    evaluation_date: date
    clinician: Text200
    summary: LongText
    recommendation: LongText


class EvaluationRead(BaseModel):
    id: uuid.UUID
    kind: str
    evaluation_date: date
    clinician: str
    summary: str
    recommendation: str


class CourseScaleRead(BaseModel):
    """A course scale score; `source` is `course` (recorded on the course) or `session`."""

    scale_id: str
    timepoint: str
    taken_date: date
    total: int
    band: str | None
    source: str


class TimepointScores(BaseModel):
    """The scheduled timepoint with the latest MADRS and PHQ-9 totals recorded for it."""

    timepoint: str
    madrs: int | None
    phq9: int | None


class OutcomeRead(BaseModel):
    status: str
    first_met_on: date | None
    reason: str


class OutcomesRead(BaseModel):
    madrs_response: OutcomeRead
    madrs_remission: OutcomeRead
    phq9_remission: OutcomeRead


class ReminderRead(BaseModel):
    kind: str
    item: str
    due_on: date
    overdue_after: date
    status: str
    overdue: bool = Field(description="highlight: past the grace days")


class PatientReminders(BaseModel):
    """A booked patient's course reminders; `overdue` when any is overdue (highlight)."""

    patient_id: uuid.UUID
    session_id: uuid.UUID
    overdue: bool
    reminders: list[ReminderRead]


class DayReminders(BaseModel):
    day: date
    items: list[PatientReminders]


class CourseSessionRead(BaseModel):
    session_id: uuid.UUID
    infusion_number: int
    state: str
    scheduled_for: datetime
    started_at: datetime | None


class CourseRead(BaseModel):
    """A patient's course: induction sessions, linked maintenance sessions, scales over time,
    outcomes with the dates first met, reminders, liver tests and evaluations."""

    patient_id: uuid.UUID
    planned_infusions: int | None
    induction_sessions: list[CourseSessionRead]
    maintenance_sessions: list[CourseSessionRead]
    scales: list[CourseScaleRead]
    schedule: list[TimepointScores]
    outcomes: OutcomesRead | None
    reminders: list[ReminderRead]
    liver_tests: list[LiverTestRead]
    evaluations: list[EvaluationRead]


class BloodPressureRead(BaseModel):
    sbp_mmhg: float
    dbp_mmhg: float | None
    observed_at: datetime


class DrugRead(BaseModel):
    lot: str | None
    prepared_ml: Decimal | None
    given_ml: Decimal | None
    wasted_ml: Decimal | None


class SessionSummaryRead(BaseModel):
    """The session's summary numbers (REMS-style fields, issue 11 point 1)."""

    session_id: uuid.UUID
    patient_id: uuid.UUID
    infusion_number: int
    state: str
    checked_in_at: datetime | None
    infusion_started_at: datetime | None
    infusion_ended_at: datetime | None
    discharged_at: datetime | None
    dose_mg: Decimal | None
    mg_per_kg: Decimal | None
    weight_kg: Decimal | None
    bp_pre: BloodPressureRead | None
    bp_40_min: BloodPressureRead | None
    bp_end: BloodPressureRead | None
    min_spo2_pct: float | None
    max_sbp_mmhg: float | None
    alarm_counts: dict[str, int]
    monitoring_minutes: int | None
    ready_to_leave_minutes: int | None
    drug: DrugRead


class WeekCountRead(BaseModel):
    week_start: date
    booked: int
    started: int
    completed: int
    cancelled: int


class RateRead(BaseModel):
    met: int
    computable: int
    not_computable: int
    pct: Decimal | None


class AlarmRateRead(BaseModel):
    rule_id: str
    count: int
    per_100_infusion_hours: Decimal | None


class ClinicReportRead(BaseModel):
    """Clinic report numbers for a period (the web draws the charts)."""

    first_day: date | None
    last_day: date | None
    weeks: list[WeekCountRead]
    sessions_started: int
    sessions_completed: int
    completion_pct: Decimal | None
    infusion_hours: Decimal
    madrs_response: RateRead
    madrs_remission: RateRead
    phq9_remission: RateRead
    alarms: list[AlarmRateRead]
    adverse_events_by_grade: dict[int, int]
    serious_adverse_events: int
