from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, IdMixin


class Device(IdMixin, Base):
    __tablename__ = "device"
    __table_args__ = (UniqueConstraint("clinic_id", "name"),)

    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    chair_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("chair.id"), index=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    last_reading_at: Mapped[datetime | None]
    accepted_count: Mapped[int] = mapped_column(default=0)
    rejected_count: Mapped[int] = mapped_column(default=0)
    unrouted_count: Mapped[int] = mapped_column(default=0)
    # Estimated device clock error (s) at the last message; flagged beyond the protocol limit.
    clock_skew_s: Mapped[float | None]
    clock_skewed_since: Mapped[datetime | None]
    # When the device's ingest WebSocket last closed; NULL while connected (or never used). A
    # closed connection with nothing seen since is "device offline" (issue 7 point 8).
    ingest_socket_closed_at: Mapped[datetime | None]


class DeviceKey(IdMixin, Base):
    """An API key: only its SHA-256 is stored (keys are 256-bit random, so no slow hash is needed)."""

    __tablename__ = "device_key"

    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("device.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
