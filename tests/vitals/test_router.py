"""POST /api/v1/vitals: per-reading statuses, idempotent retries, routing, events (issue 6)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.devices import service as devices_service
from app.devices.models import Device
from app.realtime.models import Event
from app.vitals.models import VitalReading
from tests.fixtures.factories import TEST_ACTOR, device_auth, make_chair, make_clinic, make_device
from tests.fixtures.sessions import Flow

URL = "/api/v1/vitals"


def reading(
    rid: str, at: datetime, metric: str = "spo2", value: float = 97, unit: str = "%", **extra: Any
) -> dict[str, Any]:
    return {
        "id": rid,
        "metric": metric,
        "value": value,
        "unit": unit,
        "observed_at": at.isoformat(),
        **extra,
    }


@pytest.fixture
async def device_key(db, clinic):
    chair_row = await make_chair(db, clinic)
    device, key = await make_device(db, clinic, chair_row)
    return device, device_auth(key)


async def stored(db, device_id) -> list[VitalReading]:
    return list(
        (await db.scalars(select(VitalReading).where(VitalReading.device_id == device_id))).all()
    )


class TestBatch:
    async def test_good_duplicate_and_bad_readings_each_get_a_status(
        self, client, db, clock, device_key
    ):
        device, auth = device_key
        now = clock.now()
        first = await client.post(URL, json={"readings": [reading("a", now)]}, headers=auth)
        assert first.json()["results"][0]["status"] == "created"
        body = {
            "readings": [
                reading("a", now),
                reading("b", now, "hr", 72, "{beat}/min"),
                reading("c", now, "spo2", 101),
                reading("d", now, "etco2", 35, "mm[Hg]"),
            ]
        }
        r = await client.post(URL, json=body, headers=auth)
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert [(x["id"], x["status"], x["code"]) for x in results] == [
            ("a", "duplicate", None),
            ("b", "created", None),
            ("c", "rejected", "implausible_value"),
            ("d", "rejected", "unknown_metric"),
        ]
        assert results[2]["message"]
        assert sorted(x.source_id for x in await stored(db, device.id)) == ["a", "b"]

    async def test_the_same_batch_twice_is_all_duplicates(self, client, clock, device_key):
        _, auth = device_key
        body = {
            "readings": [reading(f"r{i}", clock.now() - timedelta(seconds=i)) for i in range(5)]
        }
        assert {
            x["status"] for x in (await client.post(URL, json=body, headers=auth)).json()["results"]
        } == {"created"}
        again = (await client.post(URL, json=body, headers=auth)).json()["results"]
        assert {x["status"] for x in again} == {"duplicate"}

    async def test_same_id_with_another_value_is_a_conflict_and_nothing_changes(
        self, client, db, clock, device_key
    ):
        device, auth = device_key
        await client.post(
            URL, json={"readings": [reading("x", clock.now(), value=97)]}, headers=auth
        )
        r = await client.post(
            URL, json={"readings": [reading("x", clock.now(), value=88)]}, headers=auth
        )
        assert r.json()["results"][0]["status"] == "conflict"
        rows = await stored(db, device.id)
        assert [row.value for row in rows] == [97.0]

    async def test_units_are_converted(self, client, db, clock, device_key):
        device, auth = device_key
        now = clock.now()
        body = {
            "readings": [
                reading("t", now, "temp", 98.6, "[degF]"),
                reading("s", now, "sbp", 16, "kPa"),
                reading("d", now, "dbp", 10, "kPa"),
            ]
        }
        r = await client.post(URL, json=body, headers=auth)
        assert [x["status"] for x in r.json()["results"]] == ["created"] * 3
        values = {
            row.metric: (row.value, row.unit, row.original_value, row.original_unit)
            for row in await stored(db, device.id)
        }
        assert values["temp"] == (37.0, "Cel", 98.6, "[degF]")
        assert values["sbp"] == (120.0, "mm[Hg]", 16.0, "kPa")
        assert values["dbp"] == (75.0, "mm[Hg]", 10.0, "kPa")

    async def test_missing_offset_is_rejected_and_the_offset_is_kept_otherwise(
        self, client, db, clock, device_key
    ):
        device, auth = device_key
        naive = clock.now().replace(tzinfo=None).isoformat()
        oslo = clock.now().astimezone(ZoneInfo("Europe/Oslo")).isoformat()
        body = {
            "readings": [
                {"id": "n", "metric": "hr", "value": 70, "unit": "/min", "observed_at": naive},
                {"id": "o", "metric": "hr", "value": 71, "unit": "/min", "observed_at": oslo},
            ]
        }
        results = (await client.post(URL, json=body, headers=auth)).json()["results"]
        assert [(x["status"], x["code"]) for x in results] == [
            ("rejected", "missing_offset"),
            ("created", None),
        ]
        (row,) = await stored(db, device.id)
        assert row.utc_offset_minutes == 60
        assert row.observed_at == clock.now()

    async def test_more_than_1000_readings_is_413(self, client, clock, device_key):
        _, auth = device_key
        body = {"readings": [reading(f"r{i}", clock.now()) for i in range(1001)]}
        r = await client.post(URL, json=body, headers=auth)
        assert r.status_code == 413
        assert "1000" in r.json()["detail"]

    async def test_dbp_above_sbp_rejects_the_measurement(self, client, clock, device_key):
        _, auth = device_key
        now = clock.now()
        body = {
            "readings": [
                reading("s", now, "sbp", 90, "mm[Hg]", measurement_id="m"),
                reading("d", now, "dbp", 95, "mm[Hg]", measurement_id="m"),
            ]
        }
        results = (await client.post(URL, json=body, headers=auth)).json()["results"]
        assert {x["code"] for x in results} == {"dbp_not_below_sbp"}

    async def test_staff_cannot_post_readings_and_bad_keys_are_401(self, client, device_key, clock):
        r = await client.post(
            URL,
            json={"readings": [reading("a", clock.now())]},
            headers={"Authorization": "Bearer kmd_nope"},
        )
        assert r.status_code == 401


class TestRoutingAndEvents:
    async def test_reading_before_check_in_is_unrouted_and_later_ones_are_filed(
        self,
        client,
        db,
        clock,
        flow: Flow,
        patient,
        chair,
        monitor,
    ):
        device_row = await db.get(Device, monitor.id)
        # The fixture's monitor key is not kept: rotate with no overlap to get one.
        issued = await devices_service.rotate_key(
            db,
            clinic_id=device_row.clinic_id,
            device_id=monitor.id,
            overlap=timedelta(0),
            actor=TEST_ACTOR,
            now=clock.now(),
        )
        auth = device_auth(issued.api_key)
        before = clock.now() - timedelta(minutes=1)
        session_id = await flow.schedule(patient, chair)
        r = await flow.check_in(session_id, monitor)
        assert r.status_code == 200, r.text
        clock.advance(seconds=30)
        body = {"readings": [reading("early", before), reading("during", clock.now())]}
        results = (await client.post(URL, json=body, headers=auth)).json()["results"]
        assert [(x["id"], x["session_id"]) for x in results] == [
            ("early", None),
            ("during", session_id),
        ]
        events = list((await db.scalars(select(Event).order_by(Event.stream, Event.seq))).all())
        kinds = {(e.type, e.session_id is not None) for e in events}
        assert ("reading", True) in kinds
        assert ("reading_unrouted", False) in kinds
        session_events = [e for e in events if e.stream == f"session:{session_id}"]
        assert [e.seq for e in session_events] == list(range(1, len(session_events) + 1))
        status = (
            await client.get(f"/api/v1/devices/{monitor.id}/status", headers=flow.nurse)
        ).json()
        assert (status["accepted_count"], status["unrouted_count"]) == (2, 1)

    async def test_device_of_another_clinic_never_reaches_this_clinics_session(
        self,
        client,
        db,
        clock,
        flow: Flow,
        patient,
        chair,
        monitor,
    ):
        session_id = await flow.schedule(patient, chair)
        assert (await flow.check_in(session_id, monitor)).status_code == 200
        other_clinic = await make_clinic(db)
        _, key = await make_device(db, other_clinic, await make_chair(db, other_clinic))
        clock.advance(seconds=10)
        r = await client.post(
            URL, json={"readings": [reading("z", clock.now())]}, headers=device_auth(key)
        )
        assert r.json()["results"][0]["session_id"] is None
        rows = list(
            (
                await db.scalars(
                    select(VitalReading).where(VitalReading.session_id == uuid.UUID(session_id))
                )
            ).all()
        )
        assert rows == []


class TestClockSkew:
    async def test_sent_at_far_behind_flags_the_device(self, client, db, clock, device_key):
        device, auth = device_key
        body = {
            "sent_at": (clock.now() - timedelta(seconds=45)).isoformat(),
            "readings": [reading("a", clock.now() - timedelta(seconds=45))],
        }
        r = await client.post(URL, json=body, headers=auth)
        assert r.json()["clock_skewed"] is True
        row = await db.get(Device, device.id, populate_existing=True)
        assert row.clock_skewed_since == clock.now()

    async def test_backlog_with_fresh_sent_at_is_not_skew(self, client, clock, device_key):
        _, auth = device_key
        body = {
            "sent_at": clock.now().isoformat(),
            "readings": [reading("old", clock.now() - timedelta(hours=1))],
        }
        r = await client.post(URL, json=body, headers=auth)
        assert r.json()["clock_skewed"] is False
        assert r.json()["results"][0]["status"] == "created"
