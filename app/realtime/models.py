from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, IdMixin


class EventStream(Base):
    """The last sequence number handed out per stream (``session:<id>`` or ``clinic:<id>``)."""

    __tablename__ = "event_stream"

    stream: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)


class Event(IdMixin, Base):
    """What a screen shows, written in the same transaction as its cause (DESIGN §8)."""

    __tablename__ = "event"
    __table_args__ = (UniqueConstraint("stream", "seq"),)

    stream: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id"), index=True)
    session_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class BoardPresence(Base):
    """How many live boards each app instance serves per clinic, refreshed every few seconds.

    The "no board watching this clinic" technical alarm reads it across instances
    (`app.realtime.service.boards_connected`); rows of a dead instance simply go stale.
    """

    __tablename__ = "board_presence"

    instance_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id"), primary_key=True)
    boards: Mapped[int]
    seen_at: Mapped[datetime]
