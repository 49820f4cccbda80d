"""Alarm-path faults (issue 13 point 3): the scheduler crashing, or the server SIGKILLed, while an
alarm is active. Two sessions desaturate (SpO2 85 % for 20 s of device time: the high SpO2 alarm
after its 15 s onset delay); the nurse acknowledges session B's alarm before the fault.
Afterwards both alarms are still active, A's escalates exactly once (one `escalated_at`, one
`alarm_escalated` event: not zero, not two), B's acknowledgement is still there (with its
audit row) and B never escalates.

* Scheduler crash: the app runs in the test's event loop with a FakeClock (the escalation is
  60 s of server time away). The alarm-timer job first dies with a stray CancelledError (a
  driver turning a timeout into a cancellation: what escapes `except Exception`), then, when
  the escalation is due, fails once after writing it (rolled back). The scheduler must go on.
* SIGKILL: the app as a uvicorn process, killed before the escalation is due, right when it
  comes due, and after it happened; real time (60 s) with the scheduler every second.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.alerts import jobs as alerts_jobs
from app.core.config import Settings
from app.main import create_app
from app.notifications import service as notifications_service
from tests.conftest import TEST_SECRET
from tests.fixtures.clock import FakeClock
from tests.fixtures.databases import TEST_DATABASE_URL, create_pg_database, drop_pg_database
from tests.fixtures.server import serving
from tests.reliability.support import (
    FIGURES_DIR,
    AppServer,
    Clinic,
    nurse_headers,
    rows,
    seed_infusing,
    verify_audit,
    write_figures,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ESCALATION_S = 60  # default protocol: an unacknowledged high alarm escalates after 60 s


# A, never acknowledged, escalates exactly once; B, acknowledged before the fault, keeps its
# acknowledgement (and audit row) and never escalates.
ESCALATED_ONCE = {
    "escalation_events": 1,
    "state": "active",
    "escalated": True,
    "acknowledged": False,
    "ack_audit_rows": 0,
}
ACKNOWLEDGED_NEVER_ESCALATED = {
    "escalation_events": 0,
    "state": "active",
    "escalated": False,
    "acknowledged": True,
    "ack_audit_rows": 1,
}


async def fresh_clinic(label: str) -> tuple[str, Clinic]:
    assert TEST_DATABASE_URL is not None
    url = await asyncio.to_thread(
        create_pg_database, TEST_DATABASE_URL, f"{label}_{uuid.uuid4().hex[:6]}"
    )
    return url, await seed_infusing(url, 2)


async def desaturate(http: httpx.AsyncClient, key: str, now: datetime, tag: str) -> None:
    """SpO2 85 % every 4 s for 20 s of device time, ending now: past the 15 s onset delay."""
    readings = [
        {
            "id": f"{tag}-{i}",
            "metric": "spo2",
            "value": 85,
            "unit": "%",
            "observed_at": (now - timedelta(seconds=20 - 4 * i)).isoformat(),
        }
        for i in range(6)
    ]
    r = await http.post(
        "/api/v1/vitals",
        json={"readings": readings},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 200, r.text
    assert {x["status"] for x in r.json()["results"]} == {"created"}


async def spo2_alarm(http: httpx.AsyncClient, headers: dict[str, str], session_id: str) -> Any:
    r = await http.get(f"/api/v1/sessions/{session_id}/alarms", headers=headers)
    assert r.status_code == 200, r.text
    found = [a for a in r.json()["items"] if a["episode"] == "spo2:low"]
    assert len(found) == 1, found
    return found[0]


async def escalation_record(url: str, session_id: str) -> dict[str, Any]:
    """What the database says about the session's escalations and acknowledgements."""
    events = await rows(
        url,
        "SELECT count(*) FROM event WHERE stream = :s AND type = 'alarm_escalated' "
        "AND payload->'alarm'->>'episode' = 'spo2:low'",
        s=f"session:{session_id}",
    )
    alarm = await rows(
        url,
        "SELECT id, state, escalated_at, acknowledged_at FROM alarm "
        "WHERE session_id = :s AND episode = 'spo2:low'",
        s=uuid.UUID(session_id),
    )
    assert len(alarm) == 1, alarm
    audits = await rows(
        url,
        "SELECT count(*) FROM audit_log WHERE action = 'ALARM_ACKNOWLEDGED' AND entity_id = :a",
        a=str(alarm[0][0]),
    )
    return {
        "escalation_events": events[0][0],
        "state": alarm[0][1],
        "escalated": alarm[0][2] is not None,
        "acknowledged": alarm[0][3] is not None,
        "ack_audit_rows": audits[0][0],
    }


