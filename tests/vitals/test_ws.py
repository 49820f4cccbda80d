"""WebSocket /ws/ingest against a real server: acks in order and only after commit (issue 6 §3).

Starlette's TestClient runs the app on its own loop in a thread, which a database session cannot
cross, so these tests start uvicorn on this test's loop and connect with the websockets client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.core.config import Settings
from app.main import create_app
from app.vitals import service as vitals_service
from app.vitals import ws as vitals_ws
from tests.fixtures.cli import execute, scalar
from tests.fixtures.cli import seed_device as seed
from tests.fixtures.server import serving

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Live:
    url: str
    key: str
    db_url: str

    def connect(self, key: str | None = None) -> Any:
        return connect(self.url, additional_headers={"Authorization": f"Bearer {key or self.key}"})


@pytest.fixture
async def live(migrated_url: str) -> AsyncIterator[Live]:
    key = await asyncio.to_thread(seed, migrated_url)
    app = create_app(Settings(env="test", database_url=migrated_url))
    async with serving(app) as host:
        yield Live(f"ws://{host}{vitals_ws.PATH}", key, migrated_url)


def reading(rid: str, *, value: float = 97, seconds_ago: int = 0) -> dict[str, Any]:
    at = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return {"id": rid, "metric": "spo2", "value": value, "unit": "%", "observed_at": at.isoformat()}


async def reply(ws: ClientConnection) -> dict[str, Any]:
    """The next reply, skipping server pings."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        if message.get("type") != "ping":
            assert isinstance(message, dict)
            return message


