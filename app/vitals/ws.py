"""WebSocket ``/ws/ingest``: the REST ingest for monitors that keep a connection (issue 6 §3).

Protocol (JSON text frames):

* Handshake: ``Authorization: Bearer kmd_...``. The key is checked before the socket is
  accepted; a missing, unknown, expired or revoked key is refused with close code 1008 (the
  client sees the handshake rejected). Database unreachable during the handshake: 1013.
* Client → server: ``{"msg_id": "<string or int>", "sent_at": optional, "readings": [...]}``,
  each reading as in ``POST /api/v1/vitals``, at most 1,000 per message. ``{"type": "pong"}``
  is accepted and ignored.
* Server → client, one reply per message, in the order received, each sent only after the
  message's readings are committed:
  ``{"type": "ack", "ack": msg_id, "results": [...], "clock_skewed": bool}``, or
  ``{"type": "error", "error": <name>, "detail": <what is wrong, naming the field>,
  "ack": msg_id or null, "retry": bool}``. ``retry: true`` means nothing was stored and the
  same message may be sent again (the database was unreachable); the connection stays open
  after every error reply. Re-sending a message is always safe: its readings come back as
  ``duplicate``.
* Server → client every 10 s: ``{"type": "ping"}`` (no answer needed).
* The device key is re-checked with every message and at least once a minute while idle; a
  revoked key closes the socket with 1008. After an hour the server closes with 1001 so
  connections are refreshed; re-send whatever was not acknowledged after reconnecting.

No database session is held between messages: the handshake and each re-check use their own
short transaction; messages share one with the messages of other connections that arrive
while the previous one is being written (group commit, app/vitals/batcher.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, WebSocket
from pydantic import BaseModel, Field, StrictInt, StrictStr, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.websockets import WebSocketDisconnect

from app.core.clock import Clock
from app.core.errors import DATABASE_UNAVAILABLE
from app.core.schemas import InputModel, UtcTimestamp
from app.devices import service as devices_service
from app.devices.models import Device
from app.vitals.batcher import IngestBatcher, Refused, Revoked, Unavailable
from app.vitals.domain import RawReading
from app.vitals.schemas import (
    MAX_READINGS_PER_REQUEST,
    ReadingIn,
    ReadingResult,
    reading_results,
)

log = structlog.get_logger(__name__)

router = APIRouter()

PATH = "/ws/ingest"
# Module attributes, read at run time, so tests can shorten them.
PING_INTERVAL_S = 10.0
REAUTH_INTERVAL_S = 60.0
MAX_CONNECTION_S = 3600.0
# Replies waiting for the sender; when full the reader waits (back-pressure on the device).
SEND_QUEUE_SIZE = 64

POLICY_VIOLATION = 1008
GOING_AWAY = 1001
TRY_AGAIN_LATER = 1013

MsgId = Annotated[StrictStr, Field(min_length=1, max_length=128)] | StrictInt


class IngestMessage(InputModel):
    """One client message: a batch of readings under the client's own message id."""

    type: Literal["readings"] | None = None
    msg_id: MsgId = Field(description="echoed as `ack` in the reply")
    sent_at: UtcTimestamp | None = Field(
        default=None, description="device time when the message was sent (clock-skew check)"
    )
    readings: list[ReadingIn] = Field(min_length=1)


class AckReply(BaseModel):
    type: Literal["ack"] = "ack"
    ack: str | int
    results: list[ReadingResult]
    clock_skewed: bool


class ErrorReply(BaseModel):
    type: Literal["error"] = "error"
    error: str
    detail: str
    ack: str | int | None = None
    retry: bool = False


PING = json.dumps({"type": "ping"})


class _Stop(Exception):
    """Ends the connection: ``code`` None when the client is gone, else the close code."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def device_key(websocket: WebSocket) -> str | None:
    """The device key of the handshake's ``Authorization: Bearer`` header, if it is one."""
    header = websocket.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not devices_service.looks_like_device_key(token):
        return None
    return token


async def _authenticate(
    sessionmaker: async_sessionmaker[AsyncSession], key: str, clock: Clock
) -> Device | None:
    async with sessionmaker() as s, s.begin():
        return await devices_service.authenticate(s, key, now=clock.now())


