"""Dose progress for the live board: a ``dose_progress`` event per infusing session at most every
10 s (a scheduler job; once across instances because the stream is locked before the check)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import AppError
from app.realtime import service as realtime_service
from app.realtime.service import NewEvent
from app.sessions.domain import SessionState
from app.sessions.repository import CheckpointNoticeRepository, SessionRepository
from app.sessions.service.common import current_order, load, progress_of

log = structlog.get_logger(__name__)

DOSE_PROGRESS = "dose_progress"
PROGRESS_INTERVAL = timedelta(seconds=10)
_TENTH = Decimal("0.1")


async def publish_dose_progress(db: AsyncSession, now: datetime) -> int:
    """Append ``dose_progress`` (minutes infused, mg delivered of ordered, current mg/h and mL/h,
    remaining minutes) for every infusing session whose last one is 10 s old or more.
    Returns how many were written."""
    written = 0
    for clinic_id, session_id in await CheckpointNoticeRepository(db).active_sessions():
        try:
            loaded = await load(db, clinic_id=clinic_id, session_id=session_id)
        except AppError as exc:
            log.warning("dose_progress_skipped_session", session_id=str(session_id), error=str(exc))
            continue
        if loaded.state is not SessionState.INFUSING:
            continue
        repo = SessionRepository(db)
        order = current_order(await repo.orders(session_id))
        progress = progress_of(order, await repo.segments(session_id), now)
        if order is None or progress is None:
            continue
        rate_ml = (
            progress.current_rate_mg_per_h / Decimal(order.concentration_mg_per_ml)
        ).quantize(_TENTH)
        event = NewEvent(
            type=DOSE_PROGRESS,
            session_id=session_id,
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
        if await realtime_service.append_unless_recent(
            db, clinic_id=clinic_id, event=event, now=now, min_interval=PROGRESS_INTERVAL
        ):
            written += 1
    return written
