"""WebSocket ``/ws/board``: the live board (issue 8). Protocol in the README ("Live board").

* Handshake: a staff bearer token (``Authorization: Bearer``) or the browser's ``km_session``
  cookie (same-origin only), roles nurse, physician and admin, checked before ``accept``;
  anything else is refused with 1008 (HTTP 403). Device keys are refused.
* First client message: ``{"subscribe": {"clinic": true}}`` or ``{"subscribe": {"sessions":
  [ids]}}``, optionally ``"resume": {"clinic": seq, "sessions": {"<id>": seq}}`` and
  ``"max_rate_hz"`` and ``"batch": true`` (live events then come as ``{"type": "events",
  "events": [...]}`` frames of whatever was waiting, in order). A wrong one gets ``{"type": "error", "status": 4xx, ...}`` naming the field
  and the client may try again.
* The server subscribes to the hub first, then sends a ``snapshot`` (or, on resume, the missed
  events from the database, or ``gap`` + ``snapshot`` beyond the resume window), then live
  events, each stream in ``seq`` order without duplicates or holes.
* ``{"type": "ping"}`` every 10 s; a client that sends nothing for 30 s is closed (1001); any
  message (``{"type": "pong"}``) counts. A client that cannot keep up gets ``resync`` and 1013.
* The credential is re-checked every minute (which keeps a browser session alive while its board
  is open); a logged-out session, revoked token or deactivated user closes the socket (1008).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import structlog
from fastapi import APIRouter, WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect

from app.auth import service as auth_service
from app.auth.dependencies import SESSION_COOKIE
from app.auth.domain import Principal
from app.core.clock import Clock
from app.core.config import Settings
from app.core.errors import DATABASE_UNAVAILABLE, AppError, Unauthorized
from app.core.types import Role
from app.devices import service as devices_service
from app.realtime.board import BoardConnection
from app.realtime.runtime import Realtime
from app.realtime.schemas import BoardRequest
from app.realtime.snapshot import Scope
from app.realtime.start import start_board

log = structlog.get_logger(__name__)

router = APIRouter()

PATH = "/ws/board"
# Module attributes, read at run time, so tests can shorten them.
PING_INTERVAL_S = 10.0
IDLE_TIMEOUT_S = 30.0
RECHECK_INTERVAL_S = 60.0
FIRST_MESSAGE_TIMEOUT_S = 30.0
MAX_CONNECTION_S = 12 * 3600.0
RESYNC_TIMEOUT_S = 1.0

POLICY_VIOLATION = 1008
GOING_AWAY = 1001
TRY_AGAIN_LATER = 1013
BOARD_ROLES = frozenset({Role.NURSE, Role.PHYSICIAN, Role.ADMIN})
RESYNC = json.dumps({"type": "resync", "detail": "too slow; reconnect and resume"})


class _Stop(Exception):
    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Credential:
    kind: str  # "bearer" or "cookie"
    value: str


def credential(websocket: WebSocket, settings: Settings) -> Credential | str:
    """The handshake's staff credential, or why it is refused."""
    header = websocket.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return "Authorization header must be 'Bearer <token>'"
        if devices_service.looks_like_device_key(token):
            return "device keys may only use the ingest endpoints"
        return Credential("bearer", token)
    cookie = websocket.cookies.get(SESSION_COOKIE)
    if cookie:
        if not _same_origin(websocket, settings):
            return "cross-origin board connection refused"
        return Credential("cookie", cookie)
    return "send a bearer token or the session cookie"


def _same_origin(websocket: WebSocket, settings: Settings) -> bool:
    # A cookie is sent by the browser from any page: refuse other sites' pages (CSWSH).
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser
    host = websocket.headers.get("host", "")
    allowed = {f"http://{host}", f"https://{host}"}
    if settings.base_url:
        parts = urlsplit(settings.base_url)
        allowed.add(f"{parts.scheme}://{parts.netloc}")
    return origin.rstrip("/") in allowed


