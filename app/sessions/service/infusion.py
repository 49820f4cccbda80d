"""The infusion: start (gates, dose order, first segment), pause, resume, rate change, stop,
completion. Every pump change is a rate segment; progress is computed from the segments."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.domain import Principal
from app.core.errors import Conflict, Forbidden
from app.core.types import Role
from app.protocols.domain import DoseRefused, Metric, calculate_dose
from app.protocols.domain.common import round_tenth
from app.sessions.domain import SessionEvent, assess_pre_vitals
from app.sessions.models import SessionDoseOrder, SessionRateSegment
from app.sessions.repository import SessionRepository
from app.sessions.service.checkin import start_inputs
from app.sessions.service.common import (
    Loaded,
    apply_event,
    current_order,
    load,
    open_segment,
    progress_of,
    require_legal,
)


def _who(principal: Principal) -> str:
    return principal.actor.actor_name or principal.actor.actor_type


def _new_segment(
    loaded: Loaded,
    seq: int,
    rate: Decimal,
    principal: Principal,
    now: datetime,
    reason: str | None,
) -> SessionRateSegment:
    return SessionRateSegment(
        id=uuid.uuid4(),
        session_id=loaded.row.id,
        seq=seq,
        start_at=now,
        end_at=None,
        rate_mg_per_h=rate,
        set_by=_who(principal),
        reason=reason,
    )


async def start_infusion(
    db: AsyncSession, *, principal: Principal, session_id: uuid.UUID, now: datetime
) -> Loaded:
    """Start: every start gate must hold (eligibility now, pre-vitals gates with the repeat and
    acknowledgement, checklist, weight window, minimum interval, course, pre CADSS), else 409
    listing each blocker. Creates dose order v1 from the dose engine with the pinned protocol,
    the first rate segment, and freezes the baseline. Audited as SESSION_STARTED."""
    loaded = await load(db, clinic_id=principal.clinic_id, session_id=session_id, for_update=True)
    require_legal(loaded, SessionEvent.START)
    inputs = await start_inputs(db, loaded, now)
    row, protocol = loaded.row, loaded.protocol
    await apply_event(
        db,
        loaded,
        SessionEvent.START,
        principal=principal,
        now=now,
        start=inputs,
        details={"infusion_number": len(inputs.previous_infusion_starts) + 1},
    )
    assert inputs.weight is not None  # a missing weight is a start blocker
    try:
        dose = calculate_dose(
            protocol.dosing, inputs.weight, now, mg_per_kg=Decimal(row.ordered_mg_per_kg)
        )
    except DoseRefused as exc:
        raise Conflict(f"dose refused: {exc.message}") from exc
    row.infusion_number = len(inputs.previous_infusion_starts) + 1
    assessment = assess_pre_vitals(
        protocol.pre_session,
        inputs.pre_vitals,
        heart_rate_sources=protocol.alarms.heart_rate_sources,
    )
    if assessment.in_force is not None:
        vitals = assessment.in_force.readings
        hr_sources = protocol.alarms.heart_rate_sources
        row.baseline_taken_at = assessment.in_force.taken_at
        row.baseline_sbp_mmhg = vitals.get(Metric.SBP)
        row.baseline_dbp_mmhg = vitals.get(Metric.DBP)
        row.baseline_hr_bpm = next((vitals[s] for s in hr_sources if s in vitals), None)
        row.baseline_spo2_pct = vitals.get(Metric.SPO2)
        row.baseline_rr_per_min = vitals.get(Metric.RR)
    repo = SessionRepository(db)
    order = SessionDoseOrder(
        id=uuid.uuid4(),
        session_id=row.id,
        version=1,
        mg_per_kg=dose.mg_per_kg,
        weight_kg=dose.weight_kg,
        weight_measured_at=dose.weight_measured_at,
        minutes=dose.minutes,
        dose_mg=dose.dose_mg,
        rate_mg_per_h=dose.rate_mg_per_h,
        rate_ml_per_h=dose.rate_ml_per_h,
        volume_ml=dose.volume_ml,
        concentration_mg_per_ml=dose.concentration_mg_per_ml,
        ordered_at=now,
        ordered_by=row.ordered_by,
        reason=row.proposal_reason,
    )
    repo.add(order)
    repo.add(_new_segment(loaded, 1, dose.rate_mg_per_h, principal, now, "start"))
    await repo.flush()
    return loaded


async def _running(db: AsyncSession, principal: Principal, session_id: uuid.UUID) -> Loaded:
    return await load(db, clinic_id=principal.clinic_id, session_id=session_id, for_update=True)


async def pause_infusion(
    db: AsyncSession,
    *,
    principal: Principal,
    session_id: uuid.UUID,
    reason: str | None,
    now: datetime,
) -> Loaded:
    """Pause: the running segment ends now. Audited as SESSION_PAUSED."""
    loaded = await _running(db, principal, session_id)
    await apply_event(db, loaded, SessionEvent.PAUSE, principal=principal, now=now, reason=reason)
    repo = SessionRepository(db)
    running = open_segment(await repo.segments(loaded.row.id))
    if running is not None:
        running.end_at = now
    await repo.flush()
    return loaded


async def resume_infusion(
    db: AsyncSession,
    *,
    principal: Principal,
    session_id: uuid.UUID,
    reason: str | None,
    now: datetime,
) -> Loaded:
    """Resume at the rate in force before the pause. Audited as SESSION_RESUMED."""
    loaded = await _running(db, principal, session_id)
    await apply_event(db, loaded, SessionEvent.RESUME, principal=principal, now=now, reason=reason)
    repo = SessionRepository(db)
    segments = await repo.segments(loaded.row.id)
    rate = Decimal(segments[-1].rate_mg_per_h)
    repo.add(_new_segment(loaded, len(segments) + 1, rate, principal, now, reason or "resume"))
    await repo.flush()
    return loaded


async def change_rate(
    db: AsyncSession,
    *,
    principal: Principal,
    session_id: uuid.UUID,
    rate_mg_per_h: Decimal,
    reason: str,
    now: datetime,
) -> Loaded:
    """A new pump rate. Up to the current order's rate anyone clinical may set it; above it
    only a physician (403 for a nurse), whose change is a new immutable order version with the
    reason. Audited as SESSION_RATE_CHANGED."""
    loaded = await _running(db, principal, session_id)
    require_legal(loaded, SessionEvent.CHANGE_RATE)
    repo = SessionRepository(db)
    orders = await repo.orders(loaded.row.id)
    order = current_order(orders)
    assert order is not None  # infusing implies an order
    new_order = None
    if rate_mg_per_h > order.rate_mg_per_h:
        if principal.role is not Role.PHYSICIAN:
            raise Forbidden(
                f"{rate_mg_per_h} mg/h is above the physician's order of {order.rate_mg_per_h} "
                "mg/h: a nurse may pause or reduce, never increase; a physician orders it"
            )
        concentration = Decimal(order.concentration_mg_per_ml)
        new_order = SessionDoseOrder(
            id=uuid.uuid4(),
            session_id=loaded.row.id,
            version=order.version + 1,
            mg_per_kg=order.mg_per_kg,
            weight_kg=order.weight_kg,
            weight_measured_at=order.weight_measured_at,
            minutes=order.minutes,
            dose_mg=order.dose_mg,
            rate_mg_per_h=rate_mg_per_h,
            rate_ml_per_h=round_tenth(rate_mg_per_h / concentration),
            volume_ml=order.volume_ml,
            concentration_mg_per_ml=concentration,
            ordered_at=now,
            ordered_by=_who(principal),
            reason=reason,
        )
    await apply_event(
        db,
        loaded,
        SessionEvent.CHANGE_RATE,
        principal=principal,
        now=now,
        reason=reason,
        details={
            "rate_mg_per_h": str(rate_mg_per_h),
            "order_version": order.version if new_order is None else new_order.version,
        },
    )
    if new_order is not None:
        repo.add(new_order)
    segments = await repo.segments(loaded.row.id)
    running = open_segment(segments)
    if running is not None:
        running.end_at = now
    repo.add(_new_segment(loaded, len(segments) + 1, rate_mg_per_h, principal, now, reason))
    await repo.flush()
    return loaded


async def stop_infusion(
    db: AsyncSession, *, principal: Principal, session_id: uuid.UUID, reason: str, now: datetime
) -> Loaded:
    """Stop early (reason required): the running segment ends; the patient goes to recovery
    observation in state stopped. Audited as SESSION_STOPPED."""
    loaded = await _running(db, principal, session_id)
    await apply_event(db, loaded, SessionEvent.STOP, principal=principal, now=now, reason=reason)
    repo = SessionRepository(db)
    running = open_segment(await repo.segments(loaded.row.id))
    if running is not None:
        running.end_at = now
    await repo.flush()
    return loaded


async def complete_infusion(
    db: AsyncSession, *, principal: Principal, session_id: uuid.UUID, now: datetime
) -> Loaded:
    """Complete (→ recovery) only when the ordered dose is delivered by the server's figure
    from the segments; otherwise 409 with the figure. Audited as SESSION_COMPLETED."""
    loaded = await _running(db, principal, session_id)
    require_legal(loaded, SessionEvent.COMPLETE)
    repo = SessionRepository(db)
    segments = await repo.segments(loaded.row.id)
    progress = progress_of(current_order(await repo.orders(loaded.row.id)), segments, now)
    assert progress is not None  # infusing or paused implies an order
    await apply_event(
        db,
        loaded,
        SessionEvent.COMPLETE,
        principal=principal,
        now=now,
        progress=progress,
        details={"delivered_mg": str(progress.delivered_mg)},
    )
    running = open_segment(segments)
    if running is not None:
        running.end_at = now
    await repo.flush()
    return loaded
