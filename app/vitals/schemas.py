from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from app.core.schemas import InputModel, UtcTimestamp, plausible_if_aware

if TYPE_CHECKING:
    from app.vitals.service import ReadingOutcome

MAX_READINGS_PER_REQUEST = 1000


class ManualReadingIn(InputModel):
    """One measurement: metric, value, UCUM unit and when it was measured."""

    metric: str = Field(
        min_length=1, max_length=16, description="sbp, dbp, map, hr, pr, spo2, rr or temp"
    )
    value: float
    unit: str = Field(
        min_length=1,
        max_length=32,
        description="UCUM: mm[Hg], kPa, /min, {beat}/min, {breath}/min, %, Cel, [degF]",
    )
    observed_at: Annotated[datetime, AfterValidator(plausible_if_aware)] = Field(
        description="when it was measured, with its UTC offset (a reading without one is rejected)"
    )
    measurement_id: str | None = Field(
        default=None,
        max_length=128,
        description="shared by the readings of one NIBP measurement (else the same observed_at)",
    )


class ReadingIn(ManualReadingIn):
    """A device's reading: the measurement plus the device's own id (the idempotency key)."""

    id: str = Field(min_length=1, max_length=128, description="the device's own reading id")


class VitalsBatch(InputModel):
    """Up to 1,000 readings; a larger batch is refused whole with 413."""

    sent_at: UtcTimestamp | None = Field(
        default=None, description="device time when the batch was sent (clock-skew check)"
    )
    readings: list[ReadingIn] = Field(min_length=1)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sent_at": "2026-11-23T10:00:01.000+01:00",
                    "readings": [
                        {
                            "id": "m1-000123",
                            "metric": "spo2",
                            "value": 97,
                            "unit": "%",
                            "observed_at": "2026-11-23T10:00:00.250+01:00",
                        },
                        {
                            "id": "m1-000124",
                            "metric": "sbp",
                            "value": 128,
                            "unit": "mm[Hg]",
                            "observed_at": "2026-11-23T10:00:00+01:00",
                            "measurement_id": "nibp-42",
                        },
                        {
                            "id": "m1-000125",
                            "metric": "dbp",
                            "value": 82,
                            "unit": "mm[Hg]",
                            "observed_at": "2026-11-23T10:00:00+01:00",
                            "measurement_id": "nibp-42",
                        },
                    ],
                }
            ]
        }
    )


class ReadingResult(BaseModel):
    id: str
    status: Literal["created", "duplicate", "conflict", "rejected"]
    code: str | None = Field(default=None, description="machine code of a rejection")
    message: str | None = None
    session_id: uuid.UUID | None = Field(
        default=None, description="the session the reading was filed under (null: unrouted)"
    )


class VitalsBatchResult(BaseModel):
    results: list[ReadingResult] = Field(description="one per reading, in the order sent")
    clock_skewed: bool = Field(description="the device clock is off by more than the limit")


MAX_MANUAL_READINGS = 50
ExclusionKind = Literal["artefact", "entered_in_error"]


class ManualVitalsCreate(InputModel):
    """Up to 50 readings a nurse or physician measured by hand (e.g. a manual BP)."""

    readings: list[ManualReadingIn] = Field(min_length=1, max_length=MAX_MANUAL_READINGS)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "readings": [
                        {
                            "metric": "sbp",
                            "value": 132,
                            "unit": "mm[Hg]",
                            "observed_at": "2026-11-23T10:20:00+01:00",
                        },
                        {
                            "metric": "dbp",
                            "value": 84,
                            "unit": "mm[Hg]",
                            "observed_at": "2026-11-23T10:20:00+01:00",
                        },
                    ]
                }
            ]
        }
    )


class ManualReadingResult(BaseModel):
    index: int = Field(description="position of the reading in the request")
    status: Literal["created", "rejected"]
    reading_id: uuid.UUID | None = Field(
        default=None, description="the stored reading (use it to mark it as an artefact)"
    )
    code: str | None = Field(default=None, description="machine code of a rejection")
    message: str | None = None


class ManualVitalsResult(BaseModel):
    session_id: uuid.UUID
    results: list[ManualReadingResult] = Field(description="one per reading, in the order sent")


class ReadingExclusionCreate(InputModel):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    kind: ExclusionKind = Field(
        description="artefact (a wrong measurement) or entered_in_error (a wrong entry)"
    )


class VitalReadingRead(BaseModel):
    id: uuid.UUID
    session_id: uuid.UUID | None
    metric: str
    value: float
    unit: str
    observed_at: datetime = Field(description="UTC")
    utc_offset_minutes: int = Field(description="the sender's offset, minutes east of UTC")
    measurement_id: str | None
    original_value: float
    original_unit: str
    received_at: datetime
    late: bool
    source: str = Field(description="device or manual")
    device_id: uuid.UUID | None
    entered_by: uuid.UUID | None = Field(description="the user who entered a manual reading")
    excluded_at: datetime | None
    excluded_kind: ExclusionKind | None = None
    excluded_reason: str | None


class VitalReadingList(BaseModel):
    items: list[VitalReadingRead]


def reading_results(outcomes: Sequence[ReadingOutcome]) -> list[ReadingResult]:
    """The wire form of ingest outcomes, shared by the REST and WebSocket adapters."""
    return [
        ReadingResult(
            id=o.source_id,
            status=o.status,
            code=o.code,
            message=o.message,
            session_id=o.session_id,
        )
        for o in outcomes
    ]
