"""Technical alarms as the scheduler raises and clears them (issue 7 point 8), with the fake
clock: `run_technical_alarms` called directly on the test transaction, results read the way
a nurse's screen reads them (GET /api/v1/sessions/{id}/alarms)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from app.alerts.jobs import run_technical_alarms
from app.devices import service as devices_service
from app.devices.models import Device
from app.realtime import service as realtime_service
from app.realtime.models import Event
from tests.alerts.test_api import post_readings, session_alarms
from tests.fixtures.factories import device_auth, make_device
from tests.fixtures.sessions import Flow, vitals_check

UNITS = {"spo2": "%", "hr": "/min", "pr": "/min", "sbp": "mm[Hg]", "dbp": "mm[Hg]"}
NORMAL = {"spo2": 97, "hr": 72, "pr": 72, "sbp": 124, "dbp": 78}
NO_DATA = {"technical:no_data_spo2", "technical:no_data_hr"}


@dataclass
class Seat:
    session_id: str
    device: Device
    auth: dict[str, str]


def sent(at: datetime, *metrics: str) -> list[dict[str, Any]]:
    """One normal reading of each metric, observed at `at`."""
    stamp = at.isoformat()
    return [
        {
            "id": f"{m}-{stamp}",
            "metric": m,
            "value": NORMAL[m],
            "unit": UNITS[m],
            "observed_at": stamp,
        }
        for m in metrics
    ]


async def seated(db, flow: Flow, clinic, chair, patient, *, start: bool) -> Seat:
    device, key = await make_device(db, clinic, chair, name=f"MX450 {uuid.uuid4().hex[:6]}")
    session_id = await flow.schedule(patient, chair)
    r = await flow.check_in(session_id, device)
    assert r.status_code == 200, r.text
    if start:
        r = await flow.post(f"/{session_id}/start")
        assert r.status_code == 200, r.text
    return Seat(session_id, device, device_auth(key))


@pytest.fixture
async def infusing(db, flow: Flow, clinic, chair, patient) -> Seat:
    """Checked in and started at the fake clock's now, monitor bound, nothing sent yet."""
    return await seated(db, flow, clinic, chair, patient, start=True)


async def board_watching(db, clinic, now: datetime) -> None:
    """A live board of the clinic, as an app instance reports it every few seconds."""
    await realtime_service.record_presence(
        db, instance_id="board-1", boards={clinic.id: 1}, now=now
    )


async def run_at(db, flow: Flow, at: datetime, clinic=None) -> int:
    """Move the clock to `at` and run the job (with a board watching when `clinic` is given)."""
    flow.clock.set(at)
    if clinic is not None:
        await board_watching(db, clinic, at)
    return await run_technical_alarms(db, at)


async def active(flow: Flow, session_id: str) -> dict[str, dict[str, Any]]:
    """Active alarms by episode, as the session's alarm list shows them."""
    items = await session_alarms(flow, session_id)
    found = {a["episode"]: a for a in items if a["state"] == "active"}
    assert len(found) == sum(1 for a in items if a["state"] == "active"), "two alarms, one episode"
    return found


async def by_id(flow: Flow, session_id: str, alarm_id: str) -> dict[str, Any]:
    [alarm] = [a for a in await session_alarms(flow, session_id) if a["id"] == alarm_id]
    return alarm


async def events_of(db, alarm_id: str) -> list[str]:
    rows = await db.scalars(select(Event).where(Event.type.like("alarm_%")).order_by(Event.seq))
    return [e.type for e in rows if e.payload["alarm"]["id"] == alarm_id]


async def event_count(db) -> int:
    return int(await db.scalar(select(func.count()).select_from(Event)) or 0)


