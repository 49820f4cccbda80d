from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, IdMixin


class DeviceProfile(IdMixin, Base):
    """How one device speaks: format, code and unit maps over the defaults, time zone for
    timestamps without offset, and for HL7 its MSH-3/4 and the addresses it may connect from."""

    __tablename__ = "interop_device_profile"
    __table_args__ = (UniqueConstraint("sending_application", "sending_facility"),)

    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("device.id"), unique=True)
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id"), index=True)
    message_format: Mapped[str] = mapped_column(String(16))  # hl7v2, fhir, json
    model: Mapped[str | None] = mapped_column(String(100))
    sending_application: Mapped[str | None] = mapped_column(String(227))
    sending_facility: Mapped[str | None] = mapped_column(String(227))
    allowed_addresses: Mapped[list[str]] = mapped_column(JSON, default=list)
    time_zone: Mapped[str | None] = mapped_column(String(64))
    code_map: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    unit_map: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    sentinels: Mapped[list[float] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class Hl7Message(IdMixin, Base):
    """An answered HL7 message: a repeated MSH-10 from the same device gets ``ack`` again and
    stores nothing. Unmapped OBX rows are kept raw here (no PID/PV1: no PHI)."""

    __tablename__ = "interop_hl7_message"
    __table_args__ = (UniqueConstraint("device_id", "control_id"),)

    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("device.id"))
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id"), index=True)
    control_id: Mapped[str] = mapped_column(String(199))
    sender: Mapped[str] = mapped_column(String(500))
    peer: Mapped[str | None] = mapped_column(String(64))
    transport: Mapped[str] = mapped_column(String(8))  # mllp, http
    ack_code: Mapped[str] = mapped_column(String(2))
    ack: Mapped[str] = mapped_column(Text)
    readings_created: Mapped[int]
    unmapped_rows: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    received_at: Mapped[datetime]


class UnmappedCode(IdMixin, Base):
    """How often a device sent an observation code we do not map (shown in the device status so
    the integrator can add it to the profile)."""

    __tablename__ = "interop_unmapped_code"
    __table_args__ = (UniqueConstraint("device_id", "code"),)

    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("device.id"), index=True)
    code: Mapped[str] = mapped_column(String(300))
    count: Mapped[int]
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