async def close_code(ws: ClientConnection) -> int | None:
    """Read (pings) until the server closes; the close code it sent."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout=5)
    except ConnectionClosed as closed:
        return None if closed.rcvd is None else closed.rcvd.code


async def stored(live: Live, *ids: str) -> int:
    """Readings with these ids, counted over a fresh database connection."""
    listed = ", ".join(f"'{i}'" for i in ids)
    statement = f"SELECT count(*) FROM vital_reading WHERE source_id IN ({listed})"
    count: int = await asyncio.to_thread(scalar, live.db_url, statement)
    return count


async def test_pipelined_messages_are_acked_in_order_each_after_commit(live: Live) -> None:
    messages = [
        {"msg_id": 1, "readings": [reading("a1", seconds_ago=2), reading("a2", seconds_ago=1)]},
        {"msg_id": "two", "readings": [reading("b1"), reading("b2", value=95)]},
        {
            "msg_id": 3,
            "sent_at": datetime.now(UTC).isoformat(),
            "readings": [reading(f"c{i}", seconds_ago=i) for i in range(50)],
        },
    ]
    async with live.connect() as ws:
        for message in messages:
            await ws.send(json.dumps(message))
        for message in messages:
            got = await reply(ws)
            assert got["type"] == "ack"
            assert got["ack"] == message["msg_id"]
            assert got["clock_skewed"] is False
            ids = [r["id"] for r in message["readings"]]
            assert [(r["id"], r["status"]) for r in got["results"]] == [(i, "created") for i in ids]
            # Acknowledged means committed: visible to another connection at once.
            assert await stored(live, *ids) == len(ids)


async def test_resending_a_message_answers_duplicate_and_stores_nothing_new(live: Live) -> None:
    message = json.dumps({"msg_id": "m-1", "readings": [reading("d1"), reading("d2")]})
    async with live.connect() as ws:
        await ws.send(message)
        assert {r["status"] for r in (await reply(ws))["results"]} == {"created"}
    async with live.connect() as ws:  # a monitor re-sends what it is unsure of after reconnecting
        await ws.send(message)
        again = await reply(ws)
    assert again["ack"] == "m-1"
    assert [(r["id"], r["status"]) for r in again["results"]] == [
        ("d1", "duplicate"),
        ("d2", "duplicate"),
    ]
    assert await stored(live, "d1", "d2") == 2


async def test_per_reading_rejections_and_conflicts_are_results_not_errors(live: Live) -> None:
    async with live.connect() as ws:
        await ws.send(json.dumps({"msg_id": 1, "readings": [reading("e1", value=97)]}))
        await reply(ws)
        body = {"msg_id": 2, "readings": [reading("e1", value=90), reading("e2", value=101)]}
        await ws.send(json.dumps(body))
        got = await reply(ws)
    assert [(r["id"], r["status"], r["code"]) for r in got["results"]] == [
        ("e1", "conflict", "conflict"),
        ("e2", "rejected", "implausible_value"),
    ]


async def test_broken_messages_get_an_error_and_the_connection_stays_open(live: Live) -> None:
    too_many = {"msg_id": "big", "readings": [reading(f"x{i}") for i in range(1001)]}
    broken: list[tuple[str, str, Any, str]] = [
        ("{not json", "InvalidJSON", None, "not valid JSON"),
        ("[1, 2]", "ValidationError", None, "JSON object"),
        (json.dumps({"msg_id": 7}), "ValidationError", 7, "readings"),
        (json.dumps({"readings": [reading("y")]}), "ValidationError", None, "msg_id"),
        (
            json.dumps({"msg_id": "m", "readings": [{"id": "y", "metric": "hr"}]}),
            "ValidationError",
            "m",
            "readings.0.value",
        ),
        (
            json.dumps({"msg_id": "m", "readings": [reading("y")], "extra": 1}),
            "ValidationError",
            "m",
            "extra",
        ),
        (
            json.dumps({"msg_id": True, "readings": [reading("y")]}),
            "ValidationError",
            None,
            "msg_id",
        ),
        (json.dumps(too_many), "PayloadTooLarge", "big", "1000"),
    ]
    async with live.connect() as ws:
        for text, error, ack, named in broken:
            await ws.send(text)
            got = await reply(ws)
            assert got["type"] == "error", text[:80]
            assert (got["error"], got["ack"], got["retry"]) == (error, ack, False), got
            assert named in got["detail"], got["detail"]
        await ws.send(b"\xff\xfe")  # a binary frame that is not even UTF-8
        assert (await reply(ws))["error"] == "InvalidJSON"
        await ws.send(json.dumps({"msg_id": "ok", "readings": [reading("z1")]}))
        got = await reply(ws)
    assert got["ack"] == "ok"
    assert got["results"][0]["status"] == "created"
    assert await stored(live, "y", "x0", "z1") == 1


async def test_database_unavailable_is_a_retryable_error_and_the_connection_stays_open(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable(*_args: Any, **_kwargs: Any) -> Any:
        raise sa_exc.OperationalError("INSERT", {}, ConnectionRefusedError())

    async with live.connect() as ws:
        with monkeypatch.context() as patch:
            patch.setattr(vitals_service, "ingest_many", unreachable)
            await ws.send(json.dumps({"msg_id": 9, "readings": [reading("u1")]}))
            got = await reply(ws)
        assert (got["type"], got["error"], got["ack"], got["retry"]) == (
            "error",
            "ServiceUnavailable",
            9,
            True,
        )
        assert await stored(live, "u1") == 0
        await ws.send(json.dumps({"msg_id": 9, "readings": [reading("u1")]}))
        got = await reply(ws)
    assert got["results"][0]["status"] == "created"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer kmd_not-a-key-of-ours"},
        {"Authorization": "Basic a21kX3g6eQ=="},
        {"Authorization": "Bearer some-staff-token"},
    ],
    ids=["no-header", "wrong-key", "not-bearer", "not-a-device-key"],
)
async def test_a_handshake_without_a_valid_device_key_is_refused(
    live: Live, headers: dict[str, str]
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(live.url, additional_headers=headers):
            pass
    # Closed before accept (1008): the server answers the upgrade request with 403.
    assert refused.value.response.status_code == 403


async def test_the_server_pings(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vitals_ws, "PING_INTERVAL_S", 0.05)
    async with live.connect() as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), timeout=5))
        await ws.send(json.dumps({"type": "pong"}))  # accepted, never answered
        await ws.send(json.dumps({"msg_id": 1, "readings": [reading("p1")]}))
        assert (await reply(ws))["ack"] == 1
    assert first == {"type": "ping"}


async def test_a_revoked_key_closes_an_idle_connection_with_1008(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vitals_ws, "PING_INTERVAL_S", 0.05)
    monkeypatch.setattr(vitals_ws, "REAUTH_INTERVAL_S", 0.2)
    async with live.connect() as ws:
        await ws.send(json.dumps({"msg_id": 1, "readings": [reading("r1")]}))
        assert (await reply(ws))["ack"] == 1
        await asyncio.to_thread(
            execute, live.db_url, "UPDATE device SET revoked_at = CURRENT_TIMESTAMP"
        )
        assert await close_code(ws) == 1008


async def test_a_revoked_key_stops_the_next_message_unstored(live: Live) -> None:
    async with live.connect() as ws:
        await asyncio.to_thread(
            execute, live.db_url, "UPDATE device SET revoked_at = CURRENT_TIMESTAMP"
        )
        await ws.send(json.dumps({"msg_id": 1, "readings": [reading("s1")]}))
        with pytest.raises(ConnectionClosed) as closed:
            await reply(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    assert await stored(live, "s1") == 0


async def test_a_value_the_database_refuses_is_an_error_not_a_retry(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refused(*_args: Any, **_kwargs: Any) -> Any:
        raise sa_exc.DataError("INSERT", {}, ValueError())

    monkeypatch.setattr(vitals_service, "ingest_many", refused)
    async with live.connect() as ws:
        await ws.send(json.dumps({"msg_id": 4, "readings": [reading("v1")]}))
        got = await reply(ws)
    assert (got["error"], got["ack"], got["retry"]) == ("ValidationError", 4, False)


async def test_an_oversized_message_is_refused_unread(live: Live) -> None:
    async with live.connect() as ws:
        await ws.send("x" * (2 * 1024 * 1024 + 1))
        got = await reply(ws)
        assert (got["error"], got["ack"]) == ("PayloadTooLarge", None)
        await ws.send(json.dumps({"msg_id": 1, "readings": [reading("o1")]}))
        assert (await reply(ws))["ack"] == 1


async def test_database_unavailable_during_the_handshake_refuses_it(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable(*_args: Any, **_kwargs: Any) -> Any:
        raise sa_exc.OperationalError("SELECT", {}, ConnectionRefusedError())

    monkeypatch.setattr(vitals_ws, "_authenticate", unreachable)
    with pytest.raises(InvalidStatus):
        async with live.connect():
            pass


async def test_an_unreachable_database_during_the_key_recheck_keeps_the_connection(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0

    async def unreachable(*_args: Any, **_kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        raise sa_exc.OperationalError("SELECT", {}, ConnectionRefusedError())

    monkeypatch.setattr(vitals_ws, "PING_INTERVAL_S", 0.05)
    async with live.connect() as ws:
        monkeypatch.setattr(vitals_ws, "REAUTH_INTERVAL_S", 0.05)
        monkeypatch.setattr(vitals_ws, "_authenticate", unreachable)
        await asyncio.sleep(0.5)
        assert calls >= 2
        await ws.send(json.dumps({"msg_id": 1, "readings": [reading("k1")]}))
        assert (await reply(ws))["ack"] == 1


async def test_the_server_closes_with_1001_after_the_maximum_connection_time(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vitals_ws, "PING_INTERVAL_S", 0.05)
    monkeypatch.setattr(vitals_ws, "MAX_CONNECTION_S", 0.2)
    async with live.connect() as ws:
        assert await close_code(ws) == 1001