class TestNoData:
    async def test_medium_at_30_s_high_at_120_s_then_the_next_reading_clears_it(
        self, db, flow: Flow, clinic, infusing: Seat
    ):
        t0 = flow.clock.now()
        await post_readings(flow, infusing.auth, sent(t0, "spo2", "hr"))

        assert await run_at(db, flow, t0 + timedelta(seconds=29), clinic) == 0
        assert await active(flow, infusing.session_id) == {}

        assert await run_at(db, flow, t0 + timedelta(seconds=30), clinic) == 2
        medium = await active(flow, infusing.session_id)
        assert set(medium) == NO_DATA
        for alarm in medium.values():
            assert (alarm["kind"], alarm["priority"]) == ("technical", "medium")
            assert f"no data from {infusing.device.name}" in alarm["message"]
            assert alarm["sounding"] is True
        assert "SpO2" in medium["technical:no_data_spo2"]["message"]

        # At 119 s only the monitor's own silence (>= 60 s) is new; no data is still medium.
        assert await run_at(db, flow, t0 + timedelta(seconds=119), clinic) == 1
        priorities = {
            e: a["priority"] for e, a in (await active(flow, infusing.session_id)).items()
        }
        assert priorities == {
            "technical:no_data_spo2": "medium",
            "technical:no_data_hr": "medium",
            "technical:device_offline": "medium",
        }

        await run_at(db, flow, t0 + timedelta(seconds=120), clinic)
        high = await active(flow, infusing.session_id)
        for episode in NO_DATA:
            alarm = high[episode]
            assert alarm["id"] == medium[episode]["id"], "the same alarm rises, no second one"
            assert alarm["priority"] == "high"
            assert datetime.fromisoformat(alarm["priority_since"]) == flow.clock.now()
            assert [h["event"] for h in alarm["history"]] == ["raised", "priority_raised"]
            assert await events_of(db, alarm["id"]) == ["alarm_raised", "alarm_priority_raised"]
        # Silent for 120 s: the monitor itself is offline too.
        assert "technical:device_offline" in high

        back = t0 + timedelta(seconds=121)
        flow.clock.set(back)
        await post_readings(flow, infusing.auth, sent(back, "spo2", "hr"))
        assert await run_at(db, flow, back + timedelta(seconds=1), clinic) == 3
        assert await active(flow, infusing.session_id) == {}
        for episode in NO_DATA:
            cleared = await by_id(flow, infusing.session_id, high[episode]["id"])
            assert cleared["state"] == "cleared"
            assert cleared["cleared_reason"] == "cause gone"
            assert datetime.fromisoformat(cleared["cleared_at"]) == flow.clock.now()
            assert (await events_of(db, cleared["id"]))[-1] == "alarm_cleared"

    async def test_an_acknowledged_no_data_alarm_sounds_again_when_it_rises(
        self, db, flow: Flow, clinic, infusing: Seat
    ):
        t0 = flow.clock.now()
        await post_readings(flow, infusing.auth, sent(t0, "spo2", "hr"))
        await run_at(db, flow, t0 + timedelta(seconds=30), clinic)
        medium = (await active(flow, infusing.session_id))["technical:no_data_spo2"]
        r = await flow.client.post(
            f"/api/v1/alarms/{medium['id']}/ack", json={"note": "probe off"}, headers=flow.nurse
        )
        assert r.status_code == 200, r.text
        assert datetime.fromisoformat(r.json()["acknowledged_at"]) == flow.clock.now()
        assert r.json()["sounding"] is False

        await run_at(db, flow, t0 + timedelta(seconds=120), clinic)
        high = (await active(flow, infusing.session_id))["technical:no_data_spo2"]
        assert (high["id"], high["priority"]) == (medium["id"], "high")
        assert high["acknowledged_at"] is None
        assert high["sounding"] is True

    async def test_a_rerun_with_nothing_changed_writes_nothing(
        self, db, flow: Flow, clinic, infusing: Seat
    ):
        t0 = flow.clock.now()
        await post_readings(flow, infusing.auth, sent(t0, "spo2", "hr"))
        assert await run_at(db, flow, t0 + timedelta(seconds=40), clinic) == 2
        before = await event_count(db)
        assert await run_at(db, flow, t0 + timedelta(seconds=41), clinic) == 0
        assert await event_count(db) == before
        assert set(await active(flow, infusing.session_id)) == NO_DATA

    async def test_pulse_rate_alone_satisfies_the_heart_rate_check(
        self, db, flow: Flow, clinic, infusing: Seat
    ):
        t0 = flow.clock.now()
        await post_readings(flow, infusing.auth, sent(t0, "spo2", "pr"))
        flow.clock.set(t0 + timedelta(seconds=25))
        await post_readings(flow, infusing.auth, sent(flow.clock.now(), "pr"))
        # SpO2 silent 35 s, PR only 10 s: HR would be 35 s silent if PR did not count.
        await run_at(db, flow, t0 + timedelta(seconds=35), clinic)
        assert set(await active(flow, infusing.session_id)) == {"technical:no_data_spo2"}
        await run_at(db, flow, t0 + timedelta(seconds=55), clinic)
        assert "technical:no_data_hr" in await active(flow, infusing.session_id)

    async def test_a_monitor_that_never_sent_counts_from_check_in(
        self, db, flow: Flow, clinic, infusing: Seat
    ):
        t0 = flow.clock.now()
        await run_at(db, flow, t0 + timedelta(seconds=29), clinic)
        assert await active(flow, infusing.session_id) == {}
        await run_at(db, flow, t0 + timedelta(seconds=30), clinic)
        assert set(await active(flow, infusing.session_id)) == NO_DATA


