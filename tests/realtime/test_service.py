"""Board presence and the dose-progress job (service level, rolled-back database)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.realtime import service as realtime_service
from app.realtime.models import Event
from app.sessions.service.progress import publish_dose_progress
from tests.fixtures.factories import NOW, make_clinic


async def test_boards_connected_needs_a_fresh_row_with_boards(db) -> None:
    clinic = await make_clinic(db)
    assert not await realtime_service.boards_connected(db, clinic.id, NOW)
    await realtime_service.record_presence(db, instance_id="a", boards={clinic.id: 0}, now=NOW)
    assert not await realtime_service.boards_connected(db, clinic.id, NOW)
    await realtime_service.record_presence(db, instance_id="b", boards={clinic.id: 2}, now=NOW)
    assert await realtime_service.boards_connected(db, clinic.id, NOW + timedelta(seconds=29))
    assert not await realtime_service.boards_connected(db, clinic.id, NOW + timedelta(seconds=31))


async def test_dose_progress_at_most_every_10_s(db, flow, patient, chair, monitor, clock) -> None:
    session_id = await flow.started(patient, chair, monitor)
    clock.advance(minutes=4)
    assert await publish_dose_progress(db, clock.now()) == 1
    assert await publish_dose_progress(db, clock.now() + timedelta(seconds=9)) == 0
    assert await publish_dose_progress(db, clock.now() + timedelta(seconds=10)) == 1
    rows = (
        await db.scalars(select(Event).where(Event.type == "dose_progress").order_by(Event.seq))
    ).all()
    assert [str(r.session_id) for r in rows] == [session_id] * 2
    assert rows[0].payload["minutes_infused"] == "4.0"
    assert rows[0].payload["current_rate_ml_per_h"]
