"""Hypothesis-made garbage on the socket inputs (issue 13 §4): /ws/ingest frames after a valid
handshake, /ws/board client frames, and raw bytes on a real MLLP socket.

Against a real server (uvicorn in a thread, MLLP listener on): the server never fails a
connection with an unhandled error (no 1011 close, no traceback in its logs), it answers with
protocol-level errors only (error replies, AR/AE NAKs, policy close codes), and it stays usable:
after each piece of garbage a valid message is acknowledged, and at the end every acknowledged
reading is stored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from app.core import migrations
from app.core.config import Settings
from app.main import create_app
from tests.fixtures.cli import scalar, seed_device
from tests.fixtures.databases import drop_database, fresh_database_url
from tests.fixtures.factories import PASSWORD
from tests.fixtures.proxy import free_port
from tests.interop.live import add_profile, msa
from tests.interop.samples import er7

# The module's budget is 3 minutes; without coverage the board test takes about 30 s on
# PostgreSQL (a snapshot per connection), the others a few seconds.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(150), pytest.mark.xdist_group("fuzz-garbage")]

EXAMPLES = 150  # per input kind; the module stays well under its 3-minute budget
REPLY_TIMEOUT_S = 10
START_BLOCK, END_BLOCK = b"\x0b", b"\x1c\x0d"
# What a WebSocket close may say after garbage: normal, going away, policy violation, message
# too big. Never 1011 (an unhandled error in the handler).
PROTOCOL_CLOSES = {1000, 1001, 1008, 1009}
NAK_CODES = {"AR", "AE"}


def _settings(examples: int = EXAMPLES) -> Any:
    return settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


# ---------------------------------------------------------------------------------- garbage


def _reading(rid: str, value: Any = 97) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {"id": rid, "metric": "spo2", "value": value, "unit": "%", "observed_at": now}


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([10**400, -(10**400), 2**63, -(2**63) - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
# Fields of a reading given the wrong type or an absurd value, one field at a time.
wrong_readings = st.builds(
    lambda field_name, value: {**_reading("wrong"), field_name: value},
    st.sampled_from(["id", "metric", "value", "unit", "observed_at", "measurement_id", "extra"]),
    json_values,
)


def _deep(depth: int, opener: str, closer: str) -> str:
    return opener * depth + closer * depth


ingest_texts = st.one_of(
    st.text(max_size=200),
    json_values.map(lambda v: json.dumps(v)),
    # A valid message cut short or with a byte flipped.
    st.tuples(st.integers(min_value=0, max_value=120), st.text(max_size=3)).map(
        lambda cut: json.dumps({"msg_id": 1, "readings": [_reading("cut")]})[: cut[0]] + cut[1]
    ),
    st.builds(lambda msg_id: {"msg_id": msg_id, "readings": [_reading("m")]}, json_values).map(
        json.dumps
    ),
    st.builds(lambda readings: {"msg_id": "r", "readings": readings}, json_values).map(json.dumps),
    st.builds(lambda reading: {"msg_id": "w", "readings": [reading]}, wrong_readings).map(
        json.dumps
    ),
    st.sampled_from(
        [
            '{"msg_id": 1, "readings": [' + json.dumps(_reading("nan"))[:-1] + ', "value": NaN}]}',
            '{"msg_id": 1, "readings": ['
            + json.dumps(_reading("inf"))[:-1]
            + ', "value": Infinity}]}',
            '{"msg_id": 1e999, "readings": []}',
            '{"msg_id": ' + "9" * 5000 + ', "readings": []}',
            _deep(100_000, "[", "]"),
            _deep(100_000, '{"a":', "}"),
            '{"msg_id": 1, "readings": ' + _deep(5000, "[", "]") + "}",
            '{"type": "pong"}',
            "null",
            "",
        ]
    ),
)
ingest_frames = st.one_of(
    ingest_texts.map(lambda text: ("text", text)),
    st.binary(max_size=300).map(lambda data: ("bytes", data)),
    ingest_texts.map(lambda text: ("bytes", text.encode("utf-8", "surrogatepass"))),
)
board_frames = st.one_of(
    ingest_texts.map(lambda text: ("text", text)),
    st.builds(lambda sub: json.dumps({"subscribe": sub}), json_values).map(lambda t: ("text", t)),
    st.builds(
        lambda resume: json.dumps({"subscribe": {"clinic": True}, "resume": resume}), json_values
    ).map(lambda t: ("text", t)),
    st.builds(
        lambda rate: json.dumps({"subscribe": {"clinic": True}, "max_rate_hz": rate}), json_scalars
    ).map(lambda t: ("text", t)),
    st.binary(max_size=300).map(lambda data: ("bytes", data)),
    st.just(("text", "x" * 5000)),
)


def _broken_hl7(message: str) -> st.SearchStrategy[bytes]:
    """A valid ORU^R01 with a slice replaced, segments dropped or separators swapped."""
    segments = message.split("\r")
    return st.one_of(
        st.tuples(
            st.integers(min_value=0, max_value=len(message)),
            st.integers(min_value=0, max_value=40),
            st.text(max_size=20),
        ).map(lambda c: (message[: c[0]] + c[2] + message[c[0] + c[1] :]).encode()),
        st.lists(st.sampled_from(segments), max_size=8).map(lambda s: "\r".join(s).encode()),
        st.sampled_from(["|", "^", "~", "\\", "&", "\r"]).flatmap(
            lambda sep: st.sampled_from(["", "||||", "\x00", "^^^^^"]).map(
                lambda other: message.replace(sep, other).encode()
            )
        ),
        st.binary(max_size=300),
        st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    )


def mllp_payloads(message: str) -> st.SearchStrategy[tuple[bool, bytes]]:
    """(framed, bytes): garbage inside a proper 0x0b ... 0x1c0d frame, or bytes as they come."""
    body = _broken_hl7(message)
    return st.one_of(
        body.map(lambda b: (True, START_BLOCK + b.replace(b"\x1c", b"") + END_BLOCK)),
        body.map(lambda b: (False, b)),
        body.map(lambda b: (False, b + END_BLOCK)),  # an end without a start
        body.map(lambda b: (False, START_BLOCK + b)),  # a start without an end
        st.binary(max_size=200).map(lambda b: (False, START_BLOCK * 3 + b + END_BLOCK * 2)),
    )


# ------------------------------------------------------------------------------------ server


@dataclass
class Live:
    url: str
    db_url: str
    device_key: str
    staff_token: str
    mllp_port: int
    sent_readings: int = 0
    sent_hl7: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    def seen(self, outcome: str) -> None:
        self.statuses[outcome] = self.statuses.get(outcome, 0) + 1


class _ErrorLog(logging.Handler):
    """uvicorn's "Exception in ASGI application" and any other error it logs."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    url = fresh_database_url(str(tmp_path_factory.mktemp("garbage")), "garbage")
    migrations.upgrade(url)
    device_key = seed_device(url)
    asyncio.run(add_profile(url))
    port, mllp_port = free_port(), free_port()
    app_settings = Settings(
        env="test",
        database_url=url,
        secret_key="garbage-secret-key-that-is-long-enough-0123456789",
        scheduler_enabled=False,
        mllp_port=mllp_port,
        log_level="WARNING",
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(app_settings), host="127.0.0.1", port=port, log_level="warning")
    )
    errors = _ErrorLog()
    logging.getLogger("uvicorn.error").addHandler(errors)
    thread = threading.Thread(target=server.run, name="garbage-server", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive(), "the server stopped while starting"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        base = f"http://127.0.0.1:{port}"
        login = httpx.post(
            f"{base}/api/v1/auth/login", json={"username": "admin1", "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        with structlog.testing.capture_logs() as logs:
            yield Live(base, url, device_key, login.json()["access_token"], mllp_port)
        assert thread.is_alive(), "the server stopped"
        assert not errors.records, "the server logged errors:\n" + "\n".join(errors.records)
        failed = [e for e in logs if e.get("log_level") in ("error", "critical")]
        assert not failed, f"the app logged errors: {failed}"
    finally:
        server.should_exit = True
        thread.join(20)
        logging.getLogger("uvicorn.error").removeHandler(errors)
        drop_database(url)


# ------------------------------------------------------------------------------ WebSockets


def _ws(live: Live, path: str, token: str) -> ClientConnection:
    return connect(
        live.url.replace("http", "ws", 1) + path,
        additional_headers={"Authorization": f"Bearer {token}"},
        open_timeout=REPLY_TIMEOUT_S,
        max_size=None,
    )


def _send(ws: ClientConnection, frame: tuple[str, Any]) -> None:
    kind, payload = frame
    ws.send(payload if kind == "bytes" else str(payload))


def _reply(ws: ClientConnection) -> dict[str, Any]:
    """The next message that is not a ping."""
    while True:
        message = json.loads(ws.recv(timeout=REPLY_TIMEOUT_S))
        if message.get("type") != "ping":
            assert isinstance(message, dict)
            return message


def _is_pong(frame: tuple[str, Any]) -> bool:
    """The one client message the protocol answers with nothing (a JSON object of type pong)."""
    kind, payload = frame
    try:
        obj = json.loads(payload.decode("utf-8") if kind == "bytes" else payload)
    except (ValueError, RecursionError):
        return False
    return isinstance(obj, dict) and obj.get("type") == "pong"


def _closed_cleanly(closed: ConnectionClosed) -> str:
    code = None if closed.rcvd is None else closed.rcvd.code
    assert code in PROTOCOL_CLOSES, f"closed with {code}: {closed}"
    return f"closed {code}"


def _valid_ingest(live: Live, ws: ClientConnection, tag: str) -> None:
    live.sent_readings += 1
    rid = f"after-garbage-{live.sent_readings}"
    ws.send(json.dumps({"msg_id": tag, "readings": [_reading(rid)]}))
    ack = _reply(ws)
    assert ack["type"] == "ack", ack
    assert ack["ack"] == tag, ack
    assert [r["status"] for r in ack["results"]] == ["created"], ack


@_settings()
@given(frame=ingest_frames)
def test_ingest_answers_garbage_with_errors_and_stays_usable(live: Live, frame) -> None:
    with _ws(live, "/ws/ingest", live.device_key) as ws:
        _send(ws, frame)
        try:
            if _is_pong(frame):
                outcome = "pong, no answer"
            else:
                reply = _reply(ws)
                assert reply["type"] in ("error", "ack"), reply
                if reply["type"] == "error":
                    assert reply["retry"] is False, reply
                    assert reply["error"], reply
                    assert reply["detail"], reply
                else:
                    for result in reply["results"]:
                        assert result["status"] in ("created", "rejected", "duplicate", "conflict")
                    assert _stored_values_are_finite(live), "a NaN or infinite value was stored"
                outcome = reply.get("error", reply["type"])
            _valid_ingest(live, ws, "valid")
        except ConnectionClosed as closed:
            outcome = _closed_cleanly(closed)
            with _ws(live, "/ws/ingest", live.device_key) as again:
                _valid_ingest(live, again, "valid")
    live.seen(f"ingest {outcome}")


def _stored_values_are_finite(live: Live) -> bool:
    # PostgreSQL sorts NaN above every number; SQLite stores NaN as NULL.
    odd = "value IS NULL OR NOT (value > -1e300 AND value < 1e300)"
    return scalar(live.db_url, f"SELECT count(*) FROM vital_reading WHERE {odd}") == 0


@_settings()
@given(frame=board_frames)
def test_board_answers_garbage_with_errors_and_stays_usable(live: Live, frame) -> None:
    with _ws(live, "/ws/board", live.staff_token) as ws:
        _send(ws, frame)
        try:
            reply = _reply(ws)
            if reply["type"] == "error":
                assert 400 <= reply["status"] < 500, reply
                assert reply["detail"], reply
                outcome = reply["error"]
                # The client may try again on the same connection.
                ws.send(json.dumps({"subscribe": {"clinic": True}}))
                assert _reply(ws)["type"] == "snapshot"
            else:
                # Garbage that happens to be a valid subscription or resume: a snapshot, a gap,
                # the missed events or, once they are sent, `resumed`.
                assert reply["type"] in ("snapshot", "gap", "resumed") or "seq" in reply, reply
                outcome = "subscribed"
        except ConnectionClosed as closed:
            outcome = _closed_cleanly(closed)
    live.seen(f"board {outcome}")


def test_board_after_the_garbage(live: Live) -> None:
    with _ws(live, "/ws/board", live.staff_token) as ws:
        ws.send(json.dumps({"subscribe": {"clinic": True}}))
        assert _reply(ws)["type"] == "snapshot"


# ------------------------------------------------------------------------------------ MLLP


def _mllp_read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _frames(data: bytes) -> list[str]:
    assert not data or (data.startswith(START_BLOCK) and data.endswith(END_BLOCK)), data[:200]
    return [f.decode() for f in data[1:-2].split(END_BLOCK + START_BLOCK)] if data else []


def _valid_hl7(live: Live) -> bytes:
    live.sent_hl7 += 1
    message = er7("pcd01_philips_vitals.hl7", **{"PHX-000123": f"FUZZ-{live.sent_hl7}"})
    return START_BLOCK + message.encode() + END_BLOCK


PCD01 = er7("pcd01_philips_vitals.hl7")


@_settings()
@given(payload=mllp_payloads(PCD01))
def test_mllp_answers_garbage_with_naks_and_stays_usable(live: Live, payload) -> None:
    framed, data = payload
    with socket.create_connection(("127.0.0.1", live.mllp_port), REPLY_TIMEOUT_S) as sock:
        sock.sendall(data)
        if framed:
            # A whole frame is a message: it gets its ACK, and the connection carries on.
            sock.sendall(_valid_hl7(live))
        sock.shutdown(socket.SHUT_WR)
        acks = _frames(_mllp_read_all(sock))
    codes = [msa(ack)[0] for ack in acks]
    if framed:
        assert len(codes) == 2, acks
        assert codes[0] in NAK_CODES | {"AA"}, acks
        assert codes[1] == "AA", acks
    else:
        assert set(codes) <= NAK_CODES, acks
        with socket.create_connection(("127.0.0.1", live.mllp_port), REPLY_TIMEOUT_S) as sock:
            sock.sendall(_valid_hl7(live))
            sock.shutdown(socket.SHUT_WR)
            assert [msa(a)[0] for a in _frames(_mllp_read_all(sock))] == ["AA"]
    live.seen("mllp " + ",".join(codes[:1] or ["none"]))


def test_every_acknowledged_message_after_the_garbage_is_stored(live: Live) -> None:
    # Runs after the garbage tests (file order): six readings per PCD-01 message.
    hl7 = scalar(
        live.db_url, "SELECT count(*) FROM vital_reading WHERE source_id LIKE 'hl7:FUZZ-%'"
    )
    assert hl7 == 6 * live.sent_hl7
    acked = scalar(
        live.db_url, "SELECT count(*) FROM vital_reading WHERE source_id LIKE 'after-garbage-%'"
    )
    assert acked == live.sent_readings
    _record(live)


def _record(live: Live) -> None:
    figures = Path(__file__).resolve().parents[2] / "build" / "reliability" / "garbage.json"
    figures.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "examples_per_input": EXAMPLES,
        "valid_readings_after_garbage": live.sent_readings,
        "valid_hl7_messages_after_garbage": live.sent_hl7,
        "outcomes": dict(sorted(live.statuses.items())),
    }
    figures.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
