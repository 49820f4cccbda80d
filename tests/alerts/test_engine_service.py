"""The alarm engine on stored readings (app.alerts.engine via ingest) and the escalation timer
(app.alerts.jobs.run_alarm_timers): what a nurse sees on the alarm list and what a pager
integrator receives, on the test transaction with the fake clock."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.alerts.engine import StoredReading, evaluate_stored
from app.alerts.jobs import run_alarm_timers
from app.alerts.models import Alarm, AlarmEngineState
from app.notifications.service import deliveries_for
from app.patients.domain import initials
from app.protocols.domain import Metric
from app.vitals.models import VitalReading
from tests.alerts.test_api import act, alarm_events, post_readings, session_alarms, spo2_run
from tests.fixtures.factories import device_auth, make_device
from tests.fixtures.sessions import CADSS_ZERO, DISCHARGE_OK, Flow, vitals_check

ALARMS = "/api/v1/alarms"
URLS = ["https://pager.example/hook", "https://sms.example/hook"]


@pytest.fixture
async def monitored(db, clinic, chair, flow: Flow, patient) -> tuple[str, dict[str, str]]:
    """An infusing session (started at the fake clock's now) whose monitor's key we hold."""
    device, key = await make_device(db, clinic, chair)
    session_id = await flow.started(patient, chair, device)
    return session_id, device_auth(key)


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def bp(source_id: str, observed_at: datetime, sbp: float, dbp: float) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{source_id}-{metric}",
            "metric": metric,
            "value": value,
            "unit": "mm[Hg]",
            "observed_at": observed_at.isoformat(),
            "measurement_id": source_id,
        }
        for metric, value in (("sbp", sbp), ("dbp", dbp))
    ]


async def timers(db, flow: Flow, at_: datetime, urls: list[str] = URLS) -> int:
    flow.clock.set(at_)
    return await run_alarm_timers(db, at_, webhook_urls=urls, base_url="https://km.example")


async def the_alarm(flow: Flow, session_id: str) -> dict[str, Any]:
    [alarm] = await session_alarms(flow, session_id)
    return alarm


class TestLateReadings:
    async def test_a_late_sbp_210_still_raises_flagged_late(self, db, flow: Flow, monitored):
        session_id, auth = monitored
        t0 = flow.clock.now()
        flow.clock.set(t0 + timedelta(seconds=70))
        await post_readings(flow, auth, bp("bp-new", t0 + timedelta(seconds=60), 124, 78))
        assert await session_alarms(flow, session_id) == []

        # Observed before the SBP already evaluated (a monitor replaying its buffer).
        flow.clock.set(t0 + timedelta(seconds=80))
        results = await post_readings(flow, auth, bp("bp-old", t0 + timedelta(seconds=30), 210, 95))
        assert {r["session_id"] for r in results} == {session_id}

        alarm = await the_alarm(flow, session_id)
        assert (alarm["episode"], alarm["priority"], alarm["state"]) == (
            "sbp:high",
            "high",
            "active",
        )
        assert alarm["late"] is True
        assert "SBP 210" in alarm["message"]
        late_row = await db.scalar(
            select(VitalReading).where(VitalReading.source_id == "bp-old-sbp")
        )
        on_time = await db.scalar(
            select(VitalReading).where(VitalReading.source_id == "bp-new-sbp")
        )
        assert late_row.late is True
        assert on_time.late is False
        assert str(late_row.id) in alarm["reading_ids"]

    async def test_an_in_order_sbp_210_is_not_flagged_late(self, flow: Flow, monitored):
        session_id, auth = monitored
        t0 = flow.clock.now()
        flow.clock.set(t0 + timedelta(seconds=70))
        await post_readings(flow, auth, bp("bp-1", t0 + timedelta(seconds=30), 124, 78))
        await post_readings(flow, auth, bp("bp-2", t0 + timedelta(seconds=60), 210, 95))
        alarm = await the_alarm(flow, session_id)
        assert (alarm["episode"], alarm["late"]) == ("sbp:high", False)


class TestOutsideMonitoring:
    async def test_readings_of_a_discharged_session_are_stored_but_raise_nothing(
        self, db, flow: Flow, monitored
    ):
        session_id, auth = monitored
        flow.clock.advance(minutes=40)
        assert (await flow.post(f"/{session_id}/complete")).status_code == 200
        flow.clock.advance(minutes=60)
        await flow.post(f"/{session_id}/vitals-check", vitals_check(flow.clock.now()))
        await flow.post(
            f"/{session_id}/scales/cadss",
            {"answers": CADSS_ZERO, "checkpoint_id": "cadss_discharge"},
        )
        r = await flow.post(f"/{session_id}/discharge", DISCHARGE_OK, headers=flow.physician)
        assert r.status_code == 200, r.text

        # Observed in the last half minute before discharge, uploaded just after it (within
        # the clock-skew limit): filed on the session, and no alarm.
        discharged_at = flow.clock.now()
        flow.clock.advance(seconds=1)
        results = await post_readings(
            flow, auth, spo2_run("after", discharged_at - timedelta(seconds=30), 20, 85)
        )
        assert {(r["status"], r["session_id"]) for r in results} == {("created", session_id)}
        assert await session_alarms(flow, session_id) == []
        assert await alarm_events(db, session_id) == []

    async def test_readings_of_a_session_not_yet_checked_in_raise_nothing(
        self, db, flow: Flow, patient, chair
    ):
        session_id = uuid.UUID(await flow.schedule(patient, chair))
        now = flow.clock.now()
        readings = [
            StoredReading(
                session_id, uuid.uuid4(), Metric.SPO2, 85, now + timedelta(seconds=i), False
            )
            for i in range(21)
        ]
        result = await evaluate_stored(db, readings=readings, now=now)
        assert (result.events, result.late_reading_ids) == ([], set())
        alarms = await db.scalar(select(func.count()).select_from(Alarm))
        assert alarms == 0
        assert await db.get(AlarmEngineState, session_id) is None


class TestAcknowledgeThenRise:
    async def test_a_rise_after_acknowledgement_is_one_alarm_that_needs_a_new_acknowledgement(
        self, db, flow: Flow, monitored
    ):
        session_id, auth = monitored
        t0 = flow.clock.now()
        flow.clock.set(t0 + timedelta(seconds=20))
        await post_readings(flow, auth, spo2_run("m", t0, 20, 91))
        medium = await the_alarm(flow, session_id)
        assert (medium["episode"], medium["priority"]) == ("spo2:low", "medium")

        flow.clock.set(t0 + timedelta(seconds=30))
        r = await act(flow, f"{ALARMS}/{medium['id']}/ack", {"note": "probe checked"})
        assert r.status_code == 200, r.text
        r = await act(flow, f"{ALARMS}/{medium['id']}/silence", {"reason": "at bedside"})
        assert r.status_code == 200, r.text
        assert r.json()["acknowledged_at"] is not None
        assert r.json()["silenced_until"] is not None

        start = t0 + timedelta(seconds=31)
        flow.clock.set(start + timedelta(seconds=20))
        await post_readings(flow, auth, spo2_run("h", start, 20, 88))
        high = await the_alarm(flow, session_id)
        assert high["id"] == medium["id"]
        assert (high["episode"], high["priority"], high["rule_id"]) == (
            "spo2:low",
            "high",
            "spo2_low_high",
        )
        assert high["acknowledged_at"] is None
        assert high["escalated_at"] is None
        assert high["silenced_until"] is None
        assert at(high["priority_since"]) == flow.clock.now()
        assert at(high["raised_at"]) == at(medium["raised_at"])
        assert high["sounding"] is True
        assert await alarm_events(db, session_id) == [
            "alarm_raised",
            "alarm_acknowledged",
            "alarm_silenced",
            "alarm_priority_raised",
        ]


class TestClearsByItself:
    async def test_a_non_latching_medium_clears_unacknowledged_and_a_new_dip_is_a_new_alarm(
        self, db, flow: Flow, monitored
    ):
        session_id, auth = monitored
        t0 = flow.clock.now()
        flow.clock.set(t0 + timedelta(seconds=20))
        await post_readings(flow, auth, spo2_run("dip", t0, 20, 91))
        raised = await the_alarm(flow, session_id)
        assert raised["priority"] == "medium"

        # Back to 97 for 14 s: longer than the 10 s clear time.
        flow.clock.set(t0 + timedelta(seconds=35))
        await post_readings(flow, auth, spo2_run("ok", t0 + timedelta(seconds=21), 14, 97))
        cleared = await the_alarm(flow, session_id)
        assert cleared["id"] == raised["id"]
        assert cleared["state"] == "cleared"
        assert "unacknowledged" in cleared["cleared_reason"]
        assert cleared["acknowledged_at"] is None
        assert at(cleared["cleared_at"]) == flow.clock.now()
        assert (await alarm_events(db, session_id))[-1] == "alarm_cleared"

        again = t0 + timedelta(seconds=40)
        flow.clock.set(again + timedelta(seconds=20))
        await post_readings(flow, auth, spo2_run("dip2", again, 20, 91))
        alarms = await session_alarms(flow, session_id)
        assert sorted(a["state"] for a in alarms) == ["active", "cleared"]

    async def test_a_dip_shorter_than_the_clear_time_keeps_it(self, flow: Flow, monitored):
        session_id, auth = monitored
        t0 = flow.clock.now()
        flow.clock.set(t0 + timedelta(seconds=20))
        await post_readings(flow, auth, spo2_run("dip", t0, 20, 91))
        flow.clock.set(t0 + timedelta(seconds=30))
        await post_readings(flow, auth, spo2_run("ok", t0 + timedelta(seconds=21), 8, 97))
        assert (await the_alarm(flow, session_id))["state"] == "active"


class TestEscalation:
    async def test_escalation_queues_one_notification_per_url_and_again_only_after_a_rise(
        self, db, flow: Flow, monitored, patient, chair, clinic
    ):
        session_id, auth = monitored
        t0 = flow.clock.now()
        flow.clock.set(t0 + timedelta(seconds=20))
        await post_readings(flow, auth, spo2_run("m", t0, 20, 91))
        alarm = await the_alarm(flow, session_id)
        alarm_id = uuid.UUID(alarm["id"])
        raised_at = at(alarm["raised_at"])

        # Medium: escalated after 120 s unacknowledged.
        assert await timers(db, flow, raised_at + timedelta(seconds=119)) == 0
        assert await deliveries_for(db, alarm_id) == []
        assert await timers(db, flow, raised_at + timedelta(seconds=120)) == 1
        rows = await deliveries_for(db, alarm_id)
        assert sorted(r.url for r in rows) == sorted(URLS)
        for row in rows:
            assert (row.kind, row.status, row.clinic_id) == (
                "alarm_escalated",
                "pending",
                clinic.id,
            )
            assert row.payload["priority"] == "medium"
            assert row.payload["alarm"]["id"] == alarm["id"]
            assert row.payload["patient_initials"] == initials(patient.name)
            assert row.payload["chair"]["name"] == chair.name
            assert row.payload["link"] == f"https://km.example/sessions/{session_id}"
            assert "name" not in row.payload.get("patient", {})
        escalated = await the_alarm(flow, session_id)
        assert at(escalated["escalated_at"]) == flow.clock.now()

        # Still unacknowledged, still medium: no second escalation.
        assert await timers(db, flow, raised_at + timedelta(seconds=600)) == 0
        assert len(await deliveries_for(db, alarm_id)) == len(URLS)

        # Rise to high: escalation restarts, 60 s for high, and notifies again.
        start = raised_at + timedelta(seconds=601)
        flow.clock.set(start + timedelta(seconds=20))
        await post_readings(flow, auth, spo2_run("h", start, 20, 88))
        high = await the_alarm(flow, session_id)
        assert (high["priority"], high["escalated_at"]) == ("high", None)
        rose_at = at(high["priority_since"])
        assert await timers(db, flow, rose_at + timedelta(seconds=59)) == 0
        assert await timers(db, flow, rose_at + timedelta(seconds=60)) == 1
        assert await timers(db, flow, rose_at + timedelta(seconds=90)) == 0
        rows = await deliveries_for(db, alarm_id)
        assert len(rows) == 2 * len(URLS)
        assert sorted(r.payload["priority"] for r in rows) == ["high", "high", "medium", "medium"]
        assert len({r.dedupe_key for r in rows}) == 2
        assert (await alarm_events(db, session_id)).count("alarm_escalated") == 2

    async def test_without_webhooks_it_escalates_on_the_boards_only(
        self, db, flow: Flow, monitored
    ):
        session_id, auth = monitored
        t0 = flow.clock.now()
        flow.clock.set(t0 + timedelta(seconds=20))
        await post_readings(flow, auth, spo2_run("low", t0, 20, 88))
        alarm = await the_alarm(flow, session_id)
        assert await timers(db, flow, flow.clock.now() + timedelta(seconds=60), urls=[]) == 1
        assert await deliveries_for(db, uuid.UUID(alarm["id"])) == []
        assert (await alarm_events(db, session_id))[-1] == "alarm_escalated"
