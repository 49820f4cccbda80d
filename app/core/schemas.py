"""Pydantic building blocks shared by the domains' schemas."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    field_validator,
)


def _plausible_instant(value: datetime) -> datetime:
    # Far-off dates are typos or attacks; they also overflow when shifted to UTC.
    try:
        utc = value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("timestamp is out of range") from exc
    if not 1900 <= utc.year <= 2200:
        raise ValueError("timestamp must lie between the years 1900 and 2200")
    return utc


UtcTimestamp = Annotated[AwareDatetime, AfterValidator(_plausible_instant)]


def _day_text(value: Any) -> Any:
    # Pydantic would also take a number of seconds since 1970 ("0.0") for a date.
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("day must be written YYYY-MM-DD")
    return value


def _plausible_day(value: date) -> date:
    # The same range as timestamps: a day's bounds in the clinic's zone must still be datetimes.
    if not 1900 <= value.year <= 2200:
        raise ValueError("day must lie between the years 1900 and 2200")
    return value


ClinicDay = Annotated[date, BeforeValidator(_day_text), AfterValidator(_plausible_day)]
"""A calendar day in the clinic's time zone (query parameters), YYYY-MM-DD."""


def plausible_if_aware(value: datetime) -> datetime:
    """Range-checked but left in its own offset (device readings keep theirs); a missing
    offset is reported per item by the caller rather than as a 422."""
    if value.tzinfo is not None:
        _plausible_instant(value)
    return value


"""A timestamp that must carry its UTC offset; it is converted to UTC on the way in."""

MAX_PAGE_OFFSET = 1_000_000
MAX_SEQ = 2**62


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple | set | frozenset):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


class InputModel(BaseModel):
    """Base of every request body: unknown fields are refused, and so is text containing NUL,
    which PostgreSQL cannot store (a 422 naming the field, not a database error)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError("text must not contain the NUL character")
        return value
