from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, IdMixin


class Patient(IdMixin, Base):
    """Minimal PHI: the name and birth date are stored, never logged (Base.__repr__ shows ids)."""

    __tablename__ = "patient"
    __table_args__ = (UniqueConstraint("clinic_id", "mrn"),)

    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id"), index=True)
    mrn: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[date]
    sex: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PatientWeight(IdMixin, Base):
    __tablename__ = "patient_weight"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id"), index=True)
    weight_kg: Mapped[Decimal] = mapped_column(Numeric(5, 1))
    measured_at: Mapped[datetime]
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_user.id"))
    created_at: Mapped[datetime]
