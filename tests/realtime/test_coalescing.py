"""Coalescing (issue 8 point 6) on one board's pipeline, without a socket: a board asking for
at most N updates a second per session gets the newest value per metric, and every alarm and
state event, in order."""

from __future__ import annotations

import asyncio
import json
import uuid

from app.core.metrics import Metrics
from app.realtime.board import BoardConnection
from app.realtime.events import BoardEvent, _with_text

CLINIC = uuid.uuid4()
SESSION = uuid.uuid4()
STREAM = f"session:{SESSION}"


def event(seq: int, kind: str, **payload: object) -> BoardEvent:
    return _with_text(
        BoardEvent(
            stream=STREAM,
            seq=seq,
            clinic_id=CLINIC,
            session_id=SESSION,
            type=kind,
            payload=dict(payload),
            at="2026-11-28T09:00:00+00:00",
        )
    )


def board(
    sent: list[dict[str, object]],
    max_rate_hz: float | None,
    metrics: Metrics,
    *,
    batch: bool = False,
) -> BoardConnection:
    async def send(text: str) -> None:
        sent.append(json.loads(text))

    conn = BoardConnection(
        clinic_id=CLINIC,
        sessionmaker=None,  # type: ignore[arg-type]  # contiguous events never read the database
        send=send,
        metrics=metrics,
        queue_size=100,
        max_rate_hz=max_rate_hz,
        batch=batch,
    )
    conn.last[STREAM] = 0
    return conn


async def test_readings_are_coalesced_to_the_newest_per_metric_and_alarms_never_dropped():
    sent: list[dict[str, object]] = []
    conn = board(sent, max_rate_hz=2, metrics=Metrics())
    await conn.handle(event(1, "reading", metric="spo2", value=97), live=True)
    for seq, value in ((2, 95), (3, 93), (4, 91)):
        await conn.handle(event(seq, "reading", metric="spo2", value=value), live=True)
    await conn.handle(event(5, "reading", metric="hr", value=88), live=True)
    await conn.handle(event(6, "alarm_raised", alarm={"episode": "spo2:low"}), live=True)
    await conn.handle(event(7, "reading", metric="spo2", value=89), live=True)
    # The first reading goes at once; the alarm flushes what is pending first (newest per
    # metric, in seq order) and is itself never held back.
    assert [(m["seq"], m["type"]) for m in sent] == [
        (1, "reading"),
        (4, "reading"),
        (5, "reading"),
        (6, "alarm_raised"),
    ]
    await asyncio.sleep(0.55)
    await conn._flush_due(asyncio.get_running_loop().time())
    assert [(m["seq"], m["data"]["value"]) for m in sent[4:]] == [(7, 89)]


async def test_without_a_rate_every_event_is_sent_and_counted():
    sent: list[dict[str, object]] = []
    metrics = Metrics()
    conn = board(sent, max_rate_hz=None, metrics=metrics)
    for seq in range(1, 6):
        await conn.handle(event(seq, "reading", metric="spo2", value=90 + seq), live=True)
    await conn.handle(event(3, "reading", metric="spo2", value=93), live=True)  # already sent
    assert [m["seq"] for m in sent] == [1, 2, 3, 4, 5]
    assert metrics.registry.get_sample_value("board_events_sent_total") == 5
    assert metrics.registry.get_sample_value("board_commit_to_send_seconds_count") == 5


async def frames(sent: list[dict[str, object]], count: int) -> None:
    async with asyncio.timeout(5):
        while len(sent) < count:  # noqa: ASYNC110 - the pump appends from its own task
            await asyncio.sleep(0.01)


async def test_a_batching_board_gets_what_was_waiting_in_one_frame_in_order():
    sent: list[dict[str, object]] = []
    metrics = Metrics()
    conn = board(sent, max_rate_hz=None, metrics=metrics, batch=True)
    for seq in range(1, 5):
        conn.offer(event(seq, "reading", metric="spo2", value=90 + seq))
    conn.offer(event(2, "reading", metric="spo2", value=92))  # a second delivery: dropped
    conn.ping()
    conn.offer(event(5, "alarm_raised", alarm={"episode": "spo2:low"}))
    pump = asyncio.create_task(conn.pump())
    try:
        await frames(sent, 3)
        conn.offer(event(6, "reading", metric="hr", value=80))
        await frames(sent, 4)
    finally:
        pump.cancel()
    # Frames: the events before the ping, the ping on its own, then what followed it.
    assert [m["type"] for m in sent] == ["events", "ping", "events", "events"]
    assert [e["seq"] for e in sent[0]["events"]] == [1, 2, 3, 4]  # type: ignore[index]
    assert [e["type"] for e in sent[2]["events"]] == ["alarm_raised"]  # type: ignore[index]
    assert [e["seq"] for e in sent[3]["events"]] == [6]  # type: ignore[index]
    assert metrics.registry.get_sample_value("board_events_sent_total") == 6


async def test_an_event_that_overtakes_its_predecessor_is_held_until_it_arrives():
    # Another instance's event comes through Redis a moment after this instance's next one:
    # sent in order, without reading the database (this board has none to read).
    sent: list[dict[str, object]] = []
    conn = board(sent, max_rate_hz=None, metrics=Metrics())
    await conn.handle(event(1, "reading", metric="spo2", value=97), live=True)
    await conn.handle(event(3, "dose_progress"), live=True)
    await conn.handle(event(4, "reading", metric="spo2", value=96), live=True)
    assert [m["seq"] for m in sent] == [1]
    await conn.handle(event(2, "reading", metric="hr", value=80), live=True)
    assert [m["seq"] for m in sent] == [1, 2, 3, 4]
    await conn.handle(event(3, "dose_progress"), live=True)  # a second delivery: dropped
    assert [m["seq"] for m in sent] == [1, 2, 3, 4]
