"""Pure patient helpers."""

from __future__ import annotations

from datetime import date, datetime, timedelta


def initials(name: str) -> str:
    """What the live board shows instead of the name: first letters of up to three name parts."""
    parts = [p for p in name.replace("-", " ").split() if p]
    return "".join(p[0].upper() for p in parts[:3]) or "?"


def birth_date_problem(birth_date: date, *, today: date) -> str | None:
    """Why a birth date is implausible, or None (not in the future, not over 120 years ago)."""
    if birth_date > today:
        return "birth_date is in the future"
    if birth_date < today.replace(year=today.year - 120):
        return "birth_date is more than 120 years ago"
    return None


def measured_at_problem(
    measured_at: datetime, *, now: datetime, tolerance: timedelta
) -> str | None:
    """Why a measurement time is refused, or None: a weight cannot be measured in the future."""
    if measured_at > now + tolerance:
        return "measured_at is in the future"
    return None
