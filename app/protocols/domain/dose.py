"""Dose and pump-rate engine (DESIGN §3, issue 4 point 3).

Pure: `Decimal` arithmetic in a 40-digit context, one ROUND_HALF_UP rounding at the end
(mg, mg/h, mL, mL/h to 0.1; mg/mL to 0.01). Time comes in as an argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from enum import StrEnum

from app.protocols.domain.common import (
    DOSE_CONTEXT,
    require_aware,
    round_hundredth,
    round_tenth,
)

_SIXTY = Decimal(60)


class WeightBasis(StrEnum):
    """Which body weight the dose uses; only actual body weight is supported (clinical.md §1.2 [S28])."""

    ACTUAL = "actual"


class PreparationMode(StrEnum):
    """How the drug is prepared (DESIGN §3): a fixed bag volume, or a fixed concentration."""

    FIXED_BAG_VOLUME = "fixed_bag_volume"
    FIXED_CONCENTRATION = "fixed_concentration"


@dataclass(frozen=True, slots=True)
class Preparation:
    """Preparation of the infusion: the bag volume (mL) or the concentration (mg/mL), per mode."""

    mode: PreparationMode
    bag_volume_ml: Decimal | None = None
    concentration_mg_per_ml: Decimal | None = None

    def __post_init__(self) -> None:
        if self.mode is PreparationMode.FIXED_BAG_VOLUME:
            if self.bag_volume_ml is None or self.bag_volume_ml <= 0:
                raise ValueError("fixed_bag_volume preparation needs a positive bag_volume_ml")
            if self.concentration_mg_per_ml is not None:
                raise ValueError("fixed_bag_volume preparation takes no concentration_mg_per_ml")
        else:
            if self.concentration_mg_per_ml is None or self.concentration_mg_per_ml <= 0:
                raise ValueError(
                    "fixed_concentration preparation needs a positive concentration_mg_per_ml"
                )
            if self.bag_volume_ml is not None:
                raise ValueError("fixed_concentration preparation takes no bag_volume_ml")


@dataclass(frozen=True, slots=True)
class DosingRules:
    """The protocol's dosing section (protocol file `[infusion]`, `[preparation]`, `[titration]`)."""

    mg_per_kg: Decimal
    minutes: int
    minutes_min: int
    minutes_max: int
    mg_per_kg_max: Decimal
    weight_basis: WeightBasis
    weight_window_days: int
    weight_min_kg: Decimal
    weight_max_kg: Decimal
    warning_weight_kg: Decimal
    max_dose_mg: Decimal | None
    preparation: Preparation

    def __post_init__(self) -> None:
        if not 0 < self.mg_per_kg <= self.mg_per_kg_max:
            raise ValueError("mg_per_kg must be in (0, mg_per_kg_max]")
        if not 0 < self.minutes_min <= self.minutes <= self.minutes_max:
            raise ValueError("minutes must lie within [minutes_min, minutes_max]")
        if not 0 < self.weight_min_kg < self.warning_weight_kg <= self.weight_max_kg:
            raise ValueError("weights must satisfy 0 < min < warning <= max")
        if self.weight_window_days <= 0:
            raise ValueError("weight_window_days must be positive")
        if self.max_dose_mg is not None and self.max_dose_mg <= 0:
            raise ValueError("max_dose_mg must be positive when set")


@dataclass(frozen=True, slots=True)
class WeightMeasurement:
    """A body weight in kg and the instant it was measured (timezone-aware)."""

    weight_kg: Decimal
    measured_at: datetime


class DoseRefusalCode(StrEnum):
    """Why a dose cannot be calculated."""

    WEIGHT_BELOW_PLAUSIBLE = "weight_below_plausible"
    WEIGHT_ABOVE_PLAUSIBLE = "weight_above_plausible"
    WEIGHT_STALE = "weight_stale"
    WEIGHT_IN_FUTURE = "weight_in_future"
    MG_PER_KG_OUT_OF_RANGE = "mg_per_kg_out_of_range"
    MINUTES_OUT_OF_RANGE = "minutes_out_of_range"


