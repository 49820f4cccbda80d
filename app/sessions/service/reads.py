"""Read-only listings for other domains (registry export and course view, issue 11): which
sessions of a clinic fall in a period or belong to a patient, in scheduled order."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.sessions.models import InfusionSession


async def session_ids(
    db: AsyncSession,
    *,
    clinic_id: uuid.UUID,
    patient_id: uuid.UUID | None = None,
    scheduled_from: datetime | None = None,
    scheduled_before: datetime | None = None,
) -> list[uuid.UUID]:
    """Ids of the clinic's sessions (optionally one patient's, optionally scheduled in
    [scheduled_from, scheduled_before)), oldest scheduled first. Unlike the board listing this
    has no page limit: the registry export needs every session of a period."""
    stmt = select(InfusionSession.id).where(InfusionSession.clinic_id == clinic_id)
    if patient_id is not None:
        stmt = stmt.where(InfusionSession.patient_id == patient_id)
    if scheduled_from is not None:
        stmt = stmt.where(InfusionSession.scheduled_for >= scheduled_from)
    if scheduled_before is not None:
        stmt = stmt.where(InfusionSession.scheduled_for < scheduled_before)
    stmt = stmt.order_by(InfusionSession.scheduled_for, InfusionSession.id)
    return list((await db.scalars(stmt)).all())
