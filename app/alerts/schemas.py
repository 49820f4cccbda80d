from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.core.schemas import InputModel


class AlarmRead(BaseModel):
    """One alarm episode: what raised it, the rule and limit in force, and what staff did."""

    id: uuid.UUID
    session_id: uuid.UUID
    kind: Literal["physiological", "technical"]
    episode: str = Field(description="`spo2:low`, `sbp:high`, or `technical:<kind>`")
    metric: str | None
    rule_id: str = Field(description="Protocol rule id, or the technical alarm kind")
    priority: Literal["low", "medium", "high"]
    state: Literal["active", "cleared"]
    limit: float | None = Field(description="The limit in force (baseline-relative rules resolved)")
    message: str
    action: str | None = Field(description="The advised action from the protocol")
    phase: str
    protocol_version_id: uuid.UUID
    protocol_sha256: str
    reading_ids: list[str] = Field(description="The readings that raised it (and raised it higher)")
    late: bool = Field(description="Raised or raised higher by a late reading")
    condition_present: bool = Field(
        description="False for a latching alarm whose condition ended: it waits for acknowledgement"
    )
    raised_at: datetime
    priority_since: datetime
    last_annunciated_at: datetime
    acknowledged_at: datetime | None = Field(description="Acknowledgement of the current priority")
    acknowledged_by: str | None
    acknowledge_note: str | None
    escalated_at: datetime | None
    silenced_until: datetime | None
    silenced_by: str | None
    silence_reason: str | None
    cleared_at: datetime | None
    cleared_reason: str | None
    sounding: bool = Field(description="Boards sound it now: not silenced, not acknowledged")
    history: list[dict[str, Any]]


class AlarmList(BaseModel):
    items: list[AlarmRead]
    total: int


class AcknowledgeIn(InputModel):
    note: str | None = Field(default=None, max_length=1000, description="Optional note")


class SilenceIn(InputModel):
    reason: str | None = Field(default=None, max_length=1000, description="Optional reason")
