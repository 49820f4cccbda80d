"""Client → server messages of ``/ws/board``."""

from __future__ import annotations

import uuid

from pydantic import Field, StrictBool, StrictInt

from app.core.schemas import InputModel

MAX_SESSIONS = 64


class SubscribeIn(InputModel):
    clinic: StrictBool = False
    sessions: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_SESSIONS)


class ResumeIn(InputModel):
    clinic: StrictInt | None = Field(default=None, ge=0)
    sessions: dict[uuid.UUID, StrictInt] = Field(default_factory=dict, max_length=MAX_SESSIONS)


class BoardRequest(InputModel):
    """The first message: what to watch, optionally where the client left off, and how often."""

    subscribe: SubscribeIn | None = None
    resume: ResumeIn | None = None
    max_rate_hz: float | None = Field(default=None, gt=0, le=100)
    batch: StrictBool = Field(
        default=False,
        description='live events arrive as {"type": "events", "events": [...]} frames holding '
        "whatever was waiting, in order (fewer frames for busy clinics)",
    )
