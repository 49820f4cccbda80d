"""What the live board hears of a session's lifecycle: a ``session_state`` event on the
session's stream with every state change, and ``session_added`` / ``session_ended`` on the
clinic's stream, in the transaction of the change (DESIGN §8)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.realtime import service as realtime_service
from app.realtime.service import NewEvent
from app.sessions.domain import SessionEvent, SessionState
from app.sessions.models import InfusionSession

SESSION_STATE = "session_state"
SESSION_ADDED = "session_added"
SESSION_ENDED = "session_ended"
_ADDED_BY = {None, SessionEvent.CHECK_IN}
_ENDED = {str(SessionState.DISCHARGED), str(SessionState.CANCELLED)}


async def state_events(
    db: AsyncSession,
    row: InfusionSession,
    *,
    before: SessionState | None,
    event: SessionEvent | None,
    reason: str | None,
    now: datetime,
) -> None:
    """Append the board events of a state change (``event`` None: the session was scheduled)."""
    summary = {
        "session_id": str(row.id),
        "chair_id": str(row.chair_id),
        "state": row.state,
        "scheduled_for": row.scheduled_for.isoformat(),
    }
    events = [
        NewEvent(
            type=SESSION_STATE,
            session_id=row.id,
            payload={
                "state": row.state,
                "previous": None if before is None else str(before),
                "event": None if event is None else str(event),
                "reason": reason,
                "at": now.isoformat(),
            },
        )
    ]
    if event in _ADDED_BY:
        events.append(NewEvent(type=SESSION_ADDED, payload=summary))
    elif row.state in _ENDED:
        events.append(NewEvent(type=SESSION_ENDED, payload=summary))
    await realtime_service.append(db, clinic_id=row.clinic_id, events=events, now=now)