def _field(loc: Sequence[Any]) -> str:
    # Name the field, never echo a megabyte of client input.
    return ".".join(p if len(p := str(part)) <= 64 else p[:61] + "..." for part in loc)


def _validation_detail(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    shown = "; ".join(f"{_field(e['loc']) or 'message'}: {e['msg']}" for e in errors[:10])
    more = len(errors) - 10
    return shown + (f"; and {more} more" if more > 0 else "")


def _known_msg_id(obj: Any) -> str | int | None:
    if not isinstance(obj, dict):
        return None
    value = obj.get("msg_id")
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    if isinstance(value, str) and not 1 <= len(value) <= 128:
        return None
    return value


def parse_message(text: str, *, max_length: int) -> IngestMessage | ErrorReply | None:
    """The message, the error reply it deserves, or None for a message that needs no reply."""
    if len(text) > max_length:
        return ErrorReply(
            error="PayloadTooLarge",
            detail=f"message: longer than {max_length} characters; send fewer readings per message",
        )
    try:
        obj = json.loads(text)
    except ValueError as exc:
        return ErrorReply(error="InvalidJSON", detail=f"message is not valid JSON: {exc}")
    except RecursionError:
        return ErrorReply(error="InvalidJSON", detail="message: nested too deeply")
    msg_id = _known_msg_id(obj)
    if not isinstance(obj, dict):
        return ErrorReply(
            error="ValidationError",
            detail=f"message: must be a JSON object, got {type(obj).__name__}",
        )
    if obj.get("type") == "pong":
        return None
    readings = obj.get("readings")
    if isinstance(readings, list) and len(readings) > MAX_READINGS_PER_REQUEST:
        return ErrorReply(
            error="PayloadTooLarge",
            detail=(
                f"readings: {len(readings)} in one message; send at most {MAX_READINGS_PER_REQUEST}"
            ),
            ack=msg_id,
        )
    try:
        return IngestMessage.model_validate(obj)
    except ValidationError as exc:
        return ErrorReply(error="ValidationError", detail=_validation_detail(exc), ack=msg_id)


@dataclass
class _Connection:
    websocket: WebSocket
    key: str
    device_id: uuid.UUID
    sessionmaker: async_sessionmaker[AsyncSession]
    clock: Clock
    batcher: IngestBatcher
    retry_after_s: int
    max_length: int
    committed: int = 0
    outbox: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(SEND_QUEUE_SIZE))
    last_auth: float = field(default_factory=lambda: asyncio.get_running_loop().time())

    async def run(self) -> None:
        code: int | None = None
        try:
            # One task reads and ingests message by message, one sends, one pings and re-checks
            # the key; whichever stops first cancels the others.
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._reader())
                tasks.create_task(self._sender())
                tasks.create_task(self._keepalive())
        except* _Stop as stopped:
            stop = stopped.exceptions[0]
            assert isinstance(stop, _Stop)
            code = stop.code
            if code is not None:
                # The client may have gone away first.
                with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
                    await self.websocket.close(code=code, reason=stop.reason)
        finally:
            log.info(
                "ws_ingest_ended",
                device_id=str(self.device_id),
                committed=self.committed,
                close_code=code,
            )

    async def _reader(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                raise _Stop(None)
            text = message.get("text")
            if text is None:
                data = message.get("bytes") or b""
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    text = "\ufffd"  # reported as invalid JSON
            parsed = parse_message(text, max_length=self.max_length)
            if parsed is None:
                continue
            reply = parsed if isinstance(parsed, ErrorReply) else await self._ingest(parsed)
            await self.outbox.put(reply.model_dump_json())

    async def _ingest(self, msg: IngestMessage) -> AckReply | ErrorReply:
        raws = [
            RawReading(r.id, r.metric, r.value, r.unit, r.observed_at, r.measurement_id)
            for r in msg.readings
        ]
        # Shares a transaction with the messages of other connections (group commit) and
        # returns once it is committed: only then may the device be answered.
        result = await self.batcher.submit(self.key, raws, msg.sent_at)
        if isinstance(result, Revoked):
            raise _Stop(POLICY_VIOLATION, "device key revoked or expired")
        if isinstance(result, Unavailable):
            return ErrorReply(
                error="ServiceUnavailable",
                detail=(
                    "the database is unreachable; nothing was stored, "
                    f"send this message again in {self.retry_after_s} s"
                ),
                ack=msg.msg_id,
                retry=True,
            )
        if isinstance(result, Refused):
            return ErrorReply(
                error="ValidationError",
                detail="readings: a value was refused by the database (out of range or not storable text)",
                ack=msg.msg_id,
            )
        self.last_auth = asyncio.get_running_loop().time()
        self.committed += 1
        return AckReply(
            ack=msg.msg_id,
            results=reading_results(result.outcome.results),
            clock_skewed=result.outcome.clock_skewed,
        )

    async def _sender(self) -> None:
        while True:
            text = await self.outbox.get()
            try:
                await self.websocket.send_text(text)
            except (WebSocketDisconnect, OSError, RuntimeError) as exc:
                raise _Stop(None) from exc

    async def _keepalive(self) -> None:
        loop = asyncio.get_running_loop()
        opened = loop.time()
        while True:
            await asyncio.sleep(PING_INTERVAL_S)
            now = loop.time()
            if now - opened >= MAX_CONNECTION_S:
                raise _Stop(GOING_AWAY, "maximum connection time reached; reconnect")
            if now - self.last_auth >= REAUTH_INTERVAL_S:
                await self._recheck_key()
            # A full queue holds replies already; they keep the connection busy enough.
            with contextlib.suppress(asyncio.QueueFull):
                self.outbox.put_nowait(PING)

    async def _recheck_key(self) -> None:
        try:
            device = await _authenticate(self.sessionmaker, self.key, self.clock)
        except DATABASE_UNAVAILABLE as exc:
            # Not the device's fault: keep the connection and check again later.
            log.warning("ws_ingest_recheck_failed", error=type(exc).__name__)
            return
        if device is None:
            raise _Stop(POLICY_VIOLATION, "device key revoked or expired")
        self.last_auth = asyncio.get_running_loop().time()


async def _record_socket(
    sessionmaker: async_sessionmaker[AsyncSession],
    device_id: uuid.UUID,
    *,
    connected: bool,
    now: datetime,
) -> None:
    """Best effort: a database outage must not break the connection's own handling; the
    device-silent timer still catches a monitor that went away (issue 7 point 8)."""
    try:
        async with sessionmaker() as db, db.begin():
            await devices_service.record_ingest_socket(
                db, device_id=device_id, connected=connected, now=now
            )
    except DATABASE_UNAVAILABLE as exc:
        log.warning("ws_ingest_socket_state_not_recorded", error=type(exc).__name__)


@router.websocket(PATH)
async def ingest_socket(websocket: WebSocket) -> None:
    """Readings over a kept-open connection; see the module docstring for the protocol."""
    state = websocket.app.state
    sessionmaker: async_sessionmaker[AsyncSession] = state.sessionmaker
    clock: Clock = state.clock
    key = device_key(websocket)
    if key is None:
        await websocket.close(POLICY_VIOLATION, "send 'Authorization: Bearer <device key>'")
        return
    try:
        device = await _authenticate(sessionmaker, key, clock)
    except DATABASE_UNAVAILABLE as exc:
        log.warning("ws_ingest_database_unavailable", error=type(exc).__name__)
        await websocket.close(TRY_AGAIN_LATER, "database unavailable; retry later")
        return
    if device is None:
        await websocket.close(POLICY_VIOLATION, "unknown, expired or revoked device key")
        return
    await websocket.accept()
    log.info("ws_ingest_opened", device_id=str(device.id))
    await _record_socket(sessionmaker, device.id, connected=True, now=clock.now())
    connection = _Connection(
        websocket=websocket,
        key=key,
        device_id=device.id,
        sessionmaker=sessionmaker,
        clock=clock,
        batcher=state.ingest_batcher,
        retry_after_s=state.settings.retry_after_s,
        max_length=state.settings.max_body_bytes,
    )
    try:
        await connection.run()
    finally:
        await _record_socket(sessionmaker, device.id, connected=False, now=clock.now())
