from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator


class NotificationDeliveryRead(BaseModel):
    """One webhook delivery as staff see it: no payload, and only the receiver's origin (a
    webhook URL's path often carries the receiver's token)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    target: str = Field(validation_alias="url", description="scheme://host[:port] of the receiver")
    status: str = Field(description="pending, delivered or failed")
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime

    @field_validator("target", mode="before")
    @classmethod
    def _origin_only(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        parts = urlsplit(value)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
