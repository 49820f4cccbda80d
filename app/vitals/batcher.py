"""Group commit for WebSocket ingest (issue 12): messages that arrive from any connection while
a transaction is being written wait for it and then share the next transaction.

Under light load a message goes alone, at once; under heavy load a commit carries every message
that queued meanwhile, so the database sees one query of each kind and one commit per group
instead of per message. Each message is still answered only after the commit that stored it.
A group that fails for a reason other than the database being unreachable is split and each
message written on its own, so one message the database refuses cannot fail the others.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import Clock
from app.core.errors import DATABASE_UNAVAILABLE
from app.devices import service as devices_service
from app.vitals import service as vitals_service
from app.vitals.domain import RawReading

log = structlog.get_logger(__name__)

# Messages per transaction at most: bounds the statement sizes and one commit's latency.
MAX_GROUP_MESSAGES = 200


@dataclass(frozen=True, slots=True)
class Stored:
    outcome: vitals_service.IngestOutcome


@dataclass(frozen=True, slots=True)
class Revoked:
    """The device key is no longer valid: nothing was stored."""


@dataclass(frozen=True, slots=True)
class Unavailable:
    """The database is unreachable: nothing was stored; the message may be sent again."""

    error: str


@dataclass(frozen=True, slots=True)
class Refused:
    """The database refused a value (out of range, not storable text): nothing was stored."""


Result = Stored | Revoked | Unavailable | Refused


@dataclass(slots=True)
class _Pending:
    key: str
    raws: Sequence[RawReading]
    sent_at: datetime | None
    reply: asyncio.Future[Result]


class IngestBatcher:
    """One per process; its writer task starts with the first message."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self.sessionmaker = sessionmaker
        self.clock = clock
        self._queue: list[_Pending] = []
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def submit(
        self, key: str, raws: Sequence[RawReading], sent_at: datetime | None
    ) -> Result:
        """Store one message (re-authenticating its key); returns once it is committed."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._wakeup = asyncio.Event()
            self._task = loop.create_task(self._run(), name="ingest-group-commit")
        assert self._wakeup is not None
        reply: asyncio.Future[Result] = loop.create_future()
        self._queue.append(_Pending(key, raws, sent_at, reply))
        self._wakeup.set()
        return await reply

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for pending in self._queue:
            if not pending.reply.done():
                pending.reply.set_result(Unavailable("ShuttingDown"))
        self._queue.clear()

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                group = self._queue[:MAX_GROUP_MESSAGES]
                del self._queue[:MAX_GROUP_MESSAGES]
                try:
                    await self._commit(group)
                except asyncio.CancelledError:
                    # Stopped mid-transaction: committed or not, the devices are told to send
                    # again, which is safe (a stored reading comes back as a duplicate).
                    for pending in group:
                        if not pending.reply.done():
                            pending.reply.set_result(Unavailable("ShuttingDown"))
                    raise
                except Exception as exc:
                    log.exception("ingest_group_failed", messages=len(group))
                    for pending in group:
                        if not pending.reply.done():
                            pending.reply.set_exception(exc)

    async def _commit(self, group: list[_Pending]) -> None:
        try:
            results = await self._transaction(group)
        except DATABASE_UNAVAILABLE as exc:
            log.warning("ws_ingest_database_unavailable", error=type(exc).__name__)
            results = [Unavailable(type(exc).__name__)] * len(group)
        except sa_exc.DBAPIError as exc:
            if len(group) > 1:
                # One message's value, or a deadlock with another writer: each on its own.
                for pending in group:
                    await self._commit([pending])
                return
            if not isinstance(exc, sa_exc.DataError):
                raise
            log.warning("ws_ingest_value_refused")
            results = [Refused()]
        for pending, result in zip(group, results, strict=True):
            if not pending.reply.done():
                pending.reply.set_result(result)

    async def _transaction(self, group: list[_Pending]) -> list[Result]:
        async with self.sessionmaker() as db, db.begin():
            now = self.clock.now()
            # Re-authenticated with every message: the device row is current (its chair
            # binding may have changed) and a revoked key stops at once.
            devices = await devices_service.authenticate_many(db, [p.key for p in group], now=now)
            valid = [(p, d) for p in group if (d := devices[p.key]) is not None]
            outcomes = await vitals_service.ingest_many(
                db,
                [vitals_service.IngestRequest(d, p.raws, p.sent_at) for p, d in valid],
                received_at=now,
            )
        # Leaving the block committed the transaction: only now may the devices be answered.
        stored = {id(p): Stored(o) for (p, _), o in zip(valid, outcomes, strict=True)}
        return [stored.get(id(p), Revoked()) for p in group]
