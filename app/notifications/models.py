from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, IdMixin


class NotificationDelivery(IdMixin, Base):
    """One signed webhook POST to one URL, retried with backoff until delivered or failed.

    Unique per (subject, kind, url, dedupe key): every scheduler instance may enqueue the same
    escalation, only the first insert counts.
    """

    __tablename__ = "notification_delivery"
    __table_args__ = (
        UniqueConstraint("subject_id", "kind", "url", "dedupe_key"),
        Index("ix_notification_delivery_status_next_attempt", "status", "next_attempt_at"),
    )

    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id"), index=True)
    # What the notification is about (an alarm id); no FK, any domain may notify.
    subject_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(40))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(500))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    # POSTs made so far (counted when claimed, so a crash mid-send still uses one up).
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    # Set while one instance is sending; others skip the row until it passes.
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status_code: Mapped[int | None]
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
