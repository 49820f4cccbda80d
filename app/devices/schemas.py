from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.core.schemas import InputModel


class DeviceCreate(InputModel):
    name: str = Field(min_length=1, max_length=100, examples=["Monitor 1 (chair 1)"])
    chair_id: uuid.UUID | None = Field(default=None, description="bind the monitor to this chair")


class DeviceUpdate(InputModel):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    chair_id: uuid.UUID | None = Field(default=None, description="the chair; null unbinds")
    unbind_chair: bool = Field(default=False, description="set true to unbind from any chair")


class DeviceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    clinic_id: uuid.UUID
    name: str
    chair_id: uuid.UUID | None
    created_at: datetime
    revoked_at: datetime | None


class DeviceList(BaseModel):
    items: list[DeviceRead]


class DeviceKeyIssued(BaseModel):
    device: DeviceRead
    api_key: str = Field(description="shown once; store it in the monitor or gateway now")
    key_prefix: str
    previous_keys_expire_at: datetime | None = None


class DeviceRotate(InputModel):
    overlap_minutes: int | None = Field(
        default=None,
        ge=0,
        le=30 * 24 * 60,
        description="how long the old key keeps working (default APP_DEVICE_KEY_OVERLAP_MINUTES)",
    )


class DeviceRevoke(InputModel):
    reason: str = Field(min_length=1, max_length=500)


class UnmappedCodeCount(BaseModel):
    code: str = Field(description="the observation code as sent (code^name^system)")
    count: int


class DeviceStatus(BaseModel):
    id: uuid.UUID
    name: str
    chair_id: uuid.UUID | None
    revoked: bool
    last_seen_at: datetime | None
    last_reading_at: datetime | None
    accepted_count: int
    rejected_count: int
    unrouted_count: int
    active_keys: int
    unmapped_count: int = Field(
        default=0, description="HL7/FHIR observations whose code no map knows (kept raw)"
    )
    unmapped_codes: list[UnmappedCodeCount] = Field(
        default_factory=list,
        description="those codes, most frequent first: map them in the profile",
    )


class DeviceWhoAmI(BaseModel):
    id: uuid.UUID
    name: str
    clinic_id: uuid.UUID
    chair_id: uuid.UUID | None
