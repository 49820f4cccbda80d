from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, IdMixin


class ScreeningVersion(IdMixin, Base):
    """One version of a patient's pre-treatment screening (DESIGN §4).

    The content and its rule results never change once written: an edit inserts version + 1.
    Only the signature columns are filled, once, when a physician signs. ``content_sha256`` covers
    the content plus the evaluation (``service.content_hash``); the signature repeats the hash it
    was given for, and ``signature_sha256`` (``service.signature_hash``) covers the signature's
    own columns, so a later change to any of them is detected.
    """

    __tablename__ = "screening_version"
    __table_args__ = (UniqueConstraint("patient_id", "version"),)

    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id"), index=True)
    # Looked up by patient through the (patient_id, version) unique index.
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id"))
    version: Mapped[int] = mapped_column(Integer)
    protocol_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("protocol_version.id"))
    # ScreeningContent as JSON (decimals as strings, times as UTC ISO 8601).
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    # {"status", "evaluated_at", "findings": [{"rule_id", "severity", "message", ...}]}
    evaluation: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_user.id"))

    decision: Mapped[str | None] = mapped_column(String(20))
    signed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_user.id"))
    signed_at: Mapped[datetime | None]
    signed_sha256: Mapped[str | None] = mapped_column(String(64))
    # {rule_id: written justification} for every relative finding of an "eligible" decision.
    justifications: Mapped[dict[str, str] | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None]
    # Covers the signature itself (decision, signer, times, justifications, note) and the hash.
    signature_sha256: Mapped[str | None] = mapped_column(String(64))
