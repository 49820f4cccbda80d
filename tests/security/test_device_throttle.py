"""Device-key guessing is throttled per client address (sliding window, failures only): many
wrong ``Bearer kmd_...`` keys from one address on POST /api/v1/vitals and the /ws/ingest
handshake start getting 429 with Retry-After, a valid device elsewhere is unaffected, valid
keys never count, and the block lifts with time."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from app.core.config import Settings
from app.main import create_app
from app.vitals import ws as vitals_ws
from tests.fixtures.clock import FakeClock
from tests.fixtures.factories import make_chair, make_clinic, make_device
from tests.fixtures.server import serving
from tests.realtime.conftest import SECRET, Seeded, seed
from tests.security.conftest import record_figures

LIMIT = 5
WINDOW_S = 60.0
ATTACKER, MONITORS = "198.51.100.7", "203.0.113.50"


def wrong_key() -> str:
    return "kmd_" + secrets.token_urlsafe(32)


def readings_body(clock: FakeClock, n: int = 1) -> dict[str, Any]:
    return {
        "readings": [
            {
                "id": secrets.token_hex(8),
                "metric": "spo2",
                "value": 97,
                "unit": "%",
                "observed_at": clock.now().isoformat(),
            }
            for _ in range(n)
        ]
    }


@asynccontextmanager
async def from_address(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        secret_key=SECRET,
        device_key_max_failures=LIMIT,
        device_key_failure_window_s=WINDOW_S,
    )


async def test_wrong_keys_from_one_address_get_429_while_other_addresses_work(
    app: FastAPI, db: AsyncSession, clock: FakeClock
) -> None:
    clinic = await make_clinic(db)
    _, key = await make_device(db, clinic, await make_chair(db, clinic))
    valid = {"Authorization": f"Bearer {key}"}
    statuses: list[int] = []
    async with from_address(app, ATTACKER) as attacker, from_address(app, MONITORS) as monitors:
        # Valid keys never count: a busy monitor address is never throttled by its own traffic.
        for _ in range(3 * LIMIT):
            r = await attacker.post("/api/v1/vitals", json=readings_body(clock), headers=valid)
            assert r.status_code == 200, r.text
        for _ in range(LIMIT):
            r = await attacker.post(
                "/api/v1/vitals",
                json=readings_body(clock),
                headers={"Authorization": f"Bearer {wrong_key()}"},
            )
            statuses.append(r.status_code)
        assert statuses == [401] * LIMIT

        clock.advance(seconds=10)
        blocked = await attacker.post(
            "/api/v1/vitals",
            json=readings_body(clock),
            headers={"Authorization": f"Bearer {wrong_key()}"},
        )
        assert blocked.status_code == 429, blocked.text
        assert blocked.json()["error"] == "TooManyRequests"
        assert "failed device keys" in blocked.json()["detail"]
        # The oldest failure ages out of the window 50 s from now.
        assert blocked.headers["retry-after"] == str(int(WINDOW_S) - 10)
        assert blocked.headers["x-content-type-options"] == "nosniff"
        # Every device-key request from that address waits, or guessing would go on unhindered
        # (a right guess answered 200 among the 429s).
        also_blocked = await attacker.get("/api/v1/devices/me", headers=valid)
        assert also_blocked.status_code == 429

        # Another address with a valid key is not affected, nor is staff traffic.
        for _ in range(3):
            r = await monitors.post("/api/v1/vitals", json=readings_body(clock), headers=valid)
            assert r.status_code == 200, r.text
        assert (await attacker.get("/api/v1/auth/me")).status_code == 401
        # A wrong key from the other address is a plain 401: the count is per address.
        r = await monitors.post(
            "/api/v1/vitals",
            json=readings_body(clock),
            headers={"Authorization": f"Bearer {wrong_key()}"},
        )
        assert r.status_code == 401

        # Cleared by time: once the window has passed, the address is heard again.
        clock.advance(seconds=WINDOW_S - 10)
        r = await attacker.post("/api/v1/vitals", json=readings_body(clock), headers=valid)
        assert r.status_code == 200, r.text
        r = await attacker.post(
            "/api/v1/vitals",
            json=readings_body(clock),
            headers={"Authorization": f"Bearer {wrong_key()}"},
        )
        assert r.status_code == 401
    record_figures(
        "device_key_throttle_rest",
        {
            "limit": LIMIT,
            "window_s": WINDOW_S,
            "valid_requests_not_counted": 3 * LIMIT,
            "wrong_keys_before_429": LIMIT,
            "retry_after_s": int(blocked.headers["retry-after"]),
        },
    )


async def test_defaults_let_a_monitor_fleet_through_one_address(
    app: FastAPI, db: AsyncSession
) -> None:
    """The default limit with the benchmark's pattern: many monitors with valid keys from one
    address (127.0.0.1) plus a few stale keys never reach 429."""
    defaults = Settings(env="test", database_url="sqlite+aiosqlite://")
    throttle = app.state.device_key_throttle
    throttle.max_failures = defaults.device_key_max_failures
    throttle.window = timedelta(seconds=defaults.device_key_failure_window_s)
    clinic = await make_clinic(db)
    keys = [(await make_device(db, clinic))[1] for _ in range(10)]
    async with from_address(app, "127.0.0.1") as fleet:
        for round_ in range(5):
            for key in keys:
                r = await fleet.get(
                    "/api/v1/devices/me", headers={"Authorization": f"Bearer {key}"}
                )
                assert r.status_code == 200, (round_, r.text)
        for _ in range(defaults.device_key_max_failures - 1):
            r = await fleet.get(
                "/api/v1/devices/me", headers={"Authorization": f"Bearer {wrong_key()}"}
            )
            assert r.status_code == 401
        r = await fleet.get("/api/v1/devices/me", headers={"Authorization": f"Bearer {keys[0]}"})
        assert r.status_code == 200
    assert defaults.device_key_max_failures >= 10


@pytest.fixture
async def seeded(migrated_url: str) -> Seeded:
    return await seed(migrated_url, patients=0)


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_ingest_socket_handshake_is_throttled_per_address(
    migrated_url: str, seeded: Seeded
) -> None:
    clock = FakeClock()
    settings = Settings(
        env="test",
        database_url=migrated_url,
        secret_key=SECRET,
        scheduler_enabled=False,
        device_key_max_failures=3,
        device_key_failure_window_s=WINDOW_S,
    )
    app = create_app(settings, clock=clock)
    async with serving(app) as host:
        url = f"ws://{host}{vitals_ws.PATH}"

        def socket(key: str, address: str = "127.0.0.1") -> Any:
            return connect(
                url,
                additional_headers={"Authorization": f"Bearer {key}"},
                local_addr=(address, 0),
            )

        refused: list[int] = []
        for _ in range(3):
            with pytest.raises(InvalidStatus) as wrong:
                async with socket(wrong_key()):
                    pass
            refused.append(wrong.value.response.status_code)
        assert refused == [403, 403, 403]  # closed 1008 before accept: not throttled yet

        with pytest.raises(InvalidStatus) as throttled:
            async with socket(wrong_key()):
                pass
        response = throttled.value.response
        assert response.status_code == 429
        assert 1 <= int(response.headers["Retry-After"]) <= WINDOW_S
        assert json.loads(response.body)["error"] == "TooManyRequests"
        assert response.headers["X-Content-Type-Options"] == "nosniff"

        # REST from the same address shares the count.
        async with httpx.AsyncClient(base_url=f"http://{host}") as http:
            r = await http.post(
                "/api/v1/vitals",
                json=readings_body(clock),
                headers={"Authorization": f"Bearer {wrong_key()}"},
            )
            assert r.status_code == 429
            assert int(r.headers["retry-after"]) >= 1

        # A valid monitor from another address (127.0.0.2) connects and is acknowledged.
        async with socket(seeded.device_key, "127.0.0.2") as ws:
            await ws.send(json.dumps({"msg_id": 1, **readings_body(clock)}))
            async with asyncio.timeout(10):
                while (reply := json.loads(await ws.recv())).get("type") == "ping":
                    pass
            assert reply["type"] == "ack", reply
            assert reply["results"][0]["status"] in ("created", "unrouted"), reply

        clock.advance(seconds=WINDOW_S)
        async with socket(seeded.device_key) as ws:  # cleared by time
            await ws.send(json.dumps({"msg_id": 2, **readings_body(clock)}))
            async with asyncio.timeout(10):
                while (reply := json.loads(await ws.recv())).get("type") == "ping":
                    pass
            assert reply["type"] == "ack", reply
    record_figures(
        "device_key_throttle_ws",
        {"limit": 3, "handshakes_refused_403": 3, "handshake_429": 1, "rest_429_same_address": 1},
    )


def test_retry_after_counts_down_to_the_oldest_failure() -> None:
    from datetime import UTC, datetime

    from app.core.throttle import FailureThrottle

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    throttle = FailureThrottle(max_failures=3, window=timedelta(seconds=60), max_addresses=2)
    for i in range(3):
        throttle.record_failure("a", t0 + timedelta(seconds=i))
    assert throttle.retry_after_s("a", t0 + timedelta(seconds=2)) == 58
    assert throttle.retry_after_s("a", t0 + timedelta(seconds=59, milliseconds=500)) == 1
    assert throttle.retry_after_s("a", t0 + timedelta(seconds=60)) is None  # one aged out
    assert throttle.retry_after_s("b", t0) is None
    # Bounded memory: a third address pushes out the ones with nothing in the window.
    throttle.record_failure("b", t0 + timedelta(seconds=1))
    throttle.record_failure("c", t0 + timedelta(seconds=120))
    assert throttle.addresses == 1


async def test_a_throttled_handshake_without_the_denial_extension_is_closed_1008() -> None:
    """Servers that cannot answer a WebSocket handshake with HTTP get the policy close."""
    from app.core.throttle import CredentialThrottleMiddleware, FailureThrottle

    clock = FakeClock()
    throttle = FailureThrottle(max_failures=1, window=timedelta(seconds=60), max_addresses=1)
    throttle.record_failure("198.51.100.9", clock.now())
    throttle.record_failure("198.51.100.10", clock.now())  # pushes the other one out
    assert throttle.addresses == 1
    throttle.record_failure("198.51.100.9", clock.now())

    async def never_called(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("a throttled request must not reach the app")

    middleware = CredentialThrottleMiddleware(
        never_called, throttle=throttle, clock=clock, prefix="kmd_"
    )
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(dict(message))

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    scope = {
        "type": "websocket",
        "path": vitals_ws.PATH,
        "headers": [(b"authorization", f"Bearer {wrong_key()}".encode())],
        "client": ("198.51.100.9", 1234),
        "extensions": {},
    }
    await middleware(scope, receive, send)
    assert [(m["type"], m.get("code")) for m in sent] == [("websocket.close", 1008)]
    assert "retry in 60 s" in sent[0]["reason"]
