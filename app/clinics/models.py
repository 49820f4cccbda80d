from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, IdMixin


class Clinic(IdMixin, Base):
    __tablename__ = "clinic"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]


class Chair(IdMixin, Base):
    __tablename__ = "chair"
    __table_args__ = (UniqueConstraint("clinic_id", "name"),)

    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
