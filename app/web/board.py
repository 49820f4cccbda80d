"""What a board tile shows beyond the socket's snapshot: chair and monitor names, the patient's
initials, infusion n of N, the order (minutes, dose, mL/h), checkpoints and recent trends.

Read-only, staff of the caller's clinic, cookie or bearer. The board fetches it when it builds
its tiles and again when a session changes state or a checkpoint becomes overdue."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import AnyStaff
from app.clinics import service as clinics_service
from app.core.config import Settings
from app.core.db import SessionDep
from app.core.deps import ClockDep, SettingsDep
from app.core.errors import AppError
from app.devices import service as devices_service
from app.patients import service as patients_service
from app.realtime.snapshot import active_session_ids
from app.sessions import service as sessions_service
from app.vitals import service as vitals_service

router = APIRouter(include_in_schema=False)

TREND_WINDOW = timedelta(minutes=15)
TREND_POINTS = 120  # per metric, after thinning


def _thin(points: list[tuple[str, float]]) -> list[tuple[str, float]]:
    if len(points) <= TREND_POINTS:
        return points
    step = len(points) / TREND_POINTS
    kept = [points[int(i * step)] for i in range(TREND_POINTS - 1)]
    return [*kept, points[-1]]


async def _trends(db: AsyncSession, session_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    since = now - TREND_WINDOW
    series: dict[str, list[tuple[str, float]]] = {}
    for row in await vitals_service.session_readings(db, session_id):
        if row.excluded_at is None and row.observed_at >= since:
            series.setdefault(row.metric, []).append((row.observed_at.isoformat(), row.value))
    return {metric: _thin(points) for metric, points in series.items()}


def _ml_per_h(rate_mg_per_h: Decimal, concentration: Decimal) -> float | None:
    if concentration <= 0:
        return None
    return float(round(rate_mg_per_h / concentration, 1))


async def tile(
    db: AsyncSession, clinic_id: uuid.UUID, session_id: uuid.UUID, now: datetime
) -> dict[str, Any]:
    view = await sessions_service.get_session(
        db, clinic_id=clinic_id, session_id=session_id, now=now
    )
    chair = await clinics_service.get_chair(db, clinic_id, view.chair_id)
    monitor: str | None = None
    if view.device_id is not None:
        try:
            monitor = (await devices_service.get_device(db, clinic_id, view.device_id)).name
        except AppError:
            monitor = None
    order = view.order
    rate_ml = None
    if order is not None:
        current = view.progress.current_rate_mg_per_h if view.progress else order.rate_mg_per_h
        rate_ml = _ml_per_h(current, order.concentration_mg_per_ml)
    return {
        "session_id": str(view.id),
        "chair_id": str(view.chair_id),
        "chair_name": chair.name,
        "initials": await patients_service.initials_of(
            db, clinic_id=clinic_id, patient_id=view.patient_id
        ),
        "state": view.state,
        "infusion_number": view.infusion_number,
        "planned_infusions": view.planned_infusions,
        "monitor": monitor,
        "planned_minutes": None if order is None else order.minutes,
        "ordered_dose_mg": None if order is None else float(order.dose_mg),
        "rate_ml_per_h": rate_ml,
        "concentration_mg_per_ml": None if order is None else float(order.concentration_mg_per_ml),
        "progress": None if view.progress is None else view.progress.model_dump(mode="json"),
        "checkpoints": [c.model_dump(mode="json") for c in view.checkpoints],
        "trends": await _trends(db, view.id, now),
    }


async def board_tiles(
    db: AsyncSession,
    clinic_id: uuid.UUID,
    *,
    settings: Settings,
    now: datetime,
    session_ids: list[uuid.UUID] | None = None,
) -> dict[str, Any]:
    ids = session_ids if session_ids else await active_session_ids(db, clinic_id, settings)
    return {
        "at": now.isoformat(),
        "tiles": [await tile(db, clinic_id, session_id, now) for session_id in ids],
    }


@router.get("/board/tiles")
async def board_tiles_json(
    principal: AnyStaff,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    session: Annotated[list[uuid.UUID] | None, Query()] = None,
) -> dict[str, Any]:
    return await board_tiles(
        db, principal.clinic_id, settings=settings, now=clock.now(), session_ids=session
    )
