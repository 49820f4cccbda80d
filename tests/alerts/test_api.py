"""Alarm API end to end (issue 7 acceptance): ingest raises, staff acknowledge and silence,
the timers re-annunciate and escalate with a signed webhook POST, discharge waits."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.alerts.jobs import run_alarm_timers
from app.audit.models import AuditEntry
from app.core.config import Settings
from app.notifications.domain import verify
from app.notifications.service import delivery_job
from app.patients.domain import initials
from app.realtime.models import Event
from tests.conftest import TEST_SECRET
from tests.fixtures.factories import bearer, device_auth, make_device, make_user
from tests.fixtures.sessions import CADSS_ZERO, DISCHARGE_OK, Flow, vitals_check

VITALS = "/api/v1/vitals"
ALARMS = "/api/v1/alarms"
SECRET = "webhook-secret-for-tests"


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def spo2_run(prefix: str, start: datetime, seconds: int, value: float = 88) -> list[dict[str, Any]]:
    """One SpO2 reading a second from `start` for `seconds` seconds (inclusive)."""
    return [
        {
            "id": f"{prefix}-{i}",
            "metric": "spo2",
            "value": value,
            "unit": "%",
            "observed_at": (start + timedelta(seconds=i)).isoformat(),
        }
        for i in range(seconds + 1)
    ]


@pytest.fixture
async def monitored(db, clinic, chair, flow: Flow, patient) -> tuple[str, dict[str, str]]:
    """An infusing session whose chair monitor's key we hold."""
    device, key = await make_device(db, clinic, chair)
    session_id = await flow.started(patient, chair, device)
    return session_id, device_auth(key)


async def post_readings(flow: Flow, auth: dict[str, str], readings: list[dict[str, Any]]):
    r = await flow.client.post(VITALS, json={"readings": readings}, headers=auth)
    assert r.status_code == 200, r.text
    return r.json()["results"]


async def act(flow: Flow, path: str, body: dict[str, Any] | None = None):
    """POST an alarm action as the nurse."""
    return await flow.client.post(path, json=body, headers=flow.nurse)


async def session_alarms(flow: Flow, session_id: str) -> list[dict[str, Any]]:
    r = await flow.client.get(f"/api/v1/sessions/{session_id}/alarms", headers=flow.nurse)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def alarm_events(db, session_id: str) -> list[str]:
    rows = await db.scalars(
        select(Event).where(Event.stream == f"session:{session_id}").order_by(Event.seq)
    )
    return [e.type for e in rows if e.type.startswith("alarm_")]


async def spo2_88_for_20_s(flow: Flow, monitored) -> dict[str, Any]:
    session_id, auth = monitored
    start = flow.clock.now()
    flow.clock.advance(seconds=20)
    await post_readings(flow, auth, spo2_run("low", start, 20))
    [alarm] = await session_alarms(flow, session_id)
    return alarm


