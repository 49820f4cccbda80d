from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.core.schemas import InputModel


class ClinicRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    timezone: str = Field(
        description="IANA time zone used for display; everything is stored in UTC"
    )


class ChairCreate(InputModel):
    name: str = Field(min_length=1, max_length=100, examples=["Chair 1"])


class ChairUpdate(InputModel):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    is_active: bool | None = None


class ChairRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    clinic_id: uuid.UUID
    name: str
    is_active: bool
    created_at: datetime


class ChairList(BaseModel):
    items: list[ChairRead]
