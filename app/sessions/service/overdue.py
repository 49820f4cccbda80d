"""Overdue checkpoints become events for the live board (issue 5 point 7), once each.

A scheduler job (`app.core.scheduler`): it runs in every app instance, so each announcement is
claimed first with a unique-keyed `checkpoint_notice` row and the event is written only by the
transaction whose claim inserted it.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import AppError
from app.realtime import service as realtime_service
from app.realtime.service import NewEvent
from app.sessions.domain import CheckpointState
from app.sessions.repository import CheckpointNoticeRepository
from app.sessions.service.common import load
from app.sessions.service.views import checkpoint_statuses

log = structlog.get_logger(__name__)

CHECKPOINT_OVERDUE = "checkpoint_overdue"


async def publish_overdue_checkpoints(db: AsyncSession, now: datetime) -> int:
    """Announce every newly overdue checkpoint of every active session (all clinics).

    The statuses are the session view's (`checkpoint_statuses`), so board and session agree.
    Side effects: per (session, checkpoint id, due time), once across instances and restarts,
    a `checkpoint_notice` row and a `checkpoint_overdue` event on the session's stream
    (payload: checkpoint_id, item, due_at, overdue_at). Returns how many were announced.
    """
    repo = CheckpointNoticeRepository(db)
    announced = 0
    for clinic_id, session_id in await repo.active_sessions():
        try:
            statuses = await checkpoint_statuses(
                db, await load(db, clinic_id=clinic_id, session_id=session_id), now
            )
        except AppError as exc:
            # A session that cannot be shown (e.g. its protocol no longer matches its pinned
            # hash) must not keep the others from being announced.
            log.warning(
                "overdue_checkpoints_skipped_session", session_id=str(session_id), error=str(exc)
            )
            continue
        events: list[NewEvent] = []
        for checkpoint in statuses:
            if (
                checkpoint.state != CheckpointState.OVERDUE
                or checkpoint.due_at is None
                or checkpoint.overdue_at is None
            ):
                continue
            if await repo.claim(session_id, checkpoint.checkpoint_id, checkpoint.due_at, now=now):
                events.append(
                    NewEvent(
                        type=CHECKPOINT_OVERDUE,
                        session_id=session_id,
                        payload={
                            "checkpoint_id": checkpoint.checkpoint_id,
                            "item": checkpoint.item,
                            "due_at": checkpoint.due_at.isoformat(),
                            "overdue_at": checkpoint.overdue_at.isoformat(),
                        },
                    )
                )
        if events:
            await realtime_service.append(db, clinic_id=clinic_id, events=events, now=now)
            announced += len(events)
    return announced
