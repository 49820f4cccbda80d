"""Monitoring windows of the sessions on a chair, for routing readings (DESIGN §6)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.sessions.repository import MonitoringWindowQueries
from app.vitals.domain import SessionWindow


async def monitoring_windows(
    db: AsyncSession, *, chair_id: uuid.UUID, start: datetime, end: datetime
) -> list[SessionWindow]:
    """Windows (check-in to discharge or cancel) that overlap [start, end] on the chair."""
    rows = await MonitoringWindowQueries(db).on_chair(chair_id, start=start, end=end)
    return [SessionWindow(str(session_id), begin, until) for session_id, begin, until in rows]
