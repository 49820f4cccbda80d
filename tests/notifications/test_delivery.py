"""The delivery job POSTs signed JSON to a real receiver, retries with backoff, records every
outcome, and sends each delivery once even with two scheduler instances (issue 7 points 7, 9)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.core.scheduler import Job, Scheduler
from app.jobs import jobs
from app.notifications import service
from app.notifications.domain import verify
from app.notifications.models import NotificationDelivery
from tests.conftest import TEST_SECRET
from tests.fixtures.clock import FakeClock
from tests.fixtures.factories import make_clinic
from tests.fixtures.proxy import free_port

NOW = datetime(2026, 11, 28, 18, 50, tzinfo=UTC)
SECRET = "webhook-shared-secret"
PAYLOAD = {
    "clinic": "Oslo sentrum",
    "chair": "Chair 2",
    "patient_initials": "ØK",
    "alarm": "SpO2 88 % < 90 %",
    "priority": "high",
    "link": "https://monitor.example/sessions/1",
}


def job_settings(database_url: str, urls: list[str], max_attempts: int = 8) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        secret_key=TEST_SECRET,
        scheduler_enabled=False,
        notification_webhook_urls=urls,
        notification_secret=SECRET,
        notification_timeout_s=2.0,
        notification_max_attempts=max_attempts,
    )


async def enqueue_one(db, url: str, subject: uuid.UUID | None = None) -> uuid.UUID:
    clinic = await make_clinic(db)
    subject = subject or uuid.uuid4()
    inserted = await service.enqueue(
        db,
        urls=[url],
        clinic_id=clinic.id,
        subject_id=subject,
        kind="alarm_escalated",
        dedupe_key=f"{subject}:high",
        payload=PAYLOAD,
        now=NOW,
    )
    assert inserted == 1
    return subject


async def only_row(db, subject: uuid.UUID) -> NotificationDelivery:
    (row,) = await service.deliveries_for(db, subject)
    return row


class TestDeliver:
    async def test_posts_signed_json_once_and_records_delivery(self, db, settings, receiver):
        subject = await enqueue_one(db, receiver.url())
        job = service.delivery_job(job_settings(settings.database_url, [receiver.url()]))

        assert await job(db, NOW) == 1

        (request,) = receiver.requests
        row = await only_row(db, subject)
        assert verify(SECRET.encode(), request.body, request.headers["x-ketamine-signature"])
        assert request.headers["x-ketamine-signature"].startswith("sha256=")
        assert request.headers["x-ketamine-delivery"] == str(row.id)
        assert request.headers["x-ketamine-event"] == "alarm_escalated"
        assert request.headers["content-type"] == "application/json"
        body = json.loads(request.body)
        assert body == {
            **PAYLOAD,
            "delivery_id": str(row.id),
            "event": "alarm_escalated",
            "created_at": NOW.isoformat(),
        }
        assert (row.status, row.attempts, row.last_status_code) == ("delivered", 1, 200)
        assert row.delivered_at == NOW
        assert row.claimed_until is None
        assert row.last_error is None
        # Delivered rows are never sent again.
        assert await job(db, NOW + timedelta(hours=1)) == 0
        assert len(receiver.requests) == 1

    async def test_a_500_is_retried_after_the_backoff_then_delivered(self, db, settings, receiver):
        receiver.script = [500]
        subject = await enqueue_one(db, receiver.url())
        job = service.delivery_job(job_settings(settings.database_url, [receiver.url()]))

        assert await job(db, NOW) == 1
        row = await only_row(db, subject)
        assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 500)
        assert row.last_error == "HTTP 500 Internal Server Error"
        assert row.next_attempt_at == NOW + timedelta(seconds=5)
        assert row.claimed_until is None

        # Not due before the backoff has passed.
        assert await job(db, NOW + timedelta(seconds=4)) == 0
        assert await job(db, NOW + timedelta(seconds=5)) == 1
        row = await only_row(db, subject)
        assert (row.status, row.attempts, row.last_status_code) == ("delivered", 2, 200)
        assert row.delivered_at == NOW + timedelta(seconds=5)
        assert row.last_error is None
        first, second = receiver.requests
        # Same delivery, same bytes, same signature: receivers dedupe on the delivery id.
        assert first.body == second.body
        assert first.headers["x-ketamine-delivery"] == second.headers["x-ketamine-delivery"]
        assert first.headers["x-ketamine-signature"] == second.headers["x-ketamine-signature"]

    async def test_always_500_fails_after_max_attempts(self, db, settings, receiver):
        receiver.script = [500] * 10
        subject = await enqueue_one(db, receiver.url())
        job = service.delivery_job(job_settings(settings.database_url, [receiver.url()], 4))

        now = NOW
        delays = []
        for _ in range(4):
            assert await job(db, now) == 1
            row = await only_row(db, subject)
            delays.append((row.next_attempt_at - now).total_seconds())
            now = row.next_attempt_at
        assert delays == [5, 10, 20, 0]  # the last try leaves next_attempt_at as it was
        row = await only_row(db, subject)
        assert (row.status, row.attempts, row.last_status_code) == ("failed", 4, 500)
        assert row.delivered_at is None
        assert await job(db, now + timedelta(days=1)) == 0
        assert len(receiver.requests) == 4

    async def test_unreachable_receiver_records_the_error(self, db, settings):
        url = f"http://127.0.0.1:{free_port()}/hook"
        subject = await enqueue_one(db, url)
        job = service.delivery_job(job_settings(settings.database_url, [url]))

        assert await job(db, NOW) == 1
        row = await only_row(db, subject)
        assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, None)
        assert row.last_error is not None
        assert "ConnectError" in row.last_error
        assert row.next_attempt_at == NOW + timedelta(seconds=5)

    async def test_a_slow_receiver_times_out(self, db, settings, receiver, monkeypatch):
        subject = await enqueue_one(db, receiver.url())
        job = service.delivery_job(job_settings(settings.database_url, [receiver.url()]))
        monkeypatch.setattr(job, "_timeout_s", 0.000001)

        assert await job(db, NOW) == 1
        row = await only_row(db, subject)
        assert row.status == "pending"
        assert row.last_error is not None
        assert "tim" in row.last_error.lower()

    async def test_one_bad_receiver_does_not_hold_back_the_others(self, db, settings, receiver):
        receiver.script = [503]
        dead = f"http://127.0.0.1:{free_port()}/hook"
        clinic = await make_clinic(db)
        subject = uuid.uuid4()
        urls = [receiver.url("a"), receiver.url("b"), dead]
        await service.enqueue(
            db,
            urls=urls,
            clinic_id=clinic.id,
            subject_id=subject,
            kind="alarm_escalated",
            dedupe_key="x",
            payload=PAYLOAD,
            now=NOW,
        )
        job = service.delivery_job(job_settings(settings.database_url, urls))

        assert await job(db, NOW) == 3
        statuses = {r.url: r.status for r in await service.deliveries_for(db, subject)}
        assert sorted(statuses.values()) == ["delivered", "pending", "pending"]
        assert statuses[dead] == "pending"

    async def test_batch_size_bounds_one_run(self, db, settings, receiver):
        for _ in range(3):
            await enqueue_one(db, receiver.url())
        job = service.delivery_job(
            job_settings(settings.database_url, [receiver.url()]), batch_size=2
        )
        assert await job(db, NOW) == 2
        assert await job(db, NOW) == 1
        assert len(receiver.requests) == 3

    async def test_a_claimed_row_is_skipped_until_the_claim_expires(self, db, settings, receiver):
        subject = await enqueue_one(db, receiver.url())
        row = await only_row(db, subject)
        # Another instance claimed it and then died before recording an outcome.
        row.claimed_until = NOW + timedelta(seconds=30)
        await db.flush()
        job = service.delivery_job(job_settings(settings.database_url, [receiver.url()]))

        assert await job(db, NOW) == 0
        assert await job(db, NOW + timedelta(seconds=31)) == 1
        assert (await only_row(db, subject)).status == "delivered"

    async def test_without_a_secret_the_job_sends_nothing(self, db, settings, receiver):
        await enqueue_one(db, receiver.url())
        assert await service.delivery_job(settings)(db, NOW) == 0
        assert receiver.requests == []

    def test_is_registered_with_the_scheduler(self, settings):
        assert "deliver_notifications" in [job.name for job in jobs(settings)]


async def test_runs_under_the_real_scheduler(migrated_url, receiver):
    """The scheduler's own transaction per job, on a committed database (SQLite or PostgreSQL)."""
    settings = job_settings(migrated_url, [receiver.url()])
    engine = create_engine(settings, migrated_url)
    sessionmaker = create_sessionmaker(engine)
    clock = FakeClock(NOW)
    scheduler = Scheduler(
        sessionmaker,
        clock,
        [Job("deliver_notifications", service.delivery_job(settings))],
        interval_s=5,
    )
    try:
        receiver.script = [502]
        async with sessionmaker() as db, db.begin():
            subject = await enqueue_one(db, receiver.url())
        assert await scheduler.run_once() == {"deliver_notifications": 1}
        clock.advance(seconds=5)
        assert await scheduler.run_once() == {"deliver_notifications": 1}
        assert await scheduler.run_once() == {"deliver_notifications": 0}
        async with sessionmaker() as db:
            row = await only_row(db, subject)
        assert (row.status, row.attempts, row.last_status_code) == ("delivered", 2, 200)
        assert len(receiver.requests) == 2
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_two_concurrent_runs_deliver_each_notification_once(migrated_url, receiver):
    settings = job_settings(migrated_url, [receiver.url("a"), receiver.url("b")])
    engine = create_engine(settings, migrated_url)
    sessionmaker = create_sessionmaker(engine)
    job = service.delivery_job(settings)
    try:
        subjects = []
        async with sessionmaker() as db, db.begin():
            clinic = await make_clinic(db)
            for _ in range(10):
                subject = uuid.uuid4()
                subjects.append(subject)
                for _ in range(2):  # two instances enqueue the same escalation
                    await service.enqueue(
                        db,
                        urls=settings.notification_webhook_urls,
                        clinic_id=clinic.id,
                        subject_id=subject,
                        kind="alarm_escalated",
                        dedupe_key=f"{subject}:high",
                        payload=PAYLOAD,
                        now=NOW,
                    )

        async def run() -> int:
            async with sessionmaker() as db, db.begin():
                return await job(db, NOW)

        counts = await asyncio.gather(run(), run(), run())
        assert sum(counts) == 20
        ids = [r.headers["x-ketamine-delivery"] for r in receiver.requests]
        assert len(ids) == len(set(ids)) == 20
        async with sessionmaker() as db:
            rows = (await db.scalars(select(NotificationDelivery))).all()
        assert len(rows) == 20
        assert {(r.status, r.attempts) for r in rows} == {("delivered", 1)}
        assert await asyncio.gather(run(), run()) == [0, 0]
    finally:
        await engine.dispose()
