"""The day's course reminders (issue 11 point 3): for each patient booked on a clinic day,
the course items due or overdue, for the day's schedule (the patient page uses the course
view)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.registry.schemas import DayReminders, PatientReminders
from app.registry.service.course import course_view_for
from app.sessions import service as sessions_service


async def day_reminders(
    db: AsyncSession, *, clinic_id: uuid.UUID, day: date, now: datetime, tz: ZoneInfo
) -> DayReminders:
    """Reminders (as of `now`) of every patient with a session booked on `day`, one entry per
    patient in booking order; patients with nothing due are left out."""
    start = datetime.combine(day, time(0), tz)
    ids = await sessions_service.session_ids(
        db, clinic_id=clinic_id, scheduled_from=start, scheduled_before=start + timedelta(days=1)
    )
    patients: dict[uuid.UUID, uuid.UUID] = {}
    for session_id in ids:
        read = await sessions_service.get_session(
            db, clinic_id=clinic_id, session_id=session_id, now=now
        )
        if read.state != "cancelled":
            patients.setdefault(read.patient_id, read.id)
    items = []
    for patient_id, session_id in patients.items():
        view = await course_view_for(db, clinic_id=clinic_id, patient_id=patient_id, now=now, tz=tz)
        if view.reminders:
            items.append(
                PatientReminders(
                    patient_id=patient_id,
                    session_id=session_id,
                    overdue=any(r.overdue for r in view.reminders),
                    reminders=view.reminders,
                )
            )
    return DayReminders(day=day, items=items)