class TestNibpOverdue:
    async def test_raised_after_interval_plus_2_min_and_cleared_by_a_bp_reading(
        self, db, flow: Flow, clinic, infusing: Seat
    ):
        t0 = flow.clock.now()
        await run_at(db, flow, t0 + timedelta(minutes=12) - timedelta(seconds=1), clinic)
        assert "technical:nibp_overdue" not in await active(flow, infusing.session_id)

        await run_at(db, flow, t0 + timedelta(minutes=12), clinic)
        overdue = (await active(flow, infusing.session_id))["technical:nibp_overdue"]
        assert overdue["priority"] == "medium"
        assert "NIBP overdue" in overdue["message"]

        flow.clock.advance(seconds=10)
        await post_readings(flow, infusing.auth, sent(flow.clock.now(), "sbp", "dbp"))
        await run_at(db, flow, flow.clock.now() + timedelta(seconds=1), clinic)
        assert "technical:nibp_overdue" not in await active(flow, infusing.session_id)
        cleared = await by_id(flow, infusing.session_id, overdue["id"])
        assert (cleared["state"], cleared["cleared_reason"]) == ("cleared", "cause gone")

    async def test_a_bp_taken_in_time_keeps_it_quiet(self, db, flow: Flow, clinic, infusing: Seat):
        t0 = flow.clock.now()
        flow.clock.set(t0 + timedelta(minutes=9))
        await post_readings(flow, infusing.auth, sent(flow.clock.now(), "sbp", "dbp"))
        await run_at(db, flow, t0 + timedelta(minutes=13), clinic)
        assert "technical:nibp_overdue" not in await active(flow, infusing.session_id)

    async def test_the_interval_runs_from_the_start_of_the_infusion_not_the_check_in(
        self, db, flow: Flow, clinic, chair, patient
    ):
        seat = await seated(db, flow, clinic, chair, patient, start=False)
        flow.clock.advance(minutes=20)
        assert (await flow.post(f"/{seat.session_id}/start")).status_code == 200
        started = flow.clock.now()
        await run_at(db, flow, started + timedelta(minutes=11), clinic)
        assert "technical:nibp_overdue" not in await active(flow, seat.session_id)
        await run_at(db, flow, started + timedelta(minutes=12), clinic)
        assert "technical:nibp_overdue" in await active(flow, seat.session_id)

    async def test_a_nurses_vitals_check_counts_as_the_bp(
        self, db, flow: Flow, clinic, infusing: Seat
    ):
        t0 = flow.clock.now()
        flow.clock.set(t0 + timedelta(minutes=9))
        r = await flow.post(
            f"/{infusing.session_id}/vitals-check",
            vitals_check(flow.clock.now(), "nibp_infusing"),
        )
        assert r.status_code == 200, r.text
        await run_at(db, flow, t0 + timedelta(minutes=13), clinic)
        assert "technical:nibp_overdue" not in await active(flow, infusing.session_id)


class TestDeviceOffline:
    async def test_closed_ingest_socket_raises_and_reconnect_clears(
        self, db, flow: Flow, clinic, infusing: Seat
    ):
        t0 = flow.clock.now()
        await run_at(db, flow, t0 + timedelta(seconds=5), clinic)
        assert "technical:device_offline" not in await active(flow, infusing.session_id)

        await devices_service.record_ingest_socket(
            db, device_id=infusing.device.id, connected=False, now=t0 + timedelta(seconds=10)
        )
        await run_at(db, flow, t0 + timedelta(seconds=11), clinic)
        offline = (await active(flow, infusing.session_id))["technical:device_offline"]
        assert offline["priority"] == "medium"
        assert "offline" in offline["message"]
        assert infusing.device.name in offline["message"]

        await devices_service.record_ingest_socket(
            db, device_id=infusing.device.id, connected=True, now=t0 + timedelta(seconds=15)
        )
        await run_at(db, flow, t0 + timedelta(seconds=16), clinic)
        assert "technical:device_offline" not in await active(flow, infusing.session_id)
        cleared = await by_id(flow, infusing.session_id, offline["id"])
        assert cleared["state"] == "cleared"


