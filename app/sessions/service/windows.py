"""Monitoring windows of the sessions on a chair, for routing readings (DESIGN §6)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.sessions.repository import MonitoringWindowQueries
from app.vitals.domain import SessionWindow


async def monitoring_windows(
    db: AsyncSession, *, chair_ids: Sequence[uuid.UUID], start: datetime, end: datetime
) -> dict[uuid.UUID, list[SessionWindow]]:
    """Per chair, the windows (check-in to discharge or cancel) that overlap [start, end]."""
    rows = await MonitoringWindowQueries(db).on_chairs(chair_ids, start=start, end=end)
    return {
        chair_id: [
            SessionWindow(str(session_id), begin, until) for session_id, begin, until in found
        ]
        for chair_id, found in rows.items()
    }
