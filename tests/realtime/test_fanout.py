"""Several instances: one PostgreSQL, Redis pub/sub between them; gap-free sequences under
concurrent writers (needs TEST_DATABASE_URL and TEST_REDIS_URL)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from redis import asyncio as aioredis
from websockets.asyncio.client import connect as websockets_connect

from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.realtime import runtime
from app.realtime import service as realtime_service
from app.realtime.service import NewEvent
from tests.fixtures.clock import FakeClock
from tests.fixtures.databases import TEST_REDIS_URL
from tests.fixtures.factories import bearer
from tests.fixtures.processes import app_process
from tests.fixtures.sessions import Flow
from tests.realtime.conftest import (
    SECRET,
    Seeded,
    live_server,
    live_settings,
    quiet,
    recv,
    recv_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
needs_redis = pytest.mark.skipif(
    TEST_REDIS_URL is None, reason="needs Redis: set TEST_REDIS_URL (make test on CI does)"
)


async def test_concurrent_writers_get_gap_free_increasing_seq(
    migrated_url: str, seeded: Seeded
) -> None:
    engine = create_engine(Settings(env="test", database_url=migrated_url, secret_key=SECRET))
    maker = create_sessionmaker(engine)
    stream_session = uuid.uuid4()

    async def writer(n: int) -> list[int]:
        got: list[int] = []
        for _ in range(n):
            async with maker() as db, db.begin():
                rows = await realtime_service.append(
                    db,
                    clinic_id=seeded.clinic.id,
                    events=[NewEvent("reading", {"v": 1}, stream_session), NewEvent("x", {})],
                    now=FakeClock().now(),
                )
                got += [r.seq for r in rows if r.session_id is not None]
        return got

    try:
        results = await asyncio.gather(*(writer(25) for _ in range(8)))
    finally:
        await engine.dispose()
    every = sorted(s for r in results for s in r)
    assert every == list(range(1, 201))
    for r in results:
        assert r == sorted(r)


@needs_redis
async def test_ingest_on_a_reaches_a_board_on_b_even_when_pubsub_is_killed(
    migrated_url: str, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "POLL_INTERVAL_S", 0.2)
    monkeypatch.setattr(runtime, "REDIS_RETRY_S", 0.2)
    clock = FakeClock()
    async with (
        live_server(migrated_url, seeded, clock, redis_url=TEST_REDIS_URL) as a,
        live_server(migrated_url, seeded, clock, redis_url=TEST_REDIS_URL) as b,
    ):
        for _ in range(50):
            if a.app.state.realtime.redis_up and b.app.state.realtime.redis_up:
                break
            await asyncio.sleep(0.1)
        ready = await b.http.get("/readyz")
        assert ready.json()["redis"] == "ok"
        session_id = await a.started_session()
        stream = f"session:{session_id}"
        async with b.board() as ws:
            await ws.send(json.dumps({"subscribe": {"sessions": [session_id]}}))
            head = (await recv(ws))["seq"]["sessions"][session_id]
            await a.ingest(97)
            first = await recv(ws)
            assert (first["type"], first["seq"], first["data"]["value"]) == (
                "reading",
                head + 1,
                97,
            )
            redis = aioredis.from_url(TEST_REDIS_URL)
            try:
                for i in range(30):
                    await a.ingest(90 + i % 10)
                    if i in (5, 15):
                        await redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
                    await asyncio.sleep(0.02)
            finally:
                await redis.aclose()
            got = await recv_until(ws, lambda g: len(g) >= 30, wait_s=30)
            got += await quiet(ws, 1.5)
            assert [m["seq"] for m in got if m.get("stream") == stream] == list(
                range(head + 2, head + 32)
            )


@needs_redis
async def test_two_app_processes_share_every_event_even_when_pubsub_is_killed(
    migrated_url: str, seeded: Seeded
) -> None:
    """Two uvicorn processes, one PostgreSQL, one Redis: readings ingested on A reach a board
    on B in order, with no duplicate, across two pub/sub connection kills."""
    assert TEST_REDIS_URL is not None
    clock = FakeClock(datetime.now(UTC))  # the processes run on the real clock
    settings = live_settings(migrated_url)
    async with (
        app_process(migrated_url, SECRET, redis_url=TEST_REDIS_URL) as a,
        app_process(migrated_url, SECRET, redis_url=TEST_REDIS_URL) as b,
        httpx.AsyncClient(base_url=f"http://{a}", timeout=10) as http,
    ):
        for host in (a, b):
            ready = (await http.get(f"http://{host}/readyz")).json()
            assert ready["redis"] == "ok", ready
        s = seeded
        flow = Flow(http, clock, (s.nurse, s.physician), settings, s.protocol)
        session_id = await flow.started(s.patients[0], s.chair, s.monitor)
        stream = f"session:{session_id}"
        device = {"Authorization": f"Bearer {s.device_key}"}

        async def ingest(n: int) -> None:
            now = datetime.now(UTC).isoformat()
            body = {"readings": [{"id": f"p{n}", "metric": "spo2", "value": 90 + n % 10,
                                  "unit": "%", "observed_at": now}]}  # fmt: skip
            r = await http.post("/api/v1/vitals", json=body, headers=device)
            assert r.status_code == 200, r.text

        headers = bearer(s.nurse, settings, now=clock.now())
        async with websockets_connect(f"ws://{b}/ws/board", additional_headers=headers) as ws:
            await ws.send(json.dumps({"subscribe": {"sessions": [session_id]}}))
            head = (await recv(ws))["seq"]["sessions"][session_id]
            redis = aioredis.from_url(TEST_REDIS_URL)
            try:
                for n in range(30):
                    await ingest(n)
                    if n in (5, 15):
                        await redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
                    await asyncio.sleep(0.05)
            finally:
                await redis.aclose()
            got = await recv_until(ws, lambda g: len(g) >= 30, wait_s=30)
            got += await quiet(ws, 2.0)
        readings = [m for m in got if m.get("stream") == stream]
        assert [m["seq"] for m in readings] == list(range(head + 1, head + 31))
        assert [m["data"]["value"] for m in readings] == [90 + n % 10 for n in range(30)]
