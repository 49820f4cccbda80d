"""Enqueue records one pending delivery per URL, once per dedupe key (issue 7 point 7)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from app.notifications import service
from app.notifications.schemas import NotificationDeliveryRead
from tests.fixtures.factories import make_clinic

NOW = datetime(2026, 11, 28, 18, 50, tzinfo=UTC)
URLS = ["https://pager.example/hook", "https://sms.example/in?token=abc"]
PAYLOAD = {"clinic": "Oslo", "chair": "Chair 1", "initials": "OK", "priority": "high"}


async def enqueue(db, clinic_id, subject_id, *, urls=URLS, dedupe_key="k:high", payload=PAYLOAD):
    return await service.enqueue(
        db,
        urls=urls,
        clinic_id=clinic_id,
        subject_id=subject_id,
        kind="alarm_escalated",
        dedupe_key=dedupe_key,
        payload=payload,
        now=NOW,
    )


class TestEnqueue:
    async def test_records_one_pending_delivery_per_url(self, db):
        clinic = await make_clinic(db)
        subject = uuid.uuid4()
        assert await enqueue(db, clinic.id, subject) == 2
        rows = await service.deliveries_for(db, subject)
        assert sorted(r.url for r in rows) == sorted(URLS)
        for row in rows:
            assert (row.status, row.attempts, row.kind) == ("pending", 0, "alarm_escalated")
            assert row.next_attempt_at == row.created_at == NOW
            assert row.payload == PAYLOAD
            assert row.clinic_id == clinic.id
            assert row.claimed_until is row.delivered_at is row.last_error is None

    async def test_same_escalation_twice_inserts_once(self, db):
        clinic = await make_clinic(db)
        subject = uuid.uuid4()
        assert await enqueue(db, clinic.id, subject) == 2
        assert await enqueue(db, clinic.id, subject) == 0
        # A new URL added to the configuration still gets its delivery.
        assert await enqueue(db, clinic.id, subject, urls=[*URLS, "http://third.example/"]) == 1
        assert len(await service.deliveries_for(db, subject)) == 3

    async def test_a_new_dedupe_key_is_a_new_notification(self, db):
        clinic = await make_clinic(db)
        subject = uuid.uuid4()
        await enqueue(db, clinic.id, subject, dedupe_key="k:medium")
        assert await enqueue(db, clinic.id, subject, dedupe_key="k:high") == 2
        assert len(await service.deliveries_for(db, subject)) == 4

    async def test_duplicate_urls_in_one_call_count_once(self, db):
        clinic = await make_clinic(db)
        assert await enqueue(db, clinic.id, uuid.uuid4(), urls=[URLS[0], URLS[0]]) == 1

    async def test_no_urls_no_rows(self, db):
        clinic = await make_clinic(db)
        subject = uuid.uuid4()
        assert await enqueue(db, clinic.id, subject, urls=[]) == 0
        assert await service.deliveries_for(db, subject) == []

    async def test_refuses_a_payload_the_body_cannot_carry(self, db):
        clinic = await make_clinic(db)
        with pytest.raises(ValueError, match="reserved"):
            await enqueue(db, clinic.id, uuid.uuid4(), payload={"event": "x"})
        with pytest.raises(TypeError):
            await enqueue(db, clinic.id, uuid.uuid4(), payload={"at": NOW})


class TestDeliveriesFor:
    async def test_only_the_subjects_rows_and_the_read_schema_hides_url_path(self, db):
        clinic = await make_clinic(db)
        subject, other = uuid.uuid4(), uuid.uuid4()
        await enqueue(db, clinic.id, subject, urls=["https://u:p@sms.example:8443/in?token=abc"])
        await enqueue(db, clinic.id, other)
        (row,) = await service.deliveries_for(db, subject)
        read = NotificationDeliveryRead.model_validate(row)
        assert read.target == "https://sms.example:8443"
        assert "payload" not in read.model_dump()
