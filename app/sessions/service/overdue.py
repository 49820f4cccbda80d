"""Overdue checkpoints become events for the live board (issue 5 point 7), once each.

A scheduler job (`app.core.scheduler`): it runs in every app instance, so each announcement is
claimed first with a unique-keyed `checkpoint_notice` row and the event is written only by the
transaction whose claim inserted it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import AppError
from app.realtime import service as realtime_service
from app.realtime.service import NewEvent
from app.sessions.domain import CheckpointState
from app.sessions.repository import CheckpointNoticeRepository
from app.sessions.service.common import Loaded, load_many
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
    active = [sid for _, sid in await repo.active_sessions()]
    loaded: list[Loaded] = []
    for session_id, found in (await load_many(db, active)).items():
        if isinstance(found, AppError):
            # A session that cannot be shown (e.g. its protocol no longer matches its pinned
            # hash) must not keep the others from being announced.
            log.warning(
                "overdue_checkpoints_skipped_session", session_id=str(session_id), error=str(found)
            )
        else:
            loaded.append(found)
    statuses = await checkpoint_statuses(db, loaded, now)
    events: list[tuple[uuid.UUID, NewEvent]] = []
    for one in loaded:
        session_id = one.row.id
        for checkpoint in statuses[session_id]:
            if (
                checkpoint.state != CheckpointState.OVERDUE
                or checkpoint.due_at is None
                or checkpoint.overdue_at is None
            ):
                continue
            if await repo.claim(session_id, checkpoint.checkpoint_id, checkpoint.due_at, now=now):
                event = NewEvent(
                    type=CHECKPOINT_OVERDUE,
                    session_id=session_id,
                    payload={
                        "checkpoint_id": checkpoint.checkpoint_id,
                        "item": checkpoint.item,
                        "due_at": checkpoint.due_at.isoformat(),
                        "overdue_at": checkpoint.overdue_at.isoformat(),
                    },
                )
                events.append((one.row.clinic_id, event))
    await realtime_service.append_many(db, events, now=now)
    return len(events)
