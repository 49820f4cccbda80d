"""The periodic runner (issue 7 point 9): jobs in their own transactions with the app clock, a
failing job logged and rolled back without stopping the others, started and stopped by the
app's lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from structlog.testing import capture_logs

from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.core.scheduler import Job, Scheduler
from app.jobs import jobs
from app.main import create_app
from app.realtime.models import EventStream
from tests.conftest import TEST_SECRET
from tests.fixtures.clock import FakeClock


@pytest.fixture
async def own_sessionmaker(migrated_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(Settings(env="test", database_url=migrated_url))
    yield create_sessionmaker(engine)
    await engine.dispose()


class Recorder:
    def __init__(self) -> None:
        self.calls: list[datetime] = []

    async def ok(self, db: AsyncSession, now: datetime) -> int:
        assert db.in_transaction()
        self.calls.append(now)
        return 1

    async def broken(self, db: AsyncSession, now: datetime) -> int:
        db.add(EventStream(stream="scheduler-test", last_seq=1))
        await db.flush()
        raise RuntimeError("boom")


def test_interval_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        Scheduler(async_sessionmaker(), FakeClock(), [], interval_s=0)


async def test_run_once_runs_each_job_with_the_clock_and_rolls_back_a_failure(own_sessionmaker):
    clock, rec = FakeClock(), Recorder()
    scheduler = Scheduler(
        own_sessionmaker,
        clock,
        [Job("broken", rec.broken), Job("ok", rec.ok)],
        interval_s=1,
    )
    with capture_logs() as logs:
        assert await scheduler.run_once() == {"broken": None, "ok": 1}
    assert rec.calls == [clock.now()]
    failed = [e for e in logs if e["event"] == "scheduler_job_failed"]
    assert [e["job"] for e in failed] == ["broken"]
    assert failed[0]["log_level"] == "error"
    assert failed[0]["exc_info"] is True
    async with own_sessionmaker() as db:
        assert (
            await db.scalar(select(EventStream).where(EventStream.stream == "scheduler-test"))
            is None
        )


async def test_the_loop_keeps_running_the_other_jobs_after_a_failure(own_sessionmaker):
    clock, rec = FakeClock(), Recorder()
    scheduler = Scheduler(
        own_sessionmaker,
        clock,
        [Job("broken", rec.broken), Job("ok", rec.ok)],
        interval_s=0.02,
    )
    with capture_logs() as logs:
        scheduler.start()
        scheduler.start()  # idempotent
        assert scheduler.running
        for _ in range(90):  # under a second, however loaded the machine
            await asyncio.sleep(0.01)
            failed = [e for e in logs if e["event"] == "scheduler_job_failed"]
            if len(rec.calls) >= 3 and len(failed) >= 3:
                break
        await scheduler.stop()
    assert not scheduler.running
    failures = [e for e in logs if e["event"] == "scheduler_job_failed"]
    assert len(failures) >= 3
    assert len(rec.calls) >= 3
    assert abs(len(rec.calls) - len(failures)) <= 1
    assert [e["event"] for e in logs][-1] == "scheduler_stopped"
    await scheduler.stop()  # stopping twice is harmless


async def test_a_job_runs_on_every_nth_tick_of_the_loop_and_always_when_run_by_hand(
    own_sessionmaker,
):
    ran: list[str] = []

    def job(name: str):
        async def run(db: AsyncSession, now: datetime) -> int:
            ran.append(name)
            return 0

        return run

    scheduler = Scheduler(
        own_sessionmaker,
        FakeClock(),
        [Job("often", job("often")), Job("rarely", job("rarely"), every=3)],
        interval_s=1,
    )
    for tick in range(7):
        await scheduler.run_once(tick)
    assert ran.count("often") == 7
    assert ran.count("rarely") == 3  # ticks 0, 3 and 6
    ran.clear()
    assert set(await scheduler.run_once()) == {"often", "rarely"}
    with pytest.raises(ValueError, match="every"):
        Job("never", job("never"), every=0)


def app_settings(url: str, **changes: object) -> Settings:
    return Settings(env="test", database_url=url, secret_key=TEST_SECRET, **changes)  # type: ignore[arg-type]


class TestLifespan:
    async def test_starts_and_stops_the_scheduler_with_the_registered_jobs(self, migrated_url):
        settings = app_settings(migrated_url, scheduler_interval_s=0.02)
        app = create_app(settings, clock=FakeClock())
        scheduler: Scheduler = app.state.scheduler
        with capture_logs() as logs:
            async with app.router.lifespan_context(app):
                assert scheduler.running
                await asyncio.sleep(0.2)
        assert not scheduler.running
        events = [e["event"] for e in logs]
        assert "scheduler_started" in events
        assert "scheduler_stopped" in events
        assert "scheduler_job_failed" not in events
        started = next(e for e in logs if e["event"] == "scheduler_started")
        assert started["jobs"] == [job.name for job in jobs(settings)]
        assert "publish_overdue_checkpoints" in started["jobs"]

    async def test_disabled_keeps_it_off(self, migrated_url):
        app = create_app(app_settings(migrated_url, scheduler_enabled=False))
        async with app.router.lifespan_context(app):
            assert not app.state.scheduler.running
        assert not app.state.scheduler.running


def test_settings_from_the_environment(monkeypatch):
    assert Settings(_env_file=None).scheduler_enabled is True  # type: ignore[call-arg]
    assert Settings(_env_file=None).scheduler_interval_s == 5  # type: ignore[call-arg]
    monkeypatch.setenv("APP_SCHEDULER_ENABLED", "false")
    monkeypatch.setenv("APP_SCHEDULER_INTERVAL_S", "0.5")
    s = Settings()
    assert (s.scheduler_enabled, s.scheduler_interval_s) == (False, 0.5)


async def test_stopping_during_a_job_whose_driver_converts_the_cancellation(own_sessionmaker):
    started = asyncio.Event()

    async def converting(db: AsyncSession, now: datetime) -> int:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise RuntimeError("connection closed while cancelling") from None
        return 0

    scheduler = Scheduler(
        own_sessionmaker, FakeClock(), [Job("converting", converting)], interval_s=0.01
    )
    with capture_logs() as logs:
        scheduler.start()
        await asyncio.wait_for(started.wait(), timeout=5)
        await asyncio.wait_for(scheduler.stop(), timeout=5)
    assert not scheduler.running
    events = [e["event"] for e in logs]
    assert "scheduler_job_failed" not in events
    assert events[-1] == "scheduler_stopped"
