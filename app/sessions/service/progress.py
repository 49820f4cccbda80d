"""Dose progress for the live board: a ``dose_progress`` event per infusing session at most every
10 s (a scheduler job; once across instances because each is claimed in `dose_progress_mark`)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import AppError
from app.realtime import service as realtime_service
from app.realtime.service import NewEvent
from app.sessions.domain import SessionState
from app.sessions.repository import (
    CheckpointNoticeRepository,
    DoseProgressMarks,
    SessionRepository,
)
from app.sessions.service.common import current_order, load_pinned, progress_of

log = structlog.get_logger(__name__)

DOSE_PROGRESS = "dose_progress"
PROGRESS_INTERVAL = timedelta(seconds=10)
_TENTH = Decimal("0.1")


async def publish_dose_progress(db: AsyncSession, now: datetime) -> int:
    """Append ``dose_progress`` (minutes infused, mg delivered of ordered, current mg/h and mL/h,
    remaining minutes) for every infusing session whose last one is 10 s old or more.
    Returns how many were written. A fixed number of queries for any number of sessions."""
    active = [sid for _, sid in await CheckpointNoticeRepository(db).active_sessions()]
    pinned = await load_pinned(db, active, strict=False)
    infusing = []
    for session_id, found in pinned.items():
        if isinstance(found, AppError):
            log.warning(
                "dose_progress_skipped_session", session_id=str(session_id), error=str(found)
            )
        elif found.row.state == SessionState.INFUSING.value:
            infusing.append(found.row)
    repo = SessionRepository(db)
    ids = [row.id for row in infusing]
    orders = await repo.orders_of(ids)
    segments = await repo.segments_of(ids)
    events: list[tuple[uuid.UUID, NewEvent]] = []
    for row in infusing:
        order = current_order(orders.get(row.id, []))
        progress = progress_of(order, segments.get(row.id, []), now)
        if order is None or progress is None:
            continue
        rate_ml = (
            progress.current_rate_mg_per_h / Decimal(order.concentration_mg_per_ml)
        ).quantize(_TENTH)
        event = NewEvent(
            type=DOSE_PROGRESS,
            session_id=row.id,
            payload={
                "minutes_infused": str(progress.minutes_infused),
                "delivered_mg": str(progress.delivered_mg),
                "ordered_dose_mg": str(progress.ordered_dose_mg),
                "current_rate_mg_per_h": str(progress.current_rate_mg_per_h),
                "current_rate_ml_per_h": str(rate_ml),
                "remaining_minutes": None
                if progress.remaining_minutes is None
                else str(progress.remaining_minutes),
                "at": now.isoformat(),
            },
        )
        events.append((row.clinic_id, event))
    claimed = await DoseProgressMarks(db).claim(
        [event.session_id for _, event in events if event.session_id is not None],
        now=now,
        interval=PROGRESS_INTERVAL,
    )
    due = [(clinic_id, event) for clinic_id, event in events if event.session_id in claimed]
    await realtime_service.append_many(db, due, now=now)
    return len(due)
