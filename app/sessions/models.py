"""Infusion sessions: the session row, its state history, dose orders, rate segments, pre-infusion
vitals, scale entries and manual vitals checks (DESIGN §5, issue 5).

Every child row is append-only except a rate segment's `end_at`, which is filled once when the
segment closes. The partial unique indexes are the database's guarantee of one active session
per patient and per chair (the service checks first to give a readable 409).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, IdMixin

ACTIVE_STATE_VALUES = ("checked_in", "infusing", "paused", "stopped", "recovery")
"""`app.sessions.domain.ACTIVE_STATES` as SQL literals (the index predicate must be static)."""

_ACTIVE_PREDICATE = text("state IN ('checked_in', 'infusing', 'paused', 'stopped', 'recovery')")

MgDecimal = Numeric(9, 1)


class InfusionSession(IdMixin, Base):
    """One infusion of a patient on a chair with a pinned protocol version (DESIGN §5)."""

    __tablename__ = "infusion_session"
    __table_args__ = (
        Index(
            "uq_infusion_session_active_patient",
            "patient_id",
            unique=True,
            sqlite_where=_ACTIVE_PREDICATE,
            postgresql_where=_ACTIVE_PREDICATE,
        ),
        Index(
            "uq_infusion_session_active_chair",
            "chair_id",
            unique=True,
            sqlite_where=_ACTIVE_PREDICATE,
            postgresql_where=_ACTIVE_PREDICATE,
        ),
        Index("ix_infusion_session_clinic_scheduled", "clinic_id", "scheduled_for"),
    )

    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id"))
    chair_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("chair.id"))
    protocol_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("protocol_version.id"))
    protocol_sha256: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20))
    scheduled_for: Mapped[datetime]
    infusion_number: Mapped[int] = mapped_column(Integer)
    planned_infusions: Mapped[int] = mapped_column(Integer)
    # Titration proposal at scheduling and the step ordered for this infusion.
    proposed_mg_per_kg: Mapped[Decimal] = mapped_column(Numeric(5, 3))
    proposal_reason: Mapped[str] = mapped_column(Text)
    ordered_mg_per_kg: Mapped[Decimal] = mapped_column(Numeric(5, 3))
    ordered_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_user.id"))

    # Check-in: the monitor bound to the chair, the confirmed checklist ids.
    device_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("device.id"))
    checklist_confirmed: Mapped[list[str]] = mapped_column(JSON, default=list)
    physician_ack_at: Mapped[datetime | None]
    physician_ack_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_user.id"))

    # Frozen baseline: the pre-infusion vitals set in force at the start.
    baseline_taken_at: Mapped[datetime | None]
    baseline_sbp_mmhg: Mapped[float | None]
    baseline_dbp_mmhg: Mapped[float | None]
    baseline_hr_bpm: Mapped[float | None]
    baseline_spo2_pct: Mapped[float | None]
    baseline_rr_per_min: Mapped[float | None]

    # Controlled drug accountability (one record per session).
    drug_lot: Mapped[str | None] = mapped_column(String(64))
    drug_prepared_ml: Mapped[Decimal | None] = mapped_column(MgDecimal)
    drug_given_ml: Mapped[Decimal | None] = mapped_column(MgDecimal)
    drug_wasted_ml: Mapped[Decimal | None] = mapped_column(MgDecimal)
    drug_witness_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_user.id"))
    drug_recorded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_user.id"))
    drug_recorded_at: Mapped[datetime | None]

    # The physician's discharge evaluation as accepted.
    discharge_evaluation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    discharged_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_user.id"))


class SessionStateChange(IdMixin, Base):
    """One entry of a session's history: state entered, by which event, when, by whom, why."""

    __tablename__ = "session_state_change"
    __table_args__ = (UniqueConstraint("session_id", "seq"),)

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("infusion_session.id"))
    seq: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20))
    event: Mapped[str | None] = mapped_column(String(20))
    at: Mapped[datetime]
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_name: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)


