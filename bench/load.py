"""Load processes: monitors sending over WebSocket ingest, and live boards receiving.

Run as separate processes by `bench.run` (`python -m bench.load monitors|boards ...`), so the
server, the monitors and the boards do not share an event loop. Each writes a JSON file:
monitors the send time of every acknowledged reading, boards the first arrival of each
reading and alarm and how many arrived twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from app.core.gc_tuning import tune_garbage_collector

NORMAL = {"spo2": 97.0, "hr": 74.0, "rr": 14.0}
UNITS = {"spo2": "%", "hr": "/min", "rr": "/min", "sbp": "mm[Hg]", "dbp": "mm[Hg]"}
DESAT_START_S = 10
DESAT_SPO2 = 85.0
DESAT_LENGTH_S = 25


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat()


def _take_reply(
    reply: dict[str, Any],
    index: int,
    pending: dict[int, list[tuple[str, float]]],
    sent: dict[str, float],
    counts: dict[str, int],
) -> None:
    """An ack makes its readings count as sent (stored) at their send time; an error counts."""
    if reply.get("type") == "ack":
        for source_id, at in pending.pop(reply["ack"], []):
            sent[f"{index}:{source_id}"] = at
        counts["acked"] += 1
    elif reply.get("type") == "error":
        counts["errors"] += 1


async def _monitor(
    index: int,
    url: str,
    key: str,
    duration_s: float,
    desat: bool,
    sent: dict[str, float],
    start_at: float,
) -> dict[str, int]:
    """One monitor: a message a second (SpO2, HR, RR; BP every 10th), each reading's send time
    kept once its ack says it is stored. Connected before ``start_at`` (a steady state is
    measured, not a thousand handshakes at once), sending from then on, spread over the
    first second."""
    counts = {"messages": 0, "acked": 0, "errors": 0}
    rng = random.Random(index)
    headers = {"Authorization": f"Bearer {key}"}
    await asyncio.sleep(rng.random() * max(0.0, start_at - time.time() - 1))
    async with connect(url, additional_headers=headers, max_queue=None) as ws:
        await asyncio.sleep(max(0.0, start_at - time.time()) + rng.random())
        start = time.time()
        tick = 0
        pending: dict[int, list[tuple[str, float]]] = {}
        while time.time() - start < duration_s:
            now = time.time()
            values = dict(NORMAL)
            elapsed = now - start
            if desat and DESAT_START_S <= elapsed < DESAT_START_S + DESAT_LENGTH_S:
                values["spo2"] = DESAT_SPO2
            if tick % 10 == 0:
                values.update(sbp=124.0, dbp=78.0)
            readings = [
                {
                    "id": f"m{index}-{tick}-{metric}",
                    "metric": metric,
                    "value": value,
                    "unit": UNITS[metric],
                    "observed_at": _iso(now),
                }
                for metric, value in values.items()
            ]
            msg_id = tick + 1
            pending[msg_id] = [(r["id"], now) for r in readings]
            await ws.send(
                json.dumps({"msg_id": msg_id, "sent_at": _iso(now), "readings": readings})
            )
            counts["messages"] += 1
            tick += 1
            deadline = start + tick
            while True:
                timeout = deadline - time.time()
                if timeout <= 0:
                    break
                try:
                    reply = json.loads(await asyncio.wait_for(ws.recv(), timeout))
                except TimeoutError:
                    break
                _take_reply(reply, index, pending, sent, counts)
        # Collect the last acks.
        end = time.time() + 5
        while pending and time.time() < end:
            try:
                reply = json.loads(await asyncio.wait_for(ws.recv(), end - time.time()))
            except TimeoutError:
                break
            _take_reply(reply, index, pending, sent, counts)
    return counts


async def run_monitors(args: argparse.Namespace, keys: list[str]) -> dict[str, Any]:
    sent: dict[str, float] = {}
    desat_every = max(1, round(1 / args.desat_fraction)) if args.desat_fraction > 0 else 0
    tasks = [
        _monitor(
            args.first + i,
            args.url,
            key,
            args.duration,
            bool(desat_every) and (args.first + i) % desat_every == 0,
            sent,
            args.start_at,
        )
        for i, key in enumerate(keys)
    ]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [repr(r) for r in results if isinstance(r, BaseException)]
    totals = {"messages": 0, "acked": 0, "errors": 0}
    for r in results:
        if isinstance(r, dict):
            for k in totals:
                totals[k] += r[k]
    return {"sent": sent, "totals": totals, "failures": failures}


async def _board(
    url: str,
    token: str,
    stop_at: float,
    devices: dict[str, int],
    out: dict[str, Any],
    snapshot: asyncio.Event,
    *,
    full: bool,
) -> None:
    """One board. Every board checks each stream's sequence (holes, repeats); the `full` one
    also records when each reading and alarm arrived (latency, lost readings)."""
    last: dict[str, int] = {}
    headers = {"Authorization": f"Bearer {token}"}
    async with connect(url, additional_headers=headers, max_queue=None, max_size=None) as ws:
        await ws.send(json.dumps({"subscribe": {"clinic": True}, "batch": True}))
        out["connected"] += 1
        while time.time() < stop_at:
            try:
                text = await asyncio.wait_for(ws.recv(), max(0.01, stop_at - time.time()))
            except TimeoutError:
                break
            arrived = time.time()
            message = json.loads(text)
            kind = message.get("type")
            if kind == "ping":
                await ws.send('{"type":"pong"}')
                continue
            if kind == "snapshot":
                snapshot.set()
                for stream_seq in message["seq"]["sessions"].items():
                    last[f"session:{stream_seq[0]}"] = stream_seq[1]
                if message["seq"]["clinic"] is not None:
                    last[f"clinic:{message['clinic_id']}"] = message["seq"]["clinic"]
                continue
            for event in message["events"] if kind == "events" else [message]:
                _board_event(event, arrived, out, last, devices, full=full)


def _board_event(
    message: dict[str, Any],
    arrived: float,
    out: dict[str, Any],
    last: dict[str, int],
    devices: dict[str, int],
    *,
    full: bool,
) -> None:
    kind = message.get("type")
    stream, seq = message.get("stream"), message.get("seq")
    if isinstance(stream, str) and isinstance(seq, int):
        previous = last.get(stream, 0)
        if seq <= previous:
            out["duplicates"] += 1
            return
        out["holes"] += seq - previous - 1
        last[stream] = seq
        out["events"] += 1
    if not full:
        return
    if kind == "reading":
        data = message["data"]
        key = f"{devices.get(data.get('device_id', ''))}:{data.get('source_id')}"
        out["seen"].setdefault(key, arrived)
        out["rows"][data["reading_id"]] = key
    elif kind == "alarm_raised":
        alarm = message["data"]["alarm"]
        out["alarms"].setdefault(alarm["id"], {"at": arrived, "alarm": alarm})
    elif kind in ("resync", "gap"):
        out["resyncs"] += 1


async def run_boards(args: argparse.Namespace, devices: dict[str, int]) -> dict[str, Any]:
    stop_at = time.time() + args.duration
    outs = [
        {
            "seen": {},
            "rows": {},
            "alarms": {},
            "duplicates": 0,
            "holes": 0,
            "events": 0,
            "resyncs": 0,
            "connected": 0,
        }
        for _ in range(args.boards)
    ]
    snapshots = [asyncio.Event() for _ in outs]

    async def announce_ready() -> None:
        # The runner starts the monitors once every board has its snapshot.
        await asyncio.gather(*(s.wait() for s in snapshots))
        await asyncio.to_thread(Path(f"{args.out}.ready").touch)

    ready = asyncio.create_task(announce_ready())
    results = await asyncio.gather(
        *(
            _board(args.url, args.token, stop_at, devices, out, snapshots[index], full=index == 0)
            for index, out in enumerate(outs)
        ),
        return_exceptions=True,
    )
    ready.cancel()
    failures = [repr(r) for r in results if isinstance(r, BaseException)]
    return {"boards": outs, "failures": failures}


def main() -> None:
    # The load generator must not add garbage-collection pauses of its own to the latencies
    # it measures (the same settings as the server's, app/core/gc_tuning.py).
    tune_garbage_collector()
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    sub = parser.add_subparsers(dest="role", required=True)
    m = sub.add_parser("monitors")
    m.add_argument("--url", required=True)
    m.add_argument("--keys", required=True)
    m.add_argument("--first", type=int, required=True)
    m.add_argument("--count", type=int, required=True)
    m.add_argument("--duration", type=float, required=True)
    m.add_argument("--desat-fraction", type=float, default=0.02)
    m.add_argument("--start-at", type=float, default=0.0, help="epoch seconds: first send")
    m.add_argument("--out", required=True)
    b = sub.add_parser("boards")
    b.add_argument("--url", required=True)
    b.add_argument("--token", required=True)
    b.add_argument("--devices", required=True)
    b.add_argument("--boards", type=int, required=True)
    b.add_argument("--duration", type=float, required=True)
    b.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.role == "monitors":
        keys = json.loads(Path(args.keys).read_text())[args.first : args.first + args.count]
        result = asyncio.run(run_monitors(args, keys))
    else:
        ids = json.loads(Path(args.devices).read_text())
        result = asyncio.run(run_boards(args, {d: i for i, d in enumerate(ids)}))
    Path(args.out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
