from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, IdMixin


class VitalReading(IdMixin, Base):
    """A stored reading. (device_id, source_id) is the idempotency key: a retry stores nothing."""

    __tablename__ = "vital_reading"
    __table_args__ = (
        UniqueConstraint("device_id", "source_id"),
        Index("ix_vital_reading_session_metric_observed", "session_id", "metric", "observed_at"),
        # The technical-alarm job asks for the newest receive time per (session, metric) of
        # every monitored session every few seconds: one index probe each, not a scan.
        Index("ix_vital_reading_session_metric_received", "session_id", "metric", "received_at"),
    )

    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id"), index=True)
    device_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("device.id"))
    source_id: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(16))  # device, manual, hl7, fhir
    session_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("infusion_session.id"))
    metric: Mapped[str] = mapped_column(String(8))
    value: Mapped[float]
    unit: Mapped[str] = mapped_column(String(16))
    observed_at: Mapped[datetime]
    utc_offset_minutes: Mapped[int]
    measurement_id: Mapped[str | None] = mapped_column(String(128))
    original_value: Mapped[float]
    original_unit: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime]
    late: Mapped[bool] = mapped_column(default=False)
    entered_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_user.id"))
    excluded_at: Mapped[datetime | None]
    excluded_reason: Mapped[str | None] = mapped_column(Text)