class SessionDoseOrder(IdMixin, Base):
    """An immutable dose order version: the dose engine's figures and who ordered it, why."""

    __tablename__ = "session_dose_order"
    __table_args__ = (UniqueConstraint("session_id", "version"),)

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("infusion_session.id"))
    version: Mapped[int] = mapped_column(Integer)
    mg_per_kg: Mapped[Decimal] = mapped_column(Numeric(5, 3))
    weight_kg: Mapped[Decimal] = mapped_column(Numeric(5, 1))
    weight_measured_at: Mapped[datetime]
    minutes: Mapped[int] = mapped_column(Integer)
    dose_mg: Mapped[Decimal] = mapped_column(MgDecimal)
    rate_mg_per_h: Mapped[Decimal] = mapped_column(MgDecimal)
    rate_ml_per_h: Mapped[Decimal] = mapped_column(MgDecimal)
    volume_ml: Mapped[Decimal] = mapped_column(MgDecimal)
    concentration_mg_per_ml: Mapped[Decimal] = mapped_column(Numeric(9, 3))
    ordered_at: Mapped[datetime]
    ordered_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)


class SessionRateSegment(IdMixin, Base):
    """A span at a constant rate (mg/h); `end_at` None while it runs. Pauses are gaps."""

    __tablename__ = "session_rate_segment"
    __table_args__ = (UniqueConstraint("session_id", "seq"),)

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("infusion_session.id"))
    seq: Mapped[int] = mapped_column(Integer)
    start_at: Mapped[datetime]
    end_at: Mapped[datetime | None]
    rate_mg_per_h: Mapped[Decimal] = mapped_column(MgDecimal)
    set_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)


class SessionPreVitals(IdMixin, Base):
    """A pre-infusion vitals set (check-in or a repeat); the latest becomes the baseline."""

    __tablename__ = "session_pre_vitals"

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("infusion_session.id"), index=True)
    taken_at: Mapped[datetime]
    sbp_mmhg: Mapped[float]
    dbp_mmhg: Mapped[float]
    hr_bpm: Mapped[float | None]
    pr_bpm: Mapped[float | None]
    spo2_pct: Mapped[float]
    rr_per_min: Mapped[float]
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_user.id"))


class SessionScaleEntry(IdMixin, Base):
    """A scored rating scale (CADSS, BPRS+, Aldrete…) with the state it was taken in."""

    __tablename__ = "session_scale_entry"

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("infusion_session.id"), index=True)
    scale_id: Mapped[str] = mapped_column(String(64))
    checkpoint_id: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20))
    answers: Mapped[dict[str, int]] = mapped_column(JSON)
    total: Mapped[int] = mapped_column(Integer)
    band: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime]
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_user.id"))


class SessionVitalsCheck(IdMixin, Base):
    """A manual vitals check (NIBP, optionally SpO2/HR) counted for the checkpoints."""

    __tablename__ = "session_vitals_check"

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("infusion_session.id"), index=True)
    checkpoint_id: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20))
    taken_at: Mapped[datetime]
    sbp_mmhg: Mapped[float]
    dbp_mmhg: Mapped[float]
    hr_bpm: Mapped[float | None]
    spo2_pct: Mapped[float | None]
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_user.id"))


class DoseProgressMark(Base):
    """When the last ``dose_progress`` event of a session was written: the scheduler claims the
    next one with a conditional upsert, so any number of instances write it once per interval
    with one statement for every infusing session."""

    __tablename__ = "dose_progress_mark"

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("infusion_session.id"), primary_key=True
    )
    published_at: Mapped[datetime]


class CheckpointNotice(IdMixin, Base):
    """An overdue checkpoint announced to the live board, once per (session, checkpoint, due
    time): the unique key lets any number of scheduler instances race without doubling it."""

    __tablename__ = "checkpoint_notice"
    __table_args__ = (UniqueConstraint("session_id", "checkpoint_id", "due_at"),)

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("infusion_session.id"))
    checkpoint_id: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime]
    announced_at: Mapped[datetime]
