from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, IdMixin


class ProtocolVersion(IdMixin, Base):
    """An immutable protocol file as loaded (content and SHA-256); only its status moves:
    pending → active (approved) → retired (superseded by a newer approved version)."""

    __tablename__ = "protocol_version"
    __table_args__ = (
        UniqueConstraint("clinic_id", "sha256"),
        UniqueConstraint("clinic_id", "protocol_key", "version"),
    )

    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id"), index=True)
    protocol_key: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    source_name: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    loaded_at: Mapped[datetime]
    loaded_by: Mapped[str] = mapped_column(String(100))
    approved_at: Mapped[datetime | None]
    approved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_user.id"))
    retired_at: Mapped[datetime | None]
