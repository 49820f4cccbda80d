"""Fixtures of the browser tests: one chromium per module, and a real server (on the test's
event loop) that the test may stop and start again on the same port."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn

from app.core.config import Settings
from app.main import create_app
from tests.fixtures.clock import FakeClock
from tests.fixtures.factories import PASSWORD, make_chair, make_device
from tests.fixtures.proxy import free_port
from tests.fixtures.sessions import Flow
from tests.realtime.conftest import Seeded, live_settings, seed
from tests.web.browser import CHROMIUM, Chromium

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)",
)
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Chromium]:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)")
    browser = Chromium()
    yield browser
    browser.close()


class Server:
    """One uvicorn server for ``create_app(settings)``; ``stop`` and ``start`` keep the port."""

    def __init__(self, settings: Settings, clock: FakeClock, port: int | None = None) -> None:
        self.settings, self.clock = settings, clock
        self.port = port or free_port()
        self.app: Any = None
        self.server: uvicorn.Server | None = None
        self.task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = self.app = create_app(self.settings, clock=self.clock)
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.task = asyncio.create_task(self.server.serve())
        async with asyncio.timeout(20):
            while not self.server.started:
                if self.task.done():
                    self.task.result()
                await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self.server is None or self.task is None:
            return
        self.server.should_exit = True
        await asyncio.wait_for(self.task, timeout=20)
        self.server = self.task = None


@dataclass
class Web:
    server: Server
    clock: FakeClock
    settings: Settings
    seeded: Seeded
    http: httpx.AsyncClient
    password: str = PASSWORD
    started: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def flow(self) -> Flow:
        s = self.seeded
        return Flow(self.http, self.clock, (s.nurse, s.physician), self.settings, s.protocol)

    async def started_session(self, index: int = 0) -> str:
        s = self.seeded
        session_id = await self.flow().started(s.patients[index], s.chair, s.monitor)
        self.started.append(session_id)
        return session_id

    async def another_chair(self) -> tuple[Any, Any]:
        """A second chair with its monitor, written through the running app's database."""
        async with self.server.app.state.sessionmaker() as db, db.begin():
            chair = await make_chair(db, self.seeded.clinic)
            monitor, _key = await make_device(db, self.seeded.clinic, chair)
        return chair, monitor

    async def post_readings(
        self, readings: list[dict[str, Any]], *, url: str | None = None
    ) -> dict[str, Any]:
        now = self.clock.now()
        body = {
            "readings": [
                {
                    "id": f"web-{next(_ids)}",
                    "unit": {"spo2": "%", "sbp": "mm[Hg]", "dbp": "mm[Hg]"}.get(
                        r["metric"], "/min"
                    ),
                    **r,
                    "observed_at": (now + timedelta(seconds=r.get("offset_s", 0))).isoformat(),
                }
                for r in readings
            ]
        }
        for r in body["readings"]:
            r.pop("offset_s", None)
        response = await self.http.post(
            f"{url or self.url}/api/v1/vitals",
            json=body,
            headers={"Authorization": f"Bearer {self.seeded.device_key}"},
        )
        assert response.status_code == 200, response.text
        return dict(response.json())


def web_settings(url: str, **changes: Any) -> Settings:
    return live_settings(url, **changes)


@pytest.fixture
async def seeded(migrated_url: str) -> Seeded:
    return await seed(migrated_url)


@asynccontextmanager
async def open_web(url: str, seeded: Seeded, **changes: Any) -> AsyncIterator[Web]:
    clock = FakeClock()
    settings = web_settings(url, **changes)
    server = Server(settings, clock)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
            yield Web(server, clock, settings, seeded, http)
    finally:
        await server.stop()


@pytest.fixture
async def web(migrated_url: str, seeded: Seeded) -> AsyncIterator[Web]:
    async with open_web(migrated_url, seeded) as w:
        yield w