async def resolve(realtime: Realtime, cred: Credential, principal: Principal | None) -> Principal:
    """The staff user behind the credential, in a short committed transaction (a browser
    session's idle timer is touched). Unauthorized when it no longer holds."""
    settings, now = realtime.settings, realtime.clock.now()
    async with realtime.sessionmaker() as s, s.begin():
        if cred.kind == "cookie":
            auth = await auth_service.resolve_cookie(s, cred.value, now=now, settings=settings)
            return auth.principal
        if principal is not None and principal.token_expires_at is not None:
            # The token opened the socket; after that only revocation and the user count.
            now = min(now, principal.token_expires_at - timedelta(seconds=1))
        return await auth_service.resolve_bearer(s, cred.value, now=now, settings=settings)


def error_message(status: int, error: str, detail: str) -> str:
    return json.dumps({"type": "error", "status": status, "error": error, "detail": detail})


def parse_request(text: str) -> BoardRequest | str:
    try:
        obj = json.loads(text)
    except ValueError as exc:
        return error_message(400, "InvalidJSON", f"message is not valid JSON: {exc}")
    except RecursionError:
        return error_message(400, "InvalidJSON", "message: nested too deeply")
    try:
        request = BoardRequest.model_validate(obj)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)[:5]
        detail = "; ".join(".".join(str(p) for p in e["loc"]) + f": {e['msg']}" for e in errors)
        return error_message(422, "ValidationError", detail)
    sub = request.subscribe
    if sub is None and request.resume is None:
        return error_message(422, "ValidationError", "subscribe: required")
    if sub is not None and sub.clinic == bool(sub.sessions):
        return error_message(
            422, "ValidationError", "subscribe: give either clinic: true or a list of sessions"
        )
    return request


class BoardSocket:
    def __init__(
        self, websocket: WebSocket, realtime: Realtime, cred: Credential, principal: Principal
    ) -> None:
        self.websocket = websocket
        self.realtime = realtime
        self.cred = cred
        self.principal = principal
        self.clock: Clock = realtime.clock
        self.last_rx = asyncio.get_running_loop().time()

    async def _send(self, text: str) -> None:
        try:
            await self.websocket.send_text(text)
        except (WebSocketDisconnect, OSError, RuntimeError) as exc:
            raise _Stop(None) from exc

    async def _receive(self, wait_s: float | None) -> str:
        try:
            message = await asyncio.wait_for(self.websocket.receive(), wait_s)
        except TimeoutError as exc:
            raise _Stop(GOING_AWAY, "no subscription received") from exc
        if message["type"] == "websocket.disconnect":
            raise _Stop(None)
        self.last_rx = asyncio.get_running_loop().time()
        text = message.get("text")
        if text is None:
            text = (message.get("bytes") or b"").decode("utf-8", "replace")
        return str(text)

    async def run(self) -> None:
        code: int | None = None
        conn: BoardConnection | None = None
        try:
            conn = await self._subscribe()
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._pump(conn))
                tasks.create_task(self._reader())
                tasks.create_task(self._keepalive(conn))
                tasks.create_task(self._overflow(conn))
        except* _Stop as stopped:
            stop = stopped.exceptions[0]
            assert isinstance(stop, _Stop)
            code = stop.code
            if code is not None:
                with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect, TimeoutError):
                    if code == TRY_AGAIN_LATER:
                        await asyncio.wait_for(self.websocket.send_text(RESYNC), RESYNC_TIMEOUT_S)
                    await asyncio.wait_for(
                        self.websocket.close(code=code, reason=stop.reason), RESYNC_TIMEOUT_S
                    )
        finally:
            if conn is not None:
                self.realtime.hub.unsubscribe(conn)
                self.realtime.metrics.board_connections.dec()
            log.info(
                "ws_board_ended",
                user_id=str(self.principal.user_id),
                close_code=code,
                **({} if conn is None else conn.describe()),
            )

    async def _subscribe(self) -> BoardConnection:
        while True:
            parsed = parse_request(await self._receive(FIRST_MESSAGE_TIMEOUT_S))
            if isinstance(parsed, str):
                await self._send(parsed)
                continue
            conn = BoardConnection(
                clinic_id=self.principal.clinic_id,
                sessionmaker=self.realtime.sessionmaker,
                send=self._send,
                metrics=self.realtime.metrics,
                queue_size=self.realtime.settings.board_queue_size,
                max_rate_hz=parsed.max_rate_hz,
                batch=parsed.batch,
            )
            scope = _scope(self.principal, parsed)
            # Subscribed before anything is read, so nothing committed meanwhile is missed.
            self.realtime.hub.subscribe(conn)
            self.realtime.metrics.board_connections.inc()
            try:
                await start_board(
                    conn,
                    scope,
                    parsed.resume,
                    settings=self.realtime.settings,
                    now=self.clock.now(),
                )
            except AppError as exc:
                self.realtime.hub.unsubscribe(conn)
                self.realtime.metrics.board_connections.dec()
                await self._send(error_message(exc.status_code, type(exc).__name__, exc.detail))
                continue
            except DATABASE_UNAVAILABLE as exc:
                self.realtime.hub.unsubscribe(conn)
                self.realtime.metrics.board_connections.dec()
                raise _Stop(TRY_AGAIN_LATER, "database unavailable; retry later") from exc
            return conn

    async def _pump(self, conn: BoardConnection) -> None:
        await conn.pump()

    async def _reader(self) -> None:
        while True:
            text = await self._receive(None)
            if len(text) > 4096:
                await self._send(error_message(413, "PayloadTooLarge", "message: too long"))

    async def _overflow(self, conn: BoardConnection) -> None:
        await conn.overflowed.wait()
        self.realtime.metrics.board_slow_clients_cut.inc()
        log.warning("ws_board_slow_client_cut", user_id=str(self.principal.user_id))
        raise _Stop(TRY_AGAIN_LATER, "too slow; reconnect and resume")

    async def _keepalive(self, conn: BoardConnection) -> None:
        loop = asyncio.get_running_loop()
        opened = last_check = loop.time()
        while True:
            await asyncio.sleep(PING_INTERVAL_S)
            now = loop.time()
            if now - self.last_rx >= IDLE_TIMEOUT_S:
                raise _Stop(GOING_AWAY, 'client silent; answer pings with {"type": "pong"}')
            if now - opened >= MAX_CONNECTION_S:
                raise _Stop(GOING_AWAY, "maximum connection time reached; reconnect and resume")
            if now - last_check >= RECHECK_INTERVAL_S:
                last_check = now
                await self._recheck()
            conn.ping()

    async def _recheck(self) -> None:
        try:
            principal = await resolve(self.realtime, self.cred, self.principal)
        except Unauthorized as exc:
            raise _Stop(POLICY_VIOLATION, exc.detail) from exc
        except DATABASE_UNAVAILABLE as exc:
            log.warning("ws_board_recheck_failed", error=type(exc).__name__)
            return
        if principal.role not in BOARD_ROLES or principal.clinic_id != self.principal.clinic_id:
            raise _Stop(POLICY_VIOLATION, "role or clinic changed")


