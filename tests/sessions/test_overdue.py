"""Overdue checkpoints become `checkpoint_overdue` events on the session stream, once each
(issue 5 point 7; issue 7 point 9: any number of scheduler instances, restarts lose nothing)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.main import create_app
from app.realtime.models import Event
from app.sessions.models import CheckpointNotice, InfusionSession
from app.sessions.service import publish_overdue_checkpoints
from tests.conftest import TEST_SECRET
from tests.fixtures.clock import FakeClock
from tests.fixtures.factories import (
    make_approved_protocol,
    make_chair,
    make_clinic,
    make_device,
    make_eligible_patient,
    make_user,
)
from tests.fixtures.sessions import CADSS_ZERO, DISCHARGE_OK, Flow, vitals_check

OVERDUE = "checkpoint_overdue"


async def overdue_events(db: AsyncSession, session_id: str) -> list[Event]:
    stmt = (
        select(Event)
        .where(Event.session_id == uuid.UUID(session_id), Event.type == OVERDUE)
        .order_by(Event.seq)
    )
    return list((await db.scalars(stmt)).all())


def for_checkpoint(events: list[Event], checkpoint_id: str) -> list[Event]:
    return [e for e in events if e.payload["checkpoint_id"] == checkpoint_id]


class TestPublishOverdueCheckpoints:
    async def test_overdue_bp_is_announced_once_then_again_for_the_next_due_time(
        self, flow: Flow, db, patient, chair, monitor
    ):
        session_id = await flow.started(patient, chair, monitor)
        started = flow.clock.now()
        flow.clock.advance(minutes=12)
        # Due at 10 min, overdue after 12 min: not yet at exactly 12.
        # (bprs_plus_pre, not recorded at check-in, is overdue from the start.)
        first = await publish_overdue_checkpoints(db, flow.clock.now())
        assert for_checkpoint(await overdue_events(db, session_id), "nibp_infusing") == []

        flow.clock.advance(minutes=1)
        assert await publish_overdue_checkpoints(db, flow.clock.now()) == 1
        events = await overdue_events(db, session_id)
        assert len(events) == first + 1
        [bp] = for_checkpoint(events, "nibp_infusing")
        assert bp.stream == f"session:{session_id}"
        assert bp.payload == {
            "checkpoint_id": "nibp_infusing",
            "item": "nibp",
            "due_at": (started + timedelta(minutes=10)).isoformat(),
            "overdue_at": (started + timedelta(minutes=12)).isoformat(),
        }
        # The session view shows the same checkpoint as overdue.
        view = {c["checkpoint_id"]: c for c in (await flow.get(session_id))["checkpoints"]}
        assert view["nibp_infusing"]["state"] == "overdue"
        assert {e.payload["checkpoint_id"] for e in events} == {
            c for c, v in view.items() if v["state"] == "overdue"
        }

        flow.clock.advance(seconds=30)
        assert await publish_overdue_checkpoints(db, flow.clock.now()) == 0
        assert len(await overdue_events(db, session_id)) == len(events)

        r = await flow.post(f"/{session_id}/vitals-check", vitals_check(flow.clock.now()))
        assert r.status_code == 200, r.text
        checked = flow.clock.now()
        flow.clock.advance(minutes=12, seconds=1)
        assert await publish_overdue_checkpoints(db, flow.clock.now()) == 1
        bps = for_checkpoint(await overdue_events(db, session_id), "nibp_infusing")
        assert [e.payload["due_at"] for e in bps] == [
            (started + timedelta(minutes=10)).isoformat(),
            (checked + timedelta(minutes=10)).isoformat(),
        ]
        notices = (
            await db.scalars(
                select(CheckpointNotice).where(
                    CheckpointNotice.session_id == uuid.UUID(session_id),
                    CheckpointNotice.checkpoint_id == "nibp_infusing",
                )
            )
        ).all()
        assert sorted(n.due_at for n in notices) == [
            started + timedelta(minutes=10),
            checked + timedelta(minutes=10),
        ]

    async def test_a_checkpoint_done_in_time_is_not_announced(
        self, flow: Flow, db, patient, chair, monitor
    ):
        session_id = await flow.started(patient, chair, monitor)
        flow.clock.advance(minutes=9)
        await flow.post(f"/{session_id}/vitals-check", vitals_check(flow.clock.now()))
        flow.clock.advance(minutes=12)
        await publish_overdue_checkpoints(db, flow.clock.now())
        assert for_checkpoint(await overdue_events(db, session_id), "nibp_infusing") == []

    async def test_a_discharged_session_gets_none(self, flow: Flow, db, patient, chair, monitor):
        session_id = await flow.in_recovery(patient, chair, monitor)
        flow.clock.advance(minutes=60)
        await flow.post(f"/{session_id}/vitals-check", vitals_check(flow.clock.now()))
        await flow.post(
            f"/{session_id}/scales/cadss",
            {"answers": CADSS_ZERO, "checkpoint_id": "cadss_discharge"},
        )
        r = await flow.post(f"/{session_id}/discharge", DISCHARGE_OK, headers=flow.physician)
        assert r.status_code == 200, r.text
        flow.clock.advance(hours=2)
        assert await publish_overdue_checkpoints(db, flow.clock.now()) == 0
        assert await overdue_events(db, session_id) == []

    async def test_a_session_that_cannot_be_shown_does_not_stop_the_others(
        self, flow: Flow, db, clinic, patient, chair, monitor
    ):
        broken = await flow.started(patient, chair, monitor)
        other_chair = await make_chair(db, clinic)
        other_monitor, _ = await make_device(db, clinic, other_chair)
        other = await flow.started(
            await make_eligible_patient(db, clinic, now=flow.clock.now()),
            other_chair,
            other_monitor,
        )
        await db.execute(
            update(InfusionSession)
            .where(InfusionSession.id == uuid.UUID(broken))
            .values(protocol_sha256="0" * 64)
        )
        flow.clock.advance(minutes=13)
        assert await publish_overdue_checkpoints(db, flow.clock.now()) > 0
        assert await overdue_events(db, broken) == []
        assert for_checkpoint(await overdue_events(db, other), "nibp_infusing") != []


@pytest.fixture
async def real_app(
    migrated_url: str,
) -> AsyncIterator[tuple[httpx.AsyncClient, FakeClock, Settings]]:
    """The app on its own committed database, with real transactions per request."""
    settings = Settings(
        env="test", database_url=migrated_url, secret_key=TEST_SECRET, scheduler_enabled=False
    )
    clock = FakeClock()
    application = create_app(settings, clock=clock)
    transport = httpx.ASGITransport(app=application, client=("203.0.113.10", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client, clock, settings
    await application.state.engine.dispose()


@pytest.mark.postgres
async def test_two_concurrent_runs_announce_each_checkpoint_once(real_app, migrated_url):
    client, clock, settings = real_app
    engine = create_engine(settings, migrated_url)
    sessionmaker = create_sessionmaker(engine)
    try:
        async with sessionmaker() as db, db.begin():
            clinic_ = await make_clinic(db)
            protocol_ = await make_approved_protocol(db, clinic_)
            users = (
                await make_user(db, clinic_, "nurse"),
                await make_user(db, clinic_, "physician"),
            )
            seats = []
            for _ in range(3):
                chair_ = await make_chair(db, clinic_)
                device, _key = await make_device(db, clinic_, chair_)
                seats.append((await make_eligible_patient(db, clinic_), chair_, device))
        runner = Flow(client, clock, users, settings, protocol_)
        session_ids = [await runner.started(p, c, d) for p, c, d in seats]
        clock.advance(minutes=13)
        now: datetime = clock.now()

        async def run() -> int:
            async with sessionmaker() as db, db.begin():
                return await publish_overdue_checkpoints(db, now)

        counts = await asyncio.gather(run(), run())
        async with sessionmaker() as db:
            events = (await db.scalars(select(Event).where(Event.type == OVERDUE))).all()
            notices = (await db.scalars(select(CheckpointNotice))).all()
        keys = [(e.session_id, e.payload["checkpoint_id"], e.payload["due_at"]) for e in events]
        assert len(keys) == len(set(keys))
        assert sum(counts) == len(events) == len(notices)
        for session_id in session_ids:
            assert (uuid.UUID(session_id), "nibp_infusing") in {(k[0], k[1]) for k in keys}
        assert await asyncio.gather(run(), run()) == [0, 0]
    finally:
        await engine.dispose()