class TestClockSkew:
    async def test_a_skewed_clock_raises_a_low_alarm_until_it_is_no_longer_flagged(
        self, db, flow: Flow, clinic, infusing: Seat
    ):
        t0 = flow.clock.now()
        device = update(Device).where(Device.id == infusing.device.id)
        await db.execute(device.values(clock_skewed_since=t0, clock_skew_s=95.0))
        await run_at(db, flow, t0 + timedelta(seconds=5), clinic)
        skew = (await active(flow, infusing.session_id))["technical:clock_skew"]
        assert skew["priority"] == "low"
        assert "clock" in skew["message"]

        await db.execute(device.values(clock_skewed_since=None, clock_skew_s=0.5))
        await run_at(db, flow, t0 + timedelta(seconds=10), clinic)
        assert "technical:clock_skew" not in await active(flow, infusing.session_id)


class TestNoBoard:
    async def test_infusing_with_no_board_ever_connected_raises_medium(
        self, db, flow: Flow, infusing: Seat
    ):
        await run_at(db, flow, flow.clock.now() + timedelta(seconds=1))
        alarms = await active(flow, infusing.session_id)
        assert set(alarms) == {"technical:no_board"}
        assert alarms["technical:no_board"]["priority"] == "medium"

    async def test_a_fresh_board_presence_clears_it(self, db, flow: Flow, clinic, infusing: Seat):
        t0 = flow.clock.now()
        await run_at(db, flow, t0 + timedelta(seconds=1))
        [raised] = (await active(flow, infusing.session_id)).values()
        await run_at(db, flow, t0 + timedelta(seconds=2), clinic)
        assert await active(flow, infusing.session_id) == {}
        assert (await by_id(flow, infusing.session_id, raised["id"]))["state"] == "cleared"

    async def test_a_stale_board_presence_does_not_count(
        self, db, flow: Flow, clinic, infusing: Seat
    ):
        t0 = flow.clock.now()
        await board_watching(db, clinic, t0)
        await run_at(db, flow, t0 + timedelta(seconds=29))
        assert "technical:no_board" not in await active(flow, infusing.session_id)
        await run_at(db, flow, t0 + timedelta(seconds=31))
        assert "technical:no_board" in await active(flow, infusing.session_id)

    async def test_not_raised_in_recovery_and_cleared_when_infusion_completes(
        self, db, flow: Flow, clinic, chair, patient
    ):
        seat = await seated(db, flow, clinic, chair, patient, start=True)
        t0 = flow.clock.now()
        await run_at(db, flow, t0 + timedelta(seconds=1))
        raised = (await active(flow, seat.session_id))["technical:no_board"]
        flow.clock.set(t0 + timedelta(minutes=40))
        r = await flow.post(f"/{seat.session_id}/complete")
        assert r.status_code == 200, r.text
        assert (await flow.get(seat.session_id))["state"] == "recovery"
        await run_at(db, flow, flow.clock.now() + timedelta(seconds=1))
        assert "technical:no_board" not in await active(flow, seat.session_id)
        assert (await by_id(flow, seat.session_id, raised["id"]))["state"] == "cleared"

    async def test_checked_in_but_not_infusing_needs_no_board(
        self, db, flow: Flow, clinic, chair, patient
    ):
        seat = await seated(db, flow, clinic, chair, patient, start=False)
        await run_at(db, flow, flow.clock.now() + timedelta(seconds=1))
        assert await active(flow, seat.session_id) == {}


class TestSessionNoLongerMonitored:
    async def test_cancelling_a_checked_in_session_clears_its_alarms(
        self, db, flow: Flow, clinic, chair, patient
    ):
        seat = await seated(db, flow, clinic, chair, patient, start=False)
        t0 = flow.clock.now()
        assert await run_at(db, flow, t0 + timedelta(seconds=30), clinic) == 2
        raised = await active(flow, seat.session_id)
        assert set(raised) == NO_DATA

        r = await flow.post(f"/{seat.session_id}/cancel", {"reason": "patient unwell"})
        assert r.status_code == 200, r.text
        assert await run_at(db, flow, t0 + timedelta(seconds=40), clinic) == 2
        assert await active(flow, seat.session_id) == {}
        for alarm in raised.values():
            cleared = await by_id(flow, seat.session_id, alarm["id"])
            assert cleared["state"] == "cleared"
            assert cleared["cleared_reason"] == "session no longer monitored"
            assert (await events_of(db, alarm["id"]))[-1] == "alarm_cleared"
        assert await run_at(db, flow, t0 + timedelta(minutes=5), clinic) == 0
        r = await flow.client.get("/api/v1/alarms?state=active", headers=flow.nurse)
        assert r.json()["total"] == 0