class DoseRefused(ValueError):
    """The dose engine refuses to calculate; `code` says why, the message says what to do."""

    def __init__(self, code: DoseRefusalCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class DoseWarningCode(StrEnum):
    """Conditions that allow a dose but must be shown with it."""

    WEIGHT_ABOVE_WARNING = "weight_above_warning"
    DOSE_CAPPED = "dose_capped"


@dataclass(frozen=True, slots=True)
class DoseWarning:
    """A warning attached to a dose result (code for machines, message for people)."""

    code: DoseWarningCode
    message: str


@dataclass(frozen=True, slots=True)
class DoseCalculation:
    """Inputs used and the rounded figures a nurse programs into the pump."""

    weight_kg: Decimal
    weight_measured_at: datetime
    mg_per_kg: Decimal
    minutes: int
    preparation_mode: PreparationMode
    calculated_dose_mg: Decimal
    capped: bool
    dose_mg: Decimal
    rate_mg_per_h: Decimal
    volume_ml: Decimal
    rate_ml_per_h: Decimal
    concentration_mg_per_ml: Decimal
    warnings: tuple[DoseWarning, ...]


def check_weight(rules: DosingRules, weight: WeightMeasurement, now: datetime) -> None:
    """Refuse a weight that is implausible, stale or from the future.

    Rule: the dosing weight must lie in [weight_min_kg, weight_max_kg] (default 30–250 kg,
    DESIGN §3) and be measured within `weight_window_days` before `now` (protocol
    `infusion.weight_window_days`, a site choice). Units: kg, days. Raises DoseRefused.
    """
    require_aware("now", now)
    require_aware("weight.measured_at", weight.measured_at)
    if weight.weight_kg < rules.weight_min_kg:
        raise DoseRefused(
            DoseRefusalCode.WEIGHT_BELOW_PLAUSIBLE,
            f"weight {weight.weight_kg} kg is below the plausible minimum of "
            f"{rules.weight_min_kg} kg; re-weigh the patient",
        )
    if weight.weight_kg > rules.weight_max_kg:
        raise DoseRefused(
            DoseRefusalCode.WEIGHT_ABOVE_PLAUSIBLE,
            f"weight {weight.weight_kg} kg is above the plausible maximum of "
            f"{rules.weight_max_kg} kg; re-weigh the patient",
        )
    if weight.measured_at > now:
        raise DoseRefused(
            DoseRefusalCode.WEIGHT_IN_FUTURE,
            f"weight was recorded at {weight.measured_at.isoformat()}, after the calculation "
            f"time {now.isoformat()}; check the clock and record the weight again",
        )
    window = timedelta(days=rules.weight_window_days)
    if now - weight.measured_at > window:
        raise DoseRefused(
            DoseRefusalCode.WEIGHT_STALE,
            f"weight measured at {weight.measured_at.isoformat()} is older than the protocol's "
            f"{rules.weight_window_days}-day window; record a new weight",
        )


def calculate_dose(
    rules: DosingRules,
    weight: WeightMeasurement,
    now: datetime,
    *,
    mg_per_kg: Decimal | None = None,
    minutes: int | None = None,
) -> DoseCalculation:
    """Calculate dose, rates, volume and concentration for one infusion.

    Rules (DESIGN §3; clinical.md §1.1–1.3, §9): dose_mg = mg_per_kg × actual weight_kg, capped
    at `max_dose_mg` if the protocol sets one (the result says so); rate_mg_per_h =
    dose_mg × 60 / minutes. Fixed bag of V mL: rate_ml_per_h = V × 60 / minutes,
    concentration = dose_mg / V, volume = V. Fixed concentration C mg/mL: volume_ml = dose_mg / C,
    rate_ml_per_h = rate_mg_per_h / C. Everything is exact until one ROUND_HALF_UP at the end
    (mg, mg/h, mL, mL/h to 0.1; mg/mL to 0.01). A weight above `warning_weight_kg` (115 kg by
    default [S38 anchor]) adds a warning. `mg_per_kg` (a physician's order, default the
    protocol's) must lie in (0, mg_per_kg_max]; `minutes` in [minutes_min, minutes_max].
    Example: 70 kg, 0.5 mg/kg, 40 min, 100 mL bag → 35.0 mg, 52.5 mg/h, 150.0 mL/h, 0.35 mg/mL.
    Raises DoseRefused with the reason.
    """
    check_weight(rules, weight, now)
    ordered_mg_per_kg = rules.mg_per_kg if mg_per_kg is None else mg_per_kg
    if not 0 < ordered_mg_per_kg <= rules.mg_per_kg_max:
        raise DoseRefused(
            DoseRefusalCode.MG_PER_KG_OUT_OF_RANGE,
            f"{ordered_mg_per_kg} mg/kg is outside the protocol's range "
            f"(above 0, at most {rules.mg_per_kg_max} mg/kg)",
        )
    ordered_minutes = rules.minutes if minutes is None else minutes
    if not rules.minutes_min <= ordered_minutes <= rules.minutes_max:
        raise DoseRefused(
            DoseRefusalCode.MINUTES_OUT_OF_RANGE,
            f"{ordered_minutes} min is outside the protocol's range "
            f"{rules.minutes_min}–{rules.minutes_max} min",
        )

    warnings: list[DoseWarning] = []
    if weight.weight_kg > rules.warning_weight_kg:
        warnings.append(
            DoseWarning(
                DoseWarningCode.WEIGHT_ABOVE_WARNING,
                f"weight {weight.weight_kg} kg is above {rules.warning_weight_kg} kg: no dose cap "
                "or adjusted-weight rule is sourced for ketamine in depression; physician to "
                "confirm the dose",
            )
        )

    prep = rules.preparation
    with localcontext(DOSE_CONTEXT):
        calculated_mg = ordered_mg_per_kg * weight.weight_kg
        dose_mg = calculated_mg
        capped = rules.max_dose_mg is not None and calculated_mg > rules.max_dose_mg
        if capped and rules.max_dose_mg is not None:
            dose_mg = rules.max_dose_mg
        rate_mg_per_h = dose_mg * _SIXTY / ordered_minutes
        if prep.mode is PreparationMode.FIXED_BAG_VOLUME:
            assert prep.bag_volume_ml is not None  # guaranteed by Preparation.__post_init__
            volume_ml = prep.bag_volume_ml
            rate_ml_per_h = volume_ml * _SIXTY / ordered_minutes
            concentration = dose_mg / volume_ml
        else:
            assert prep.concentration_mg_per_ml is not None
            concentration = prep.concentration_mg_per_ml
            volume_ml = dose_mg / concentration
            rate_ml_per_h = rate_mg_per_h / concentration

    if capped:
        warnings.append(
            DoseWarning(
                DoseWarningCode.DOSE_CAPPED,
                f"calculated dose {round_tenth(calculated_mg)} mg exceeds the protocol ceiling; "
                f"capped at {round_tenth(dose_mg)} mg",
            )
        )
    return DoseCalculation(
        weight_kg=weight.weight_kg,
        weight_measured_at=weight.measured_at,
        mg_per_kg=ordered_mg_per_kg,
        minutes=ordered_minutes,
        preparation_mode=prep.mode,
        calculated_dose_mg=round_tenth(calculated_mg),
        capped=capped,
        dose_mg=round_tenth(dose_mg),
        rate_mg_per_h=round_tenth(rate_mg_per_h),
        volume_ml=round_tenth(volume_ml),
        rate_ml_per_h=round_tenth(rate_ml_per_h),
        concentration_mg_per_ml=round_hundredth(concentration),
        warnings=tuple(warnings),
    )
