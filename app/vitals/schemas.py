from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.core.schemas import InputModel, UtcTimestamp, plausible_if_aware

MAX_READINGS_PER_REQUEST = 1000


class ReadingIn(InputModel):
    id: str = Field(min_length=1, max_length=128, description="the device's own reading id")
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
        description="device time with its UTC offset (a reading without one is rejected)"
    )
    measurement_id: str | None = Field(
        default=None,
        max_length=128,
        description="shared by the readings of one NIBP measurement",
    )


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