async def wait_for(predicate: Any, timeout_s: float, step_s: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(step_s)
    return False


@pytest.mark.timeout(90)
async def test_scheduler_crash_while_an_alarm_is_active(monkeypatch: pytest.MonkeyPatch):
    began = time.monotonic()
    url, clinic = await fresh_clinic("alarm_sched")
    a, b = clinic.session_ids
    clock = FakeClock(datetime.now(UTC))
    settings = Settings(
        env="test",
        database_url=url,
        secret_key=TEST_SECRET,
        scheduler_enabled=True,
        scheduler_interval_s=0.2,
        # log_level stays the default: create_app configures structlog for the whole process,
        # and a WARNING filter would hide INFO events from later tests' capture_logs.
    )
    faults = {"stray_cancel": 0, "failed_after_escalating": 0}
    crash = asyncio.Event()
    real_timers = alerts_jobs.run_alarm_timers
    real_enqueue = notifications_service.enqueue

    async def timers(*args: Any, **kwargs: Any) -> int:
        if crash.is_set() and not faults["stray_cancel"]:
            faults["stray_cancel"] += 1
            raise asyncio.CancelledError  # not a stop: nobody cancelled the scheduler
        return await real_timers(*args, **kwargs)

    async def enqueue(*args: Any, **kwargs: Any) -> Any:
        if not faults["failed_after_escalating"]:
            faults["failed_after_escalating"] += 1  # escalated_at is written, not committed
            raise RuntimeError("injected: the job fails after writing the escalation")
        return await real_enqueue(*args, **kwargs)

    monkeypatch.setattr(alerts_jobs, "run_alarm_timers", timers)
    monkeypatch.setattr(notifications_service, "enqueue", enqueue)
    app = create_app(settings, clock=clock)
    try:
        async with (
            serving(app) as host,
            httpx.AsyncClient(base_url=f"http://{host}", timeout=10) as http,
        ):
            headers = await nurse_headers(http)
            for key, session in zip(clinic.device_keys, (a, b), strict=True):
                await desaturate(http, key, clock.now(), session[:8])
            raised = {s: await spo2_alarm(http, headers, s) for s in (a, b)}
            assert {x["priority"] for x in raised.values()} == {"high"}
            r = await http.post(f"/api/v1/alarms/{raised[b]['id']}/ack", json={}, headers=headers)
            assert r.status_code == 200, r.text

            crash.set()

            async def crashed() -> bool:
                return faults["stray_cancel"] == 1

            assert await wait_for(crashed, 5)
            await asyncio.sleep(0.6)  # three more runs' time
            scheduler_alive = app.state.scheduler.running
            clock.advance(seconds=ESCALATION_S + 1)

            async def escalated() -> bool:
                return (await escalation_record(url, a))["escalated"]

            escalated_in_time = await wait_for(escalated, 10)
            await asyncio.sleep(1.0)  # five more runs: a second escalation would show
            after = {s: await spo2_alarm(http, headers, s) for s in (a, b)}
        records = {s: await escalation_record(url, s) for s in (a, b)}
    finally:
        await asyncio.to_thread(drop_pg_database, url)
    figures = {
        "faults": faults,
        "scheduler_running_after_stray_cancel": scheduler_alive,
        "escalated_within_10_s_of_due": escalated_in_time,
        "alarm_a": records[a],
        "alarm_b": records[b],
        "run_time_s": round(time.monotonic() - began, 1),
    }
    write_figures("alarm-faults-scheduler", figures)

    assert faults == {"stray_cancel": 1, "failed_after_escalating": 1}
    assert scheduler_alive, "the scheduler stopped for good after a job raised CancelledError"
    assert escalated_in_time, "the unacknowledged alarm did not escalate after the crash"
    assert records[a] == ESCALATED_ONCE
    assert records[b] == ACKNOWLEDGED_NEVER_ESCALATED
    assert after[a]["state"] == after[b]["state"] == "active"
    assert after[b]["acknowledged_at"] == r.json()["acknowledged_at"]


@pytest.mark.timeout(180)
async def test_sigkill_while_an_alarm_is_active():
    began = time.monotonic()
    url, clinic = await fresh_clinic("alarm_kill")
    a, b = clinic.session_ids
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    log = FIGURES_DIR / "alarm-faults-server.log"
    log.unlink(missing_ok=True)
    server = AppServer(url, log, scheduler_enabled="true", scheduler_interval_s="1")
    kills: list[str] = []
    try:
        await server.start()
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            headers = await nurse_headers(http)
            for key, session in zip(clinic.device_keys, (a, b), strict=True):
                await desaturate(http, key, datetime.now(UTC), session[:8])
            raised = {s: await spo2_alarm(http, headers, s) for s in (a, b)}
            assert {x["priority"] for x in raised.values()} == {"high"}
            ack = await http.post(
                f"/api/v1/alarms/{raised[b]['id']}/ack",
                json={"note": "at the bedside"},
                headers=headers,
            )
            assert ack.status_code == 200, ack.text
            due = datetime.fromisoformat(raised[a]["priority_since"]) + timedelta(
                seconds=ESCALATION_S
            )

            async def kill_restart(label: str) -> None:
                await server.kill()
                kills.append(f"{label} at {datetime.now(UTC).isoformat(timespec='milliseconds')}")
                await server.start()

            await kill_restart("before due")
            # Right when it comes due: the kill may land before, during or after the job's
            # transaction; whichever, it must end up escalated once.
            await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds() + 0.6))
            await kill_restart("at due")

            async def escalated() -> bool:
                return (await escalation_record(url, a))["escalated"]

            escalated_in_time = await wait_for(escalated, 20, 0.5)
            await kill_restart("after escalation")
            await asyncio.sleep(4)  # four scheduler runs: a second escalation would show
            after = {s: await spo2_alarm(http, headers, s) for s in (a, b)}
        await server.stop()
        records = {s: await escalation_record(url, s) for s in (a, b)}
        audit_code, audit_output = await verify_audit(url)
    finally:
        await server.stop()
        await asyncio.to_thread(drop_pg_database, url)
    figures = {
        "kills": kills,
        "escalated_within_20_s_of_due": escalated_in_time,
        "escalated_after_due_s": None
        if after[a]["escalated_at"] is None
        else round((datetime.fromisoformat(after[a]["escalated_at"]) - due).total_seconds(), 2),
        "alarm_a": records[a],
        "alarm_b": records[b],
        "verify_audit": audit_output,
        "run_time_s": round(time.monotonic() - began, 1),
    }
    write_figures("alarm-faults-sigkill", figures)

    assert escalated_in_time
    assert records[a] == ESCALATED_ONCE
    assert records[b] == ACKNOWLEDGED_NEVER_ESCALATED
    assert after[b]["acknowledged_at"] == ack.json()["acknowledged_at"]
    assert after[b]["acknowledge_note"] == "at the bedside"
    assert after[a]["escalated_at"] is not None
    assert audit_code == 0, audit_output
