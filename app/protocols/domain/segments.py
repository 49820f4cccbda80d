"""Delivered dose from rate segments (DESIGN §3, issue 4 point 4, issue 5 point 4).

An infusion is a sequence of rate segments: start, pause (rate 0 or a gap), resume, rate change,
stop. Delivered mg is Σ rate × time, computed exactly in integer microseconds and capped at the
ordered dose; the figures shown are rounded once at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal, localcontext

from app.protocols.domain.common import (
    DOSE_CONTEXT,
    MICROSECONDS_PER_HOUR,
    MICROSECONDS_PER_MINUTE,
    microseconds_between,
    require_aware,
    round_tenth,
)


class InvalidSegments(ValueError):
    """The segment list is not a valid infusion record (order, overlap, open segment, rate)."""


@dataclass(frozen=True, slots=True)
class RateSegment:
    """A span at a constant rate in mg/h; `end_at` None means still running. Rate 0 is a pause."""

    start_at: datetime
    rate_mg_per_h: Decimal
    end_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class InfusionProgress:
    """Progress of an infusion at instant `at` (mg, min and mL rounded to 0.1)."""

    at: datetime
    ordered_dose_mg: Decimal
    delivered_mg: Decimal
    remaining_mg: Decimal
    delivered_volume_ml: Decimal
    remaining_volume_ml: Decimal
    minutes_infused: Decimal
    current_rate_mg_per_h: Decimal
    remaining_minutes: Decimal | None
    complete: bool
    completes_at: datetime | None


def validate_segments(segments: tuple[RateSegment, ...]) -> None:
    """Raise InvalidSegments unless the segments form a valid infusion record.

    Rule: timezone-aware instants; rate ≥ 0 mg/h; each segment ends at or after it starts;
    segments are in start order and do not overlap; only the last one may be open.
    """
    previous_end: datetime | None = None
    for index, segment in enumerate(segments):
        label = f"segment {index}"
        try:
            require_aware(f"{label} start_at", segment.start_at)
            if segment.end_at is not None:
                require_aware(f"{label} end_at", segment.end_at)
        except ValueError as exc:
            raise InvalidSegments(str(exc)) from exc
        if segment.rate_mg_per_h < 0:
            raise InvalidSegments(f"{label} has a negative rate {segment.rate_mg_per_h} mg/h")
        if segment.end_at is not None and segment.end_at < segment.start_at:
            raise InvalidSegments(f"{label} ends before it starts")
        if segment.end_at is None and index != len(segments) - 1:
            raise InvalidSegments(f"{label} is open but is not the last segment")
        if previous_end is not None and segment.start_at < previous_end:
            raise InvalidSegments(f"{label} starts before the previous segment ends")
        previous_end = segment.end_at


def _current_rate(segments: tuple[RateSegment, ...], at: datetime) -> Decimal:
    for segment in segments:
        if segment.start_at <= at and (segment.end_at is None or at < segment.end_at):
            return segment.rate_mg_per_h
    return Decimal(0)


def infusion_progress(
    ordered_dose_mg: Decimal,
    ordered_volume_ml: Decimal,
    segments: tuple[RateSegment, ...],
    at: datetime,
) -> InfusionProgress:
    """Delivered dose, minutes infused, remaining time and remaining volume at instant `at`.

    Rule (DESIGN §3): delivered mg = Σ over segments of rate_mg_per_h × hours, up to `at`,
    never more than the ordered dose; the infusion is complete at the instant the cumulative dose
    reaches the order (rounded up to the microsecond). Minutes infused count time at a rate > 0
    until completion. Remaining minutes and the projected completion instant assume the rate in
    force at `at` continues (None while paused). Volume is proportional to dose: ordered_volume_ml
    is the bag volume (fixed bag) or dose / concentration (fixed concentration). Example: 35 mg at
    52.5 mg/h paused 5 min at minute 20 completes at minute 45 wall time with exactly 35.0 mg.
    """
    require_aware("at", at)
    if ordered_dose_mg <= 0 or ordered_volume_ml <= 0:
        raise InvalidSegments("ordered dose and volume must be positive")
    validate_segments(segments)

    with localcontext(DOSE_CONTEXT):
        # Units of mg·µs/h: rate (mg/h) × elapsed µs, compared against ordered mg × µs per hour.
        target = ordered_dose_mg * MICROSECONDS_PER_HOUR
        cumulative = Decimal(0)
        infused_us = 0
        completed_at: datetime | None = None
        for segment in segments:
            if segment.start_at >= at:
                break
            span_end = at if segment.end_at is None else min(segment.end_at, at)
            span_us = microseconds_between(segment.start_at, span_end)
            rate = segment.rate_mg_per_h
            if rate == 0 or span_us == 0:
                continue
            if cumulative + rate * span_us >= target:
                needed_us = int(((target - cumulative) / rate).to_integral_value(ROUND_CEILING))
                completed_at = segment.start_at + timedelta(microseconds=needed_us)
                infused_us += needed_us
                cumulative = target
                break
            cumulative += rate * span_us
            infused_us += span_us

        current_rate = _current_rate(segments, at)
        delivered_mg = cumulative / MICROSECONDS_PER_HOUR
        remaining_mg = ordered_dose_mg - delivered_mg
        remaining_minutes: Decimal | None
        completes_at: datetime | None
        if completed_at is not None:
            remaining_minutes = Decimal(0)
            completes_at = completed_at
        elif current_rate > 0:
            remaining_us = (target - cumulative) / current_rate
            remaining_minutes = remaining_us / MICROSECONDS_PER_MINUTE
            completes_at = at + timedelta(
                microseconds=int(remaining_us.to_integral_value(ROUND_CEILING))
            )
        else:
            remaining_minutes = None
            completes_at = None
        ml_per_mg = ordered_volume_ml / ordered_dose_mg
        delivered_volume_ml = delivered_mg * ml_per_mg
        remaining_volume_ml = remaining_mg * ml_per_mg
        minutes_infused = Decimal(infused_us) / MICROSECONDS_PER_MINUTE

    return InfusionProgress(
        at=at,
        ordered_dose_mg=ordered_dose_mg,
        delivered_mg=round_tenth(delivered_mg),
        remaining_mg=round_tenth(remaining_mg),
        delivered_volume_ml=round_tenth(delivered_volume_ml),
        remaining_volume_ml=round_tenth(remaining_volume_ml),
        minutes_infused=round_tenth(minutes_infused),
        current_rate_mg_per_h=current_rate,
        remaining_minutes=None if remaining_minutes is None else round_tenth(remaining_minutes),
        complete=completed_at is not None,
        completes_at=completes_at,
    )
