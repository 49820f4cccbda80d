"""Two app instances run the scheduler at the same moment on one PostgreSQL database (issue 7
point 9, acceptance): every escalation, notification and technical alarm happens once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from app.alerts.models import Alarm
from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.core.scheduler import Job, Scheduler
from app.jobs import jobs
from app.main import create_app
from app.notifications.models import NotificationDelivery
from app.realtime.models import Event
from tests.alerts.test_api import post_readings, spo2_run
from tests.conftest import TEST_SECRET
from tests.fixtures.clock import FakeClock
from tests.fixtures.factories import (
    device_auth,
    make_approved_protocol,
    make_chair,
    make_clinic,
    make_device,
    make_eligible_patient,
    make_user,
)
from tests.fixtures.sessions import Flow

SECRET = "webhook-secret-for-tests"
TECHNICAL_EPISODES = {
    "technical:no_data_spo2",
    "technical:no_data_hr",
    "technical:device_offline",
    "technical:no_board",
}


@pytest.fixture
def settings_(migrated_url: str, receiver) -> Settings:
    return Settings(
        env="test",
        database_url=migrated_url,
        secret_key=TEST_SECRET,
        scheduler_enabled=False,
        notification_webhook_urls=[receiver.url("pager"), receiver.url("sms")],
        notification_secret=SECRET,
        notification_timeout_s=2.0,
    )


@pytest.fixture
async def real_app(settings_: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, FakeClock]]:
    """The app on its own committed database, with real transactions per request."""
    clock = FakeClock()
    application = create_app(settings_, clock=clock)
    transport = httpx.ASGITransport(app=application, client=("203.0.113.10", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client, clock
    await application.state.engine.dispose()


async def run_everywhere(
    mode: str, instances: list[Scheduler], makers, settings: Settings, clock: FakeClock
) -> Counter[str]:
    """Run every job on both instances at once; how many things each job did in total.

    "scheduler": two whole scheduler runs side by side (what two app instances do);
    "per_job": both instances inside the same job at the same moment (the tightest race).
    """
    done: Counter[str] = Counter()
    if mode == "scheduler":
        results = await asyncio.gather(*(s.run_once() for s in instances))
    else:

        async def run(maker, job: Job) -> int:
            async with maker() as db, db.begin():
                return await job.run(db, clock.now())

        results = []
        for job in jobs(settings):
            counts = await asyncio.gather(*(run(m, job) for m in makers))
            results.extend({job.name: c} for c in counts)
    for result in results:
        assert None not in result.values(), f"a job failed: {result}"
        done.update(result)
    return done


@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["scheduler", "per_job"])
async def test_two_instances_escalate_and_raise_technical_alarms_once(
    real_app, settings_: Settings, migrated_url: str, receiver, mode: str
):
    client, clock = real_app
    engines = [create_engine(settings_, migrated_url) for _ in range(2)]
    makers = [create_sessionmaker(e) for e in engines]
    try:
        async with makers[0]() as db, db.begin():
            clinic = await make_clinic(db)
            protocol = await make_approved_protocol(db, clinic)
            users = (await make_user(db, clinic, "nurse"), await make_user(db, clinic, "physician"))
            seats = []
            for _ in range(2):
                chair = await make_chair(db, clinic)
                device, key = await make_device(db, clinic, chair)
                seats.append((await make_eligible_patient(db, clinic), chair, device, key))
        flow = Flow(client, clock, users, settings_, protocol)
        t0 = clock.now()
        session_ids = [await flow.started(p, c, d) for p, c, d, _ in seats]
        # SpO2 88 held 20 s on each chair, then the monitors go silent.
        clock.set(t0 + timedelta(seconds=20))
        for _, _, _, key in seats:
            await post_readings(flow, device_auth(key), spo2_run(uuid.uuid4().hex, t0, 20))
        async with makers[0]() as db:
            high = (await db.scalars(select(Alarm))).all()
        assert sorted((a.episode, a.priority) for a in high) == [("spo2:low", "high")] * 2

        # 60 s unacknowledged, monitors silent for 60 s: everything is due at once.
        clock.set(t0 + timedelta(seconds=80))
        instances = [Scheduler(m, clock, jobs(settings_), interval_s=5) for m in makers]
        done = await run_everywhere(mode, instances, makers, settings_, clock)

        async with makers[0]() as db:
            alarms = (await db.scalars(select(Alarm))).all()
            events = (await db.scalars(select(Event).where(Event.type.like("alarm_%")))).all()
            deliveries = (await db.scalars(select(NotificationDelivery))).all()

        # Each technical alarm once, one row per episode of each session.
        episodes = Counter((str(a.session_id), a.episode) for a in alarms)
        assert set(episodes.values()) == {1}
        for session_id in session_ids:
            assert {e for s, e in episodes if s == session_id} == {"spo2:low", *TECHNICAL_EPISODES}
        technical = [a for a in alarms if a.kind == "technical"]
        assert {a.state for a in alarms} == {"active"}
        assert done["technical_alarms"] == len(technical) == 8

        # Events not doubled: one raise per alarm, one escalation per high alarm.
        per_alarm = Counter((e.payload["alarm"]["id"], e.type) for e in events)
        assert set(per_alarm.values()) == {1}
        escalated = [e for e in events if e.type == "alarm_escalated"]
        assert sorted(e.payload["alarm"]["id"] for e in escalated) == sorted(
            str(a.id) for a in high
        )
        assert done["alarm_timers"] == 2
        assert {a.id: a.escalated_at for a in alarms if a.kind == "physiological"} == {
            a.id: clock.now() for a in high
        }

        # One notification per escalation and URL, each POSTed once.
        keys = Counter((d.subject_id, d.url) for d in deliveries)
        assert set(keys.values()) == {1}
        assert len(keys) == 2 * len(settings_.notification_webhook_urls)
        assert {d.status for d in deliveries} == {"delivered"}
        sent = [r.headers["x-ketamine-delivery"] for r in receiver.requests]
        assert sorted(sent) == sorted(str(d.id) for d in deliveries)

        # A restart (or the next tick) finds nothing left to do.
        again = await run_everywhere(mode, instances, makers, settings_, clock)
        assert (again["technical_alarms"], again["alarm_timers"]) == (0, 0)
        assert len(receiver.requests) == len(deliveries)
    finally:
        for engine in engines:
            await engine.dispose()
