"""Pydantic building blocks shared by the domains' schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime


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
"""A timestamp that must carry its UTC offset; it is converted to UTC on the way in."""

MAX_PAGE_OFFSET = 1_000_000
MAX_SEQ = 2**62
