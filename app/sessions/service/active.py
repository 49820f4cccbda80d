"""Which sessions are being monitored now, for the timed jobs of other domains."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.sessions.repository import CheckpointNoticeRepository


async def active_sessions(db: AsyncSession) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(clinic id, session id) of every checked-in to recovery session, in session id order."""
    return await CheckpointNoticeRepository(db).active_sessions()
