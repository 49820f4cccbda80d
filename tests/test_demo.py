"""`ketamine-monitor demo` (what `make demo` runs) starts a usable server with printed logins."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from app import demo
from app.cli import _seed_demo
from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from tests.fixtures.cli import run_cli, scalar
from tests.fixtures.proxy import free_port

OSLO = ZoneInfo("Europe/Oslo")


@pytest.mark.slow
def test_demo_serves_and_its_printed_passwords_work(tmp_path: Path):
    port = free_port()
    script = Path(sys.executable).parent / "ketamine-monitor"
    env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
    proc = subprocess.Popen(
        [str(script), "demo", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + 60
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            output.append(line)
            if "Open http://" in line:
                break
        base = f"http://127.0.0.1:{port}"
        assert f"Open {base}/" in "".join(output)
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("demo did not answer /healthz:\n" + "".join(output))
        text = "".join(output)
        creds = dict(re.findall(r"username (\w+)\s+password (\S+)", text))
        assert set(creds) == {"nurse", "physician", "admin"}
        r = httpx.post(
            f"{base}/api/v1/auth/login",
            json={"username": "nurse", "password": creds["nurse"]},
            timeout=5,
        )
        assert r.status_code == 200, r.text
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        chairs = httpx.get(f"{base}/api/v1/chairs", headers=auth, timeout=5)
        assert len(chairs.json()["items"]) == 4
        today = datetime.now(OSLO).date().isoformat()
        board = httpx.get(f"{base}/api/v1/sessions", params={"day": today}, headers=auth, timeout=5)
        assert board.status_code == 200, board.text
        states = {s["state"] for s in board.json()["items"]}
        assert len(states) >= 4, states
        assert {"infusing", "paused", "recovery", "checked_in", "scheduled"} <= states
        assert (tmp_path / "data" / "demo.db").exists()
        for p in demo.PATIENTS:
            assert p.name not in text
            assert p.name.split()[0] not in text
        # The simulated monitors are alive: readings reach the infusing patient's session.
        infusing = next(s for s in board.json()["items"] if s["state"] == "infusing")
        devices = httpx.get(f"{base}/api/v1/devices", headers=auth, timeout=5).json()["items"]
        monitor = next(d for d in devices if d["chair_id"] == infusing["chair_id"])
        accepted = 0
        while time.monotonic() < deadline + 30 and accepted < 3:
            status = httpx.get(
                f"{base}/api/v1/devices/{monitor['id']}/status", headers=auth, timeout=5
            )
            accepted = status.json()["accepted_count"]
            time.sleep(0.5)
        assert accepted >= 3, status.json()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _seed_once(url: str) -> list[tuple[str, str, str]]:
    async def go() -> list[tuple[str, str, str]]:
        engine = create_engine(Settings(env="test", database_url=url))
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                seeded = await _seed_demo(session)
                assert len(seeded.monitor_keys) == 4
                return list(seeded.credentials)
        finally:
            await engine.dispose()

    return asyncio.run(go())


COUNTED = (
    "patient",
    "screening_version",
    "patient_weight",
    "session_scale_entry",
    "infusion_session",
    "session_state_change",
    "session_rate_segment",
    "device",
    "protocol_version",
    "chair",
    "staff_user",
)


def test_seeding_twice_adds_nothing_the_second_time(migrated_url: str):
    started = time.monotonic()
    first = _seed_once(migrated_url)
    assert time.monotonic() - started < 10
    counts = {table: scalar(migrated_url, f"SELECT count(*) FROM {table}") for table in COUNTED}
    assert counts["patient"] == len(demo.PATIENTS)
    assert counts["infusion_session"] == 6
    assert counts["device"] == 4

    second = _seed_once(migrated_url)

    assert {table: scalar(migrated_url, f"SELECT count(*) FROM {table}") for table in COUNTED} == (
        counts
    )
    assert [c[0] for c in second] == [c[0] for c in first]
    assert [c[2] for c in second] != [c[2] for c in first]  # new passwords at every start
    states = scalar(migrated_url, "SELECT count(DISTINCT state) FROM infusion_session")
    assert states == 6
    check = run_cli(migrated_url, "verify-audit")
    assert check.exit_code == 0, check.output