class TestRaise:
    async def test_spo2_88_held_20_s_raises_one_high_alarm_with_its_record(
        self, flow: Flow, db, monitored, protocol
    ):
        session_id, _ = monitored
        alarm = await spo2_88_for_20_s(flow, monitored)
        assert (alarm["priority"], alarm["rule_id"], alarm["state"]) == (
            "high",
            "spo2_low_high",
            "active",
        )
        assert alarm["episode"] == "spo2:low"
        assert alarm["limit"] == 90
        assert alarm["phase"] == "infusing"
        assert alarm["protocol_version_id"] == str(protocol.id)
        assert alarm["protocol_sha256"] == protocol.sha256
        assert len(alarm["reading_ids"]) >= 16  # the run that held for 15 s
        assert alarm["action"]
        assert "SpO2 88" in alarm["message"]
        assert alarm["sounding"] is True
        assert await alarm_events(db, session_id) == ["alarm_raised"]

    async def test_the_same_batch_again_raises_nothing_new(self, flow: Flow, db, monitored):
        session_id, auth = monitored
        start = flow.clock.now()
        flow.clock.advance(seconds=20)
        batch = spo2_run("low", start, 20)
        await post_readings(flow, auth, batch)
        results = await post_readings(flow, auth, batch)
        assert {r["status"] for r in results} == {"duplicate"}
        assert len(await session_alarms(flow, session_id)) == 1
        assert await alarm_events(db, session_id) == ["alarm_raised"]

    async def test_order_inside_the_batch_does_not_matter(self, flow: Flow, monitored):
        session_id, auth = monitored
        start = flow.clock.now()
        flow.clock.advance(seconds=20)
        await post_readings(flow, auth, list(reversed(spo2_run("low", start, 20))))
        [alarm] = await session_alarms(flow, session_id)
        assert alarm["priority"] == "high"
        assert alarm["late"] is False

    async def test_short_dip_raises_nothing(self, flow: Flow, monitored):
        session_id, auth = monitored
        start = flow.clock.now()
        flow.clock.advance(seconds=10)
        await post_readings(flow, auth, spo2_run("dip", start, 10))
        assert await session_alarms(flow, session_id) == []

    async def test_readings_before_check_in_are_stored_but_raise_nothing(
        self, db, clinic, chair, flow: Flow, patient
    ):
        _, key = await make_device(db, clinic, chair)
        start = flow.clock.now()
        flow.clock.advance(seconds=20)
        results = await post_readings(flow, device_auth(key), spo2_run("early", start, 20))
        assert {r["status"] for r in results} == {"created"}
        r = await flow.client.get(ALARMS, headers=flow.nurse)
        assert r.json() == {"items": [], "total": 0}

    async def test_manual_sbp_210_raises_a_high_alarm_at_once(self, flow: Flow, monitored):
        session_id, _ = monitored
        body = {
            "readings": [
                {
                    "metric": "sbp",
                    "value": 210,
                    "unit": "mm[Hg]",
                    "observed_at": flow.clock.now().isoformat(),
                },
                {
                    "metric": "dbp",
                    "value": 95,
                    "unit": "mm[Hg]",
                    "observed_at": flow.clock.now().isoformat(),
                },
            ]
        }
        r = await flow.client.post(
            f"/api/v1/sessions/{session_id}/vitals", json=body, headers=flow.nurse
        )
        assert r.status_code in (200, 201), r.text
        [alarm] = await session_alarms(flow, session_id)
        assert (alarm["episode"], alarm["priority"]) == ("sbp:high", "high")
        assert "repeat NIBP" in alarm["action"]

    async def test_a_vitals_check_with_sbp_210_raises_and_is_stored_as_readings(
        self, flow: Flow, monitored
    ):
        session_id, _ = monitored
        check = vitals_check(flow.clock.now(), "nibp_infusing", sbp_mmhg=210, dbp_mmhg=95)
        r = await flow.post(f"/{session_id}/vitals-check", check)
        assert r.status_code == 200, r.text
        [alarm] = await session_alarms(flow, session_id)
        assert (alarm["episode"], alarm["priority"]) == ("sbp:high", "high")
        r = await flow.client.get(f"/api/v1/sessions/{session_id}/vitals", headers=flow.nurse)
        stored = {(x["metric"], x["value"], x["source"]) for x in r.json()["items"]}
        assert {("sbp", 210, "manual"), ("dbp", 95, "manual")} <= stored


class TestAcknowledgeAndSilence:
    async def test_acknowledge_records_who_when_and_why(self, flow: Flow, db, monitored):
        session_id, _ = monitored
        alarm = await spo2_88_for_20_s(flow, monitored)
        r = await act(flow, f"{ALARMS}/{alarm['id']}/ack", {"note": "repositioned probe"})
        assert r.status_code == 200, r.text
        acked = r.json()
        assert at(acked["acknowledged_at"]) == flow.clock.now()
        assert acked["acknowledged_by"] == flow.nurse_user.username
        assert acked["acknowledge_note"] == "repositioned probe"
        assert acked["sounding"] is False
        assert acked["state"] == "active"  # the condition persists
        assert "alarm_acknowledged" in await alarm_events(db, session_id)
        audit = await db.scalar(select(AuditEntry).where(AuditEntry.action == "ALARM_ACKNOWLEDGED"))
        assert audit is not None
        assert audit.entity_id == alarm["id"]
        again = await act(flow, f"{ALARMS}/{alarm['id']}/ack")
        assert again.json()["acknowledged_at"] == acked["acknowledged_at"]

    async def test_silence_pauses_the_sound_for_two_minutes(self, flow: Flow, monitored):
        alarm = await spo2_88_for_20_s(flow, monitored)
        r = await act(flow, f"{ALARMS}/{alarm['id']}/silence", {"reason": "at bedside"})
        assert r.status_code == 200, r.text
        silenced = r.json()
        assert at(silenced["silenced_until"]) == (flow.clock.now() + timedelta(minutes=2))
        assert (silenced["sounding"], silenced["silenced_by"]) == (False, flow.nurse_user.username)
        flow.clock.advance(minutes=2, seconds=1)
        r = await flow.client.get(ALARMS, headers=flow.nurse)
        assert r.json()["items"][0]["sounding"] is True

    async def test_unknown_alarm_is_404_and_admin_cannot_acknowledge(
        self, flow: Flow, monitored, db, clinic
    ):
        alarm = await spo2_88_for_20_s(flow, monitored)
        missing = await act(flow, f"{ALARMS}/00000000-0000-4000-8000-000000000000/ack")
        assert missing.status_code == 404
        admin = await make_user(db, clinic, "admin")
        r = await flow.client.post(
            f"{ALARMS}/{alarm['id']}/ack", headers=bearer(admin, flow.settings, flow.clock.now())
        )
        assert r.status_code == 403

    async def test_a_latching_alarm_whose_condition_ended_clears_on_acknowledgement(
        self, flow: Flow, db, monitored
    ):
        session_id, auth = monitored
        await spo2_88_for_20_s(flow, monitored)
        start = flow.clock.now()
        flow.clock.advance(seconds=30)
        await post_readings(flow, auth, spo2_run("ok", start + timedelta(seconds=1), 29, 97))
        [alarm] = await session_alarms(flow, session_id)
        assert (alarm["state"], alarm["condition_present"]) == ("active", False)
        r = await act(flow, f"{ALARMS}/{alarm['id']}/ack")
        assert r.json()["state"] == "cleared"
        assert (await act(flow, f"{ALARMS}/{alarm['id']}/ack")).status_code == 409
        events = await alarm_events(db, session_id)
        assert events[-3:] == ["alarm_condition_ended", "alarm_acknowledged", "alarm_cleared"]


