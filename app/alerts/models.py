"""Alarm records and the per-session state of the alarm engine (issue 7, DESIGN §7)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, IdMixin


class Alarm(IdMixin, Base):
    """One alarm episode of a session: physiological (`spo2:low`) or technical (`technical:...`).

    `open_episode` equals `episode` while the alarm is active and is NULL once it is cleared: the
    unique (session_id, open_episode) key is what keeps one alarm per episode even when several
    instances evaluate or run the scheduler at once (NULLs never collide).
    """

    __tablename__ = "alarm"
    __table_args__ = (UniqueConstraint("session_id", "open_episode"),)

    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id"), index=True)
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("infusion_session.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    episode: Mapped[str] = mapped_column(String(40))
    open_episode: Mapped[str | None] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(10), index=True)
    metric: Mapped[str | None] = mapped_column(String(10))
    rule_id: Mapped[str] = mapped_column(String(64))
    priority: Mapped[str] = mapped_column(String(10))
    limit_value: Mapped[float | None]
    message: Mapped[str] = mapped_column(Text)
    action: Mapped[str | None] = mapped_column(Text)
    protocol_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("protocol_version.id"))
    protocol_sha256: Mapped[str] = mapped_column(String(64))
    phase: Mapped[str] = mapped_column(String(20))
    reading_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    late: Mapped[bool] = mapped_column(default=False)
    condition_present: Mapped[bool] = mapped_column(default=True)
    raised_at: Mapped[datetime]
    priority_since: Mapped[datetime]
    last_annunciated_at: Mapped[datetime]
    # Acknowledgement and escalation of the CURRENT priority: a rise resets both (DESIGN §7).
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_user.id"))
    acknowledged_by_name: Mapped[str | None] = mapped_column(String(200))
    acknowledge_note: Mapped[str | None] = mapped_column(Text)
    escalated_at: Mapped[datetime | None]
    silenced_until: Mapped[datetime | None]
    silenced_by_name: Mapped[str | None] = mapped_column(String(200))
    silence_reason: Mapped[str | None] = mapped_column(Text)
    cleared_at: Mapped[datetime | None]
    cleared_reason: Mapped[str | None] = mapped_column(Text)
    # Every priority, acknowledgement, silence and escalation in order, for the record.
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class AlarmEngineState(Base):
    """The alarm engine's memory for one session (onset timers, active episodes), as JSON.

    Locked for the length of an evaluation, so concurrent batches of one session are evaluated
    one after the other in arrival order (DESIGN §7 determinism).
    """

    __tablename__ = "alarm_engine_state"

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("infusion_session.id"), primary_key=True
    )
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime]
