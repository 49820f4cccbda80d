from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.core.schemas import InputModel
from app.protocols.domain import Metric

MessageFormat = Literal["hl7v2", "fhir", "json"]


class DeviceProfileUpdate(InputModel):
    """A device's profile, replaced whole. Maps extend the defaults (README "For integrators");
    map a code to "" to drop a default."""

    message_format: MessageFormat = Field(description="hl7v2, fhir or json (REST/WebSocket)")
    model: str | None = Field(default=None, max_length=100, examples=["Mindray BeneView T5"])
    sending_application: str | None = Field(
        default=None, max_length=227, description="HL7 MSH-3 (first component) of this monitor"
    )
    sending_facility: str | None = Field(
        default=None, max_length=227, description="HL7 MSH-4 (first component); may be empty"
    )
    allowed_addresses: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="IP addresses or CIDR networks the monitor may connect from over MLLP",
    )
    time_zone: str | None = Field(
        default=None,
        description="IANA zone assumed for HL7 timestamps without offset (else they are rejected)",
    )
    code_map: dict[str, str] = Field(
        default_factory=dict,
        description="observation code or name → metric (sbp, dbp, map, hr, pr, spo2, rr, temp)",
        examples=[{"MNDRY_SPO2": "spo2", "150301": "sbp"}],
    )
    unit_map: dict[str, str] = Field(
        default_factory=dict,
        description="unit as written → UCUM",
        examples=[{"bpm": "/min"}],
    )
    sentinels: list[float] | None = Field(
        default=None, description="values meaning 'no measurement' (null: the defaults)"
    )

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from exc
        return value

    @field_validator("code_map")
    @classmethod
    def _metrics(cls, value: dict[str, str]) -> dict[str, str]:
        known = {m.value for m in Metric}
        for code, metric in value.items():
            if metric and metric not in known:
                raise ValueError(f"code {code!r}: {metric!r} is not one of {sorted(known)}")
        return value


class DeviceProfileRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    device_id: uuid.UUID
    message_format: str
    model: str | None
    sending_application: str | None
    sending_facility: str | None
    allowed_addresses: list[str]
    time_zone: str | None
    code_map: dict[str, str]
    unit_map: dict[str, str]
    sentinels: list[float] | None
    updated_at: datetime


class UnmappedCodeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    count: int
    first_seen_at: datetime
    last_seen_at: datetime