class TestTimers:
    async def test_condition_persisting_5_min_after_acknowledgement_sounds_again(
        self, flow: Flow, db, monitored
    ):
        session_id, _ = monitored
        alarm = await spo2_88_for_20_s(flow, monitored)
        await act(flow, f"{ALARMS}/{alarm['id']}/ack")
        acked_at = flow.clock.now()
        flow.clock.advance(minutes=4, seconds=59)
        assert await run_alarm_timers(db, flow.clock.now(), webhook_urls=[], base_url=None) == 0
        flow.clock.set(acked_at + timedelta(minutes=5))
        assert await run_alarm_timers(db, flow.clock.now(), webhook_urls=[], base_url=None) == 1
        await db.commit()
        [again] = await session_alarms(flow, session_id)
        assert at(again["last_annunciated_at"]) == flow.clock.now()
        assert again["sounding"] is True
        assert (await alarm_events(db, session_id))[-1] == "alarm_reannunciated"
        assert await run_alarm_timers(db, flow.clock.now(), webhook_urls=[], base_url=None) == 0

    async def test_unacknowledged_60_s_escalates_once_with_a_signed_webhook_post(
        self, flow: Flow, db, monitored, receiver, database_url, patient
    ):
        session_id, _ = monitored
        alarm = await spo2_88_for_20_s(flow, monitored)
        urls = [receiver.url()]
        flow.clock.advance(seconds=59)
        assert await run_alarm_timers(db, flow.clock.now(), webhook_urls=urls, base_url=None) == 0
        flow.clock.advance(seconds=1)
        assert (
            await run_alarm_timers(
                db, flow.clock.now(), webhook_urls=urls, base_url="https://km.example"
            )
            == 1
        )
        assert await run_alarm_timers(db, flow.clock.now(), webhook_urls=urls, base_url=None) == 0
        settings = Settings(
            env="test",
            database_url=database_url,
            secret_key=TEST_SECRET,
            notification_webhook_urls=urls,
            notification_secret=SECRET,
        )
        assert await delivery_job(settings)(db, flow.clock.now()) == 1
        [request] = receiver.requests
        assert verify(SECRET.encode(), request.body, request.headers["x-ketamine-signature"])
        body = json.loads(request.body)
        assert body["priority"] == "high"
        assert body["patient_initials"] == initials(patient.name)
        assert body["alarm"]["id"] == alarm["id"]
        assert body["link"] == f"https://km.example/sessions/{session_id}"
        await db.commit()
        [escalated] = await session_alarms(flow, session_id)
        assert at(escalated["escalated_at"]) == flow.clock.now()
        assert (await alarm_events(db, session_id))[-1] == "alarm_escalated"

    async def test_acknowledged_in_time_never_escalates(self, flow: Flow, db, monitored):
        alarm = await spo2_88_for_20_s(flow, monitored)
        flow.clock.advance(seconds=59)
        await act(flow, f"{ALARMS}/{alarm['id']}/ack")
        flow.clock.advance(seconds=120)
        assert await run_alarm_timers(db, flow.clock.now(), webhook_urls=[], base_url=None) == 0


class TestDischarge:
    async def test_refused_while_an_alarm_is_not_cleared(self, flow: Flow, db, monitored):
        session_id, _ = monitored
        alarm = await spo2_88_for_20_s(flow, monitored)
        flow.clock.advance(minutes=40)
        assert (await flow.post(f"/{session_id}/complete")).status_code == 200
        flow.clock.advance(minutes=60)
        await flow.post(f"/{session_id}/vitals-check", vitals_check(flow.clock.now()))
        await flow.post(
            f"/{session_id}/scales/cadss",
            {"answers": CADSS_ZERO, "checkpoint_id": "cadss_discharge"},
        )
        discharge = f"/{session_id}/discharge"
        r = await flow.post(discharge, DISCHARGE_OK, headers=flow.physician)
        assert r.status_code == 409, r.text
        assert [b["code"] for b in r.json()["blockers"]] == ["alarms_not_cleared"]
        # The latching high alarm's condition is still present: acknowledging does not clear it.
        await act(flow, f"{ALARMS}/{alarm['id']}/ack")
        assert (await flow.post(discharge, DISCHARGE_OK, headers=flow.physician)).status_code == 409
