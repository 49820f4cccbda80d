"""A real uvicorn server (on the test's loop) over a committed database, with a clinic, chair,
monitor and staff, for the live-board tests (Starlette's TestClient cannot share the loop)."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.main import create_app
from app.realtime import service as realtime_service
from app.realtime import ws as board_ws
from app.realtime.service import NewEvent
from tests.fixtures.clock import FakeClock
from tests.fixtures.databases import TEST_REDIS_URL
from tests.fixtures.factories import (
    bearer,
    make_approved_protocol,
    make_chair,
    make_clinic,
    make_device,
    make_eligible_patient,
    make_user,
)
from tests.fixtures.server import serving
from tests.fixtures.sessions import Flow

SECRET = "test-secret-key-that-is-long-enough-0123456789"
_ids = itertools.count(1)


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    async with serving(app) as host:
        yield host


@dataclass
class Seeded:
    clinic: Any
    chair: Any
    monitor: Any
    device_key: str
    protocol: Any
    nurse: Any
    physician: Any
    patients: list[Any]


async def seed(url: str, patients: int = 3) -> Seeded:
    settings = Settings(env="test", database_url=url, secret_key=SECRET)
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as db, db.begin():
            clinic = await make_clinic(db)
            protocol = await make_approved_protocol(db, clinic)
            chair = await make_chair(db, clinic)
            monitor, key = await make_device(db, clinic, chair)
            nurse = await make_user(db, clinic, "nurse")
            physician = await make_user(db, clinic, "physician")
            people = [await make_eligible_patient(db, clinic) for _ in range(patients)]
        return Seeded(clinic, chair, monitor, key, protocol, nurse, physician, people)
    finally:
        await engine.dispose()


@dataclass
class Live:
    host: str
    app: FastAPI
    clock: FakeClock
    settings: Settings
    seeded: Seeded
    http: httpx.AsyncClient
    extra_chairs: list[Any] = field(default_factory=list)

    @property
    def nurse_headers(self) -> dict[str, str]:
        return bearer(self.seeded.nurse, self.settings, now=self.clock.now())

    def board(self, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        return connect(
            f"ws://{self.host}{board_ws.PATH}",
            additional_headers=self.nurse_headers if headers is None else headers,
            **kwargs,
        )

    def flow(self) -> Flow:
        s = self.seeded
        return Flow(self.http, self.clock, (s.nurse, s.physician), self.settings, s.protocol)

    async def started_session(self, index: int = 0) -> str:
        s = self.seeded
        return await self.flow().started(s.patients[index], s.chair, s.monitor)

    async def write(
        self, session_id: str, n: int, *, metric: str = "spo2", batch: int = 1, pad: int = 0
    ) -> None:
        """``n`` transactions of ``batch`` reading events each on the session's stream, committed
        through the app's sessionmaker (so they are published as in production)."""
        for _ in range(n):
            async with self.app.state.sessionmaker() as db, db.begin():
                await realtime_service.append(
                    db,
                    clinic_id=self.seeded.clinic.id,
                    events=[
                        NewEvent(
                            type="reading",
                            session_id=uuid.UUID(session_id),
                            payload={
                                "metric": metric,
                                "value": 90 + next(_ids) % 10,
                                "pad": secrets.token_hex(pad // 2),
                            },
                        )
                        for _ in range(batch)
                    ],
                    now=self.clock.now(),
                )

    async def ingest(self, *values: float, host: str | None = None) -> None:
        now = self.clock.now()
        readings = [
            {
                "id": f"r{next(_ids)}",
                "metric": "spo2",
                "value": v,
                "unit": "%",
                "observed_at": now.isoformat(),
            }
            for v in values
        ]
        r = await self.http.post(
            f"http://{host or self.host}/api/v1/vitals",
            json={"readings": readings},
            headers={"Authorization": f"Bearer {self.seeded.device_key}"},
        )
        assert r.status_code == 200, r.text


def live_settings(url: str, **changes: Any) -> Settings:
    return Settings(
        env="test",
        database_url=url,
        secret_key=SECRET,
        scheduler_enabled=False,
        **changes,
    )


@asynccontextmanager
async def live_server(
    url: str, seeded: Seeded, clock: FakeClock, **changes: Any
) -> AsyncIterator[Live]:
    settings = live_settings(url, **changes)
    app = create_app(settings, clock=clock)
    async with serve(app) as host, httpx.AsyncClient(base_url=f"http://{host}") as http:
        yield Live(host, app, clock, settings, seeded, http)


@pytest.fixture
async def seeded(migrated_url: str) -> Seeded:
    return await seed(migrated_url)


@pytest.fixture
async def live(migrated_url: str, seeded: Seeded) -> AsyncIterator[Live]:
    async with live_server(migrated_url, seeded, FakeClock()) as server:
        yield server


async def recv(ws: ClientConnection, wait_s: float = 10) -> dict[str, Any]:
    """The next message that is not a ping."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=wait_s))
        assert isinstance(message, dict)
        if message.get("type") != "ping":
            return message


async def recv_until(ws: ClientConnection, done: Any, wait_s: float = 15) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async with asyncio.timeout(wait_s):
        while not done(out):
            out.append(await recv(ws, wait_s))
    return out


async def quiet(ws: ClientConnection, seconds: float = 0.5) -> list[dict[str, Any]]:
    """Whatever else arrives within ``seconds`` (should be nothing)."""
    out: list[dict[str, Any]] = []
    try:
        while True:
            out.append(await recv(ws, seconds))
    except TimeoutError:
        return out


__all__ = ["TEST_REDIS_URL"]


async def close_code(ws: ClientConnection, wait_s: float = 5) -> tuple[int | None, list[str]]:
    """Read until the server closes: (its close code, the message types seen)."""
    seen: list[str] = []
    try:
        async with asyncio.timeout(wait_s):
            async for raw in ws:
                seen.append(json.loads(raw).get("type"))
    except ConnectionClosed as closed:
        return (None if closed.rcvd is None else closed.rcvd.code), seen
    return ws.close_code, seen
