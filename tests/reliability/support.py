"""What the reliability scenarios share: a clinic with N infusing sessions seeded through the
services, the app as a uvicorn process that the test can SIGKILL and start again on the same
port, read-only checks of what the database holds, and the figures file of each scenario."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from app.core.config import Settings
from app.core.db import create_engine
from app.core.migrations import PROJECT_ROOT
from bench import seed as bench_seed
from tests.conftest import TEST_SECRET
from tests.fixtures.proxy import free_port

FIGURES_DIR = PROJECT_ROOT / "build" / "reliability"
NURSE = "rel-nurse"
PASSWORD = "reliability-password-123"  # a throwaway local database
START_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class Clinic:
    clinic_id: str
    device_keys: list[str]
    device_ids: list[str]
    session_ids: list[str]


async def seed_infusing(url: str, sessions: int, *, batch: int = 25) -> Clinic:
    """Migrate, then one clinic with a nurse and a physician (password PASSWORD) and `sessions`
    chairs, each with its monitor (device key) and a session screened, checked in and infusing
    since a minute ago: the benchmark's seeding (`bench.seed`)."""
    settings = Settings(env="test", database_url=url, secret_key=TEST_SECRET)
    seeded = await bench_seed.seed(
        settings,
        sessions,
        batch=batch,
        label="Reliability",
        nurse=NURSE,
        physician="rel-physician",
        password=PASSWORD,
    )
    return Clinic(seeded.clinic_id, seeded.device_keys, seeded.device_ids, seeded.session_ids)


async def nurse_headers(http: httpx.AsyncClient) -> dict[str, str]:
    r = await http.post("/api/v1/auth/login", json={"username": NURSE, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


class AppServer:
    """`uvicorn app.main:create_app` (one worker) on a fixed port: started, SIGKILLed and
    started again on the same port, as a supervisor (systemd, Kubernetes) would restart it."""

    def __init__(self, database_url: str, log_path: Path, **settings: str) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.env: dict[str, str] = {
            **os.environ,
            "APP_ENV": "test",
            "APP_DATABASE_URL": database_url,
            "APP_SECRET_KEY": TEST_SECRET,
            "APP_LOG_LEVEL": "WARNING",
            **{f"APP_{name.upper()}": value for name, value in settings.items()},
        }
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.kills = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> float:
        """Start the process and wait until /readyz answers 200; returns the seconds it took."""
        assert self.process is None or self.process.returncode is not None
        began = time.monotonic()
        command = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory"]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        command += ["--no-access-log"]
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *command, cwd=PROJECT_ROOT, env=self.env, stdout=log, stderr=log
            )
        self.starts += 1
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2) as http:
            async with asyncio.timeout(START_TIMEOUT_S):
                while True:
                    if self.process.returncode is not None:
                        raise RuntimeError(
                            f"the app exited with {self.process.returncode}; see {self.log_path}"
                        )
                    try:
                        if (await http.get("/readyz")).status_code == 200:
                            return time.monotonic() - began
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.1)

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, open transactions die with the connections."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        self.kills += 1

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    def log_errors(self) -> list[str]:
        """Lines of the server log that report an error or a traceback."""
        if not self.log_path.exists():
            return []
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [ln for ln in lines if '"level": "error"' in ln or ln.startswith("Traceback")]


async def rows(url: str, statement: str, **params: Any) -> list[tuple[Any, ...]]:
    """Run one read-only query and return its rows."""
    engine = create_engine(Settings(env="test", database_url=url))
    try:
        async with engine.connect() as conn:
            return [tuple(r) for r in (await conn.execute(text(statement), params)).all()]
    finally:
        await engine.dispose()


async def sequence_faults(url: str) -> dict[str, Any]:
    """Holes and duplicates in the event streams: every stream's seqs must be 1..last_seq."""
    found = await rows(
        url,
        "SELECT e.stream, count(*), count(DISTINCT e.seq), min(e.seq), max(e.seq), s.last_seq "
        "FROM event e JOIN event_stream s ON s.stream = e.stream GROUP BY e.stream, s.last_seq",
    )
    faults = {}
    for stream, count, distinct, low, high, last in found:
        if not (count == distinct == high == last and low == 1):
            faults[stream] = {"events": count, "distinct": distinct, "min": low, "max": high}
    return {"streams": len(found), "events": sum(r[1] for r in found), "faults": faults}


async def verify_audit(url: str) -> tuple[int, str]:
    """`ketamine-monitor verify-audit` as an operator runs it; (exit code, output)."""
    tool = Path(sys.executable).with_name("ketamine-monitor")
    process = await asyncio.create_subprocess_exec(
        str(tool),
        "verify-audit",
        env={**os.environ, "APP_DATABASE_URL": url, "APP_ENV": "test", "APP_LOG_LEVEL": "ERROR"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace").strip()


def write_figures(scenario: str, figures: dict[str, Any]) -> Path:
    """build/reliability/<scenario>.json: the last run's figures, for docs/reliability.md."""
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    path = FIGURES_DIR / f"{scenario}.json"
    stamped = {"scenario": scenario, "finished_at": datetime.now(UTC).isoformat(), **figures}
    path.write_text(json.dumps(stamped, indent=2, sort_keys=True, default=str) + "\n")
    return path


def count_by_status(acked: dict[str, dict[str, str]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for results in acked.values():
        for status in results.values():
            out[status] = out.get(status, 0) + 1
    return out
