"""The realtime machinery of one app instance: publication after commit, the hub, Redis fan-out
between instances (with database polling while Redis is away) and board presence.

Publication: `realtime_service.append` leaves the rows it wrote in ``Session.info``; the
sessionmaker's after-commit hook (`on_commit`) hands the committed ones to the hub of this
instance and queues them for Redis; a rollback drops them (`on_rollback`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

import structlog
from redis import asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from app.core.clock import Clock
from app.core.config import Settings
from app.core.errors import DATABASE_UNAVAILABLE
from app.core.metrics import Metrics
from app.realtime import service as realtime_service
from app.realtime.events import from_row, from_wire, to_wire
from app.realtime.hub import Hub

log = structlog.get_logger(__name__)

CHANNEL_PREFIX = "km:board:"
# Module attributes, read at run time, so tests can shorten them.
POLL_INTERVAL_S = 1.0  # while Redis is down: every subscribed stream from the database
SAFETY_POLL_S = 5.0  # while Redis is up: pub/sub may drop a stream's last message
PRESENCE_INTERVAL_S = 10.0
REDIS_RETRY_S = 1.0
REDIS_QUEUE_SIZE = 10_000
DATABASE_CHECK_S = 2.0  # connected boards hear within about this long that the database is away


def database_notice(up: bool) -> str:
    """The ``status`` frame boards get when the database goes away or comes back."""
    if up:
        return json.dumps({"type": "status", "database": "ok", "detail": "database reachable"})
    return json.dumps(
        {
            "type": "status",
            "database": "unavailable",
            "detail": "the server cannot reach its database: nothing new is stored or shown "
            "until it is back; values on the board may be out of date",
        }
    )


class Realtime:
    def __init__(self, settings: Settings, clock: Clock, metrics: Metrics) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self.hub = Hub()
        self.instance_id = uuid.uuid4().hex
        self.redis_url = settings.redis_url
        self.redis_up: bool | None = None if self.redis_url is None else False
        self.database_up = True
        self._sessionmaker: async_sessionmaker[AsyncSession] | None = None
        self._outgoing: asyncio.Queue[tuple[uuid.UUID, str]] = asyncio.Queue(REDIS_QUEUE_SIZE)
        self._tasks: list[asyncio.Task[None]] = []
        self._reported: set[uuid.UUID] = set()
        self._redis: aioredis.Redis | None = None

    # Session hooks (run synchronously on the event loop, inside commit/rollback) --------------

    def on_commit(self, session: Session) -> None:
        rows = realtime_service.committed_events(session.info)
        if not rows:
            return
        events = [from_row(r) for r in rows]
        self.hub.publish(events)
        if self.redis_url is not None:
            for event in events:
                try:
                    self._outgoing.put_nowait((event.clinic_id, to_wire(event, self.instance_id)))
                except asyncio.QueueFull:
                    # Other instances find it by polling or at the next hole.
                    log.warning("realtime_redis_queue_full")

    def on_rollback(self, session: Session) -> None:
        realtime_service.drop_rolled_back(session.info)

    # Lifecycle ----------------------------------------------------------------------------

    def bind(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        assert self._sessionmaker is not None, "Realtime.bind was not called"
        return self._sessionmaker

    def redis_status(self) -> str:
        if self.redis_up is None:
            return "not configured (single instance: in-process hub)"
        return "ok" if self.redis_up else "down (boards are fed by database polling)"

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._presence_loop(), name="board-presence"))
        self._tasks.append(asyncio.create_task(self._database_watch(), name="database-watch"))
        if self.redis_url is not None:
            client = self._redis = aioredis.from_url(self.redis_url)
            self._tasks.append(asyncio.create_task(self._publisher(client), name="redis-pub"))
            self._tasks.append(asyncio.create_task(self._subscriber(client), name="redis-sub"))
            self._tasks.append(asyncio.create_task(self._poller(), name="board-poller"))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._redis is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._redis.aclose()
            self._redis = None

    # Redis -------------------------------------------------------------------------------

    def _set_redis(self, up: bool, **details: Any) -> None:
        if self.redis_up == up:
            return
        self.redis_up = up
        if up:
            log.info("realtime_redis_up")
        else:
            log.error("realtime_redis_down", **details)

    async def _publisher(self, client: aioredis.Redis) -> None:
        while True:
            clinic_id, text = await self._outgoing.get()
            try:
                await client.publish(f"{CHANNEL_PREFIX}{clinic_id}", text)
            except (RedisError, OSError) as exc:
                self._set_redis(False, error=type(exc).__name__)

    async def _subscriber(self, client: aioredis.Redis) -> None:
        while True:
            pubsub = client.pubsub()
            try:
                await pubsub.psubscribe(f"{CHANNEL_PREFIX}*")
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "psubscribe":
                        # (Re)subscribed: whatever was published meanwhile is in the database.
                        self._set_redis(True)
                        self.hub.poke_all()
                    elif message["type"] == "pmessage":
                        self._received(message["data"])
            except (RedisError, OSError) as exc:
                self._set_redis(False, error=type(exc).__name__)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(REDIS_RETRY_S)

    def _received(self, data: bytes | str) -> None:
        try:
            origin, event = from_wire(data)
        except (ValueError, KeyError, TypeError):
            log.warning("realtime_redis_message_malformed")
            return
        if origin != self.instance_id:  # our own events went to our hub at commit
            self.hub.publish([event])

    async def _poller(self) -> None:
        loop = asyncio.get_running_loop()
        last_safety = loop.time()
        while True:
            await asyncio.sleep(POLL_INTERVAL_S)
            if not self.redis_up or loop.time() - last_safety >= SAFETY_POLL_S:
                last_safety = loop.time()
                self.hub.poke_all()

    # Database ----------------------------------------------------------------------------

    async def check_database(self) -> bool:
        """Probe the database; on a change, tell every connected board (a ``status`` frame:
        their banner), so a board left open during an outage does not look live."""
        error = None
        try:
            async with asyncio.timeout(self.settings.readiness_timeout_s):
                async with self.sessionmaker() as s:
                    await s.execute(text("SELECT 1"))
        except DATABASE_UNAVAILABLE as exc:
            error = type(exc).__name__
        up = error is None
        if up != self.database_up:
            self.database_up = up
            if up:
                log.info("realtime_database_back")
            else:
                log.error("realtime_database_unreachable", error=error)
            self.hub.notify_all(database_notice(up))
            if up:
                self.hub.poke_all()
        return up

    async def _database_watch(self) -> None:
        while True:
            await asyncio.sleep(DATABASE_CHECK_S)
            try:
                await self.check_database()
            except Exception:
                log.exception("database_watch_failed")

    # Presence ----------------------------------------------------------------------------

    async def report_presence(self) -> None:
        counts = self.hub.counts()
        # A clinic whose last board closed is reported once more, with 0.
        boards = {clinic: counts.get(clinic, 0) for clinic in self._reported | set(counts)}
        if not boards:
            return
        async with self.sessionmaker() as s, s.begin():
            await realtime_service.record_presence(
                s, instance_id=self.instance_id, boards=boards, now=self.clock.now()
            )
        self._reported = set(counts)

    async def _presence_loop(self) -> None:
        while True:
            try:
                await self.report_presence()
            except Exception:
                log.exception("board_presence_failed")
            await asyncio.sleep(PRESENCE_INTERVAL_S)
