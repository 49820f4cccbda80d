from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.schemas import InputModel, UtcTimestamp

Sex = Literal["female", "male", "other", "unknown"]


class WeightCreate(InputModel):
    weight_kg: Decimal = Field(gt=0, le=500, max_digits=5, decimal_places=1, examples=["70.0"])
    measured_at: UtcTimestamp = Field(description="when the patient was weighed, with offset")


class WeightRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    weight_kg: Decimal
    measured_at: datetime


class PatientCreate(InputModel):
    mrn: str = Field(
        min_length=1, max_length=64, description="medical record number, unique per clinic"
    )
    name: str = Field(min_length=1, max_length=200, repr=False)
    birth_date: date = Field(repr=False)
    sex: Sex
    weight: WeightCreate | None = None


class PatientUpdate(InputModel):
    mrn: str | None = Field(default=None, min_length=1, max_length=64)
    name: str | None = Field(default=None, min_length=1, max_length=200, repr=False)
    birth_date: date | None = Field(default=None, repr=False)
    sex: Sex | None = None


class PatientRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    clinic_id: uuid.UUID
    mrn: str
    name: str = Field(repr=False)
    initials: str
    birth_date: date = Field(repr=False)
    sex: Sex
    created_at: datetime
    updated_at: datetime
    weights: list[WeightRead] = Field(description="newest first")


class PatientSummary(BaseModel):
    id: uuid.UUID
    mrn: str
    name: str = Field(repr=False)
    initials: str
    sex: Sex


class PatientList(BaseModel):
    items: list[PatientSummary]
    total: int
