from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.schemas import InputModel


class ProtocolUpload(InputModel):
    filename: str = Field(min_length=1, max_length=200, examples=["ketamine-iv-0.5mgkg-40min.toml"])
    content: str = Field(min_length=1, max_length=500_000, description="the TOML file's text")


class ProtocolVersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    protocol_key: str
    version: str
    name: str
    source_name: str
    sha256: str
    status: Literal["pending", "active", "retired"]
    loaded_at: datetime
    loaded_by: str
    approved_at: datetime | None
    approved_by: uuid.UUID | None
    retired_at: datetime | None


class ProtocolVersionDetail(ProtocolVersionRead):
    content: str


class ProtocolList(BaseModel):
    items: list[ProtocolVersionRead]


class KeyChangeRead(BaseModel):
    key: str = Field(examples=["recovery.min_observation_minutes"])
    kind: Literal["added", "removed", "changed"]
    old: Any = None
    new: Any = None


class ProtocolDiffRead(BaseModel):
    old: ProtocolVersionRead
    new: ProtocolVersionRead
    changes: list[KeyChangeRead]


class ProtocolApprove(InputModel):
    password: str = Field(min_length=1, max_length=256, description="your own password, re-entered")


class ProtocolApproval(BaseModel):
    version: ProtocolVersionRead
    replaced: ProtocolVersionRead | None
    changes: list[KeyChangeRead] = Field(description="what changed against the version replaced")


class DosePreviewRequest(InputModel):
    weight_kg: Decimal = Field(gt=0, le=1000, max_digits=6, decimal_places=2, examples=[70])
    mg_per_kg: Decimal | None = Field(
        default=None,
        gt=0,
        le=5,
        max_digits=5,
        decimal_places=3,
        description="defaults to the protocol's dose",
        examples=[0.5],
    )


class DoseWarningRead(BaseModel):
    code: str
    message: str


class DosePreview(BaseModel):
    """All figures rounded half-up once: mg, mg/h, mL and mL/h to 0.1, mg/mL to 0.01."""

    protocol_id: uuid.UUID
    weight_kg: float
    mg_per_kg: float
    minutes: int
    preparation_mode: Literal["fixed_bag_volume", "fixed_concentration"]
    calculated_dose_mg: float = Field(description="before any protocol ceiling")
    capped: bool
    dose_mg: float = Field(examples=[35.0])
    rate_mg_per_h: float = Field(examples=[52.5])
    volume_ml: float = Field(examples=[100.0])
    rate_ml_per_h: float = Field(examples=[150.0])
    concentration_mg_per_ml: float = Field(examples=[0.35])
    warnings: list[DoseWarningRead]
