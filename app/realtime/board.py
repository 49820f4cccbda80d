"""One board connection's event pipeline, independent of the socket: a bounded inbox filled by
the hub, per-stream continuity (drop what was sent, backfill holes from the database), optional
coalescing of readings, and the send loop. The socket adapter is `app.realtime.ws`."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.db import READ_ONLY
from app.core.metrics import Metrics
from app.realtime import service as realtime_service
from app.realtime.events import BoardEvent, from_row

log = structlog.get_logger(__name__)

BACKFILL_BATCH = 1000
# Events per ``events`` frame at most for a board that asked for batched frames.
FRAME_EVENTS = 500
# How long an event that arrives ahead of its stream's next one is held before the gap is
# filled from the database. With several instances one stream is written by more than one
# (ingest on one, scheduler jobs on all): the local event arrives at once, the other's a
# moment later through Redis; reading the database for every such overtaking stalled boards.
HOLE_WAIT_S = 0.25
SESSION_ADDED = "session_added"


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name


POKE = _Marker("poke")  # catch up every stream from the database
PING = _Marker("ping")
PING_TEXT = json.dumps({"type": "ping"})


class _Notice:
    def __init__(self, text: str) -> None:
        self.text = text


Item = BoardEvent | _Marker | _Notice


async def read_session(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncSession:
    """A session whose transaction only reads (SQLite: no write lock)."""
    s = sessionmaker()
    await s.connection(execution_options={READ_ONLY: True})
    return s


class BoardConnection:
    """Events for one board: ``offer`` (hub side, never blocks) and ``pump`` (its own task)."""

    def __init__(
        self,
        *,
        clinic_id: uuid.UUID,
        sessionmaker: async_sessionmaker[AsyncSession],
        send: Callable[[str], Awaitable[None]],
        metrics: Metrics,
        queue_size: int,
        max_rate_hz: float | None = None,
        batch: bool = False,
    ) -> None:
        self.clinic_id = clinic_id
        self.sessionmaker = sessionmaker
        self._send = send
        self.metrics = metrics
        self.inbox: asyncio.Queue[Item] = asyncio.Queue(queue_size)
        self.last: dict[str, int] = {}
        self.follow_clinic = False
        self.overflowed = asyncio.Event()
        self.sent = 0
        self.max_rate_hz = max_rate_hz
        # Batched frames: what the send loop found waiting goes out as one ``events`` frame
        # (a frame per event costs the server and the browser more than the event itself).
        self.batch = batch
        self._frame: list[str] | None = None
        # Coalescing: newest pending reading per (stream, metric), and when each stream may send.
        self._pending: dict[str, dict[str, BoardEvent]] = {}
        self._next_flush: dict[str, float] = {}
        # Events held until their stream's gap closes (by arrival or from the database).
        self._early: dict[str, dict[int, BoardEvent]] = {}
        self._hole_due: dict[str, float] = {}

    # Hub side -------------------------------------------------------------------------------

    def wants(self, event: BoardEvent) -> bool:
        return self.follow_clinic or event.stream in self.last

    def offer(self, event: BoardEvent) -> None:
        if self.overflowed.is_set() or not self.wants(event):
            return
        self._put(event)

    def poke(self) -> None:
        if not self.overflowed.is_set():
            self._put(POKE)

    def ping(self) -> None:
        if not self.overflowed.is_set():
            self._put(PING)

    def notify(self, text: str) -> None:
        if not self.overflowed.is_set():
            self._put(_Notice(text))

    def _put(self, item: Item) -> None:
        try:
            self.inbox.put_nowait(item)
        except asyncio.QueueFull:
            # Cut off rather than grow: the socket task closes it with `resync` and 1013.
            self.overflowed.set()

    # Connection side -------------------------------------------------------------------------

    async def send_text(self, text: str) -> None:
        await self._send(text)

    async def pump(self) -> None:
        """Send what arrives, in order per stream, until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            timeout = None
            due = [*self._next_flush.values(), *self._hole_due.values()]
            if due:
                timeout = max(0.0, min(due) - loop.time())
            try:
                item = await asyncio.wait_for(self.inbox.get(), timeout)
            except TimeoutError:
                await self._flush_due(loop.time())
                await self._fill_holes_due(loop.time())
                await self._send_frame()
                continue
            if self.batch:
                self._frame = []
            await self._take(item)
            while self._frame is not None and len(self._frame) < FRAME_EVENTS:
                try:
                    item = self.inbox.get_nowait()
                except asyncio.QueueEmpty:
                    break
                await self._take(item)
            await self._fill_holes_due(loop.time())
            await self._send_frame()

    async def _take(self, item: Item) -> None:
        if item is PING or isinstance(item, _Notice):
            await self._send_frame()
            await self._send(item.text if isinstance(item, _Notice) else PING_TEXT)
            if self.batch:
                self._frame = []
        elif item is POKE:
            await self.catch_up()
        elif isinstance(item, BoardEvent):
            await self.handle(item, live=True)

    async def _send_frame(self) -> None:
        frame, self._frame = self._frame, None
        if frame:
            await self._send('{"type":"events","events":[' + ",".join(frame) + "]}")

    async def handle(self, event: BoardEvent, *, live: bool) -> None:
        if event.stream not in self.last:
            if not self.follow_clinic:
                return
            # A session stream of the clinic this board has not seen yet: from its start.
            self.last[event.stream] = 0
        last = self.last[event.stream]
        if event.seq <= last:
            return  # already sent (snapshot, backfill or a second delivery)
        if event.seq > last + 1:
            # A hole: the missing events may still be on their way (another instance's, through
            # Redis); held for HOLE_WAIT_S, then read from the database, which has them all.
            self._early.setdefault(event.stream, {})[event.seq] = event
            self._hole_due.setdefault(event.stream, asyncio.get_running_loop().time() + HOLE_WAIT_S)
            return
        await self._emit(event, live=live)
        await self._release(event.stream)

    async def _release(self, stream: str) -> None:
        """Send the held events of ``stream`` that now follow on; forget the ones already sent."""
        early = self._early.get(stream)
        if early is None:
            return
        while (nxt := early.pop(self.last[stream] + 1, None)) is not None:
            await self._emit(nxt, live=True)
        for seq in [seq for seq in early if seq <= self.last[stream]]:
            del early[seq]
        if not early:
            del self._early[stream]
            self._hole_due.pop(stream, None)

    async def _fill_holes_due(self, now: float) -> None:
        for stream in sorted(st for st, due in self._hole_due.items() if due <= now):
            await self.backfill([stream])
            early = self._early.get(stream, {})
            if early:
                # Not in the database either: send what is held, in order, rather than stall.
                log.warning("board_hole_not_in_database", stream=stream, seq=min(early))
                for seq in sorted(early):
                    await self._emit(early.pop(seq), live=True)
            self._early.pop(stream, None)
            self._hole_due.pop(stream, None)

    async def _emit(self, event: BoardEvent, *, live: bool) -> None:
        self.last[event.stream] = event.seq
        new_stream: str | None = None
        if self.follow_clinic and event.type == SESSION_ADDED:
            raw = event.payload.get("session_id")
            if isinstance(raw, str):
                stream = realtime_service.session_stream(uuid.UUID(raw))
                if stream not in self.last:
                    self.last[stream] = 0
                    new_stream = stream
        if self.max_rate_hz and event.metric is not None:
            self._pending.setdefault(event.stream, {})[event.metric] = event
            loop_now = asyncio.get_running_loop().time()
            self._next_flush.setdefault(event.stream, loop_now)
            await self._flush_due(loop_now)
        else:
            await self._flush_stream(event.stream)
            await self._deliver(event, live=live)
        if new_stream is not None:
            await self.backfill([new_stream])

    async def _deliver(self, event: BoardEvent, *, live: bool) -> None:
        if self._frame is not None:
            self._frame.append(event.text)
        else:
            await self._send(event.text)
        self.sent += 1
        self.metrics.board_events_sent.inc()
        if live:
            self.metrics.board_commit_to_send_seconds.observe(
                max(0.0, time.time() - event.committed_at)
            )

    async def _flush_stream(self, stream: str) -> None:
        pending = self._pending.pop(stream, None)
        if pending is None:
            return
        for event in sorted(pending.values(), key=lambda e: e.seq):
            await self._deliver(event, live=True)
        assert self.max_rate_hz
        self._next_flush[stream] = asyncio.get_running_loop().time() + 1 / self.max_rate_hz

    async def _flush_due(self, now: float) -> None:
        for stream, due in sorted(self._next_flush.items()):
            if due > now:
                continue
            if stream in self._pending:
                await self._flush_stream(stream)
            else:
                del self._next_flush[stream]

    async def backfill(self, streams: Iterable[str]) -> None:
        """Send every committed event after what was sent, stream by stream, reading in short
        transactions of at most `BACKFILL_BATCH` events (no session held while sending)."""
        todo = list(streams)
        while todo:
            stream = todo.pop(0)
            while True:
                async with await read_session(self.sessionmaker) as s:
                    rows = await realtime_service.events_after(
                        s, stream=stream, after_seq=self.last.get(stream, 0), limit=BACKFILL_BATCH
                    )
                    events = [from_row(r) for r in rows]
                for event in events:
                    if event.seq == self.last.get(stream, 0) + 1:
                        await self._emit(event, live=False)
                if len(events) < BACKFILL_BATCH:
                    break
            await self._release(stream)

    async def catch_up(self) -> None:
        """Backfill every stream whose head is past what was sent (polling, reconnects)."""
        async with await read_session(self.sessionmaker) as s:
            heads = await realtime_service.stream_heads(s, list(self.last))
        behind = [st for st, head in sorted(heads.items()) if head > self.last.get(st, 0)]
        # The clinic stream first: it announces sessions added meanwhile.
        behind.sort(key=lambda st: not st.startswith("clinic:"))
        await self.backfill(behind)

    def describe(self) -> dict[str, Any]:
        return {"streams": len(self.last), "sent": self.sent, "queued": self.inbox.qsize()}