def _scope(principal: Principal, request: BoardRequest) -> Scope:
    sub, resume = request.subscribe, request.resume
    clinic = sub.clinic if sub is not None else resume is not None and resume.clinic is not None
    ids: list[Any] = list(sub.sessions) if sub is not None else []
    if resume is not None:
        ids += [s for s in resume.sessions if s not in ids]
    return Scope(clinic_id=principal.clinic_id, clinic=clinic, session_ids=tuple(ids))


@router.websocket(PATH)
async def board_socket(websocket: WebSocket) -> None:
    """Live board: snapshot, then events; see the module docstring and the README."""
    realtime: Realtime = websocket.app.state.realtime
    cred = credential(websocket, realtime.settings)
    if isinstance(cred, str):
        await websocket.close(POLICY_VIOLATION, cred)
        return
    try:
        principal = await resolve(realtime, cred, None)
    except Unauthorized as exc:
        await websocket.close(POLICY_VIOLATION, exc.detail)
        return
    except DATABASE_UNAVAILABLE as exc:
        log.warning("ws_board_database_unavailable", error=type(exc).__name__)
        await websocket.close(TRY_AGAIN_LATER, "database unavailable; retry later")
        return
    if principal.role not in BOARD_ROLES:
        await websocket.close(POLICY_VIOLATION, "the board is for nurses, physicians and admins")
        return
    await websocket.accept()
    log.info("ws_board_opened", user_id=str(principal.user_id), via=principal.via)
    await BoardSocket(websocket, realtime, cred, principal).run()
