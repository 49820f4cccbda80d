"""Database outage (issue 13 point 2): the app (a uvicorn process) reaches PostgreSQL through a
TCP proxy that the test cuts for 20 s while 20 monitors (10 WebSocket, 10 REST) send readings
and a board is connected.

tests/core/test_database_outage.py covers the staff API in-process (503 + Retry-After, /readyz,
/healthz, recovery); this scenario adds the ingest under load, the board and the figures:

* during the cut, REST ingest answers 503 with Retry-After, never 200 and never another 5xx;
  WebSocket ingest answers error replies with `retry: true` (the monitors keep the messages);
  /readyz is 503; a board that connects is refused with 1013 (the board page shows its
  "Connection lost" banner);
* after the proxy is back the service recovers by itself (time to the first 200 measured),
  the connected board gets events again in sequence, and every reading acknowledged, and in
  the end every reading sent, is stored exactly once.

A board that stays connected through the outage is told: the server's database watch sends a
``status`` frame (``"database": "unavailable"``) within a few seconds, and the board page shows
its banner ("Server cannot reach its database").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from app.simulator import Format, Ledger, MonitorPlan, run_fleet
from tests.fixtures.databases import TEST_DATABASE_URL, create_pg_database, drop_pg_database
from tests.fixtures.proxy import TcpProxy
from tests.reliability.support import (
    FIGURES_DIR,
    NURSE,
    PASSWORD,
    AppServer,
    Clinic,
    count_by_status,
    nurse_headers,
    rows,
    seed_infusing,
    write_figures,
)
from tests.web.browser import CHROMIUM, Chromium, login

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

MONITORS = 20
OUTAGE_S = 20.0
CUT_AT_S = 10.0
DURATION_S = 50.0
RETRY_AFTER_S = 2


@dataclass
class Probe:
    """One REST ingest call every 0.25 s from its own monitor, each answer timed."""

    answers: list[tuple[float, int, str | None]] = field(default_factory=list)
    stored_ok: set[str] = field(default_factory=set)
    sent: set[str] = field(default_factory=set)


async def probe_ingest(base_url: str, key: str, stop: asyncio.Event, out: Probe) -> None:
    n = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as http:
        while not stop.is_set():
            n += 1
            reading_id = f"probe-{n:06d}"
            body = {
                "readings": [
                    {
                        "id": reading_id,
                        "metric": "hr",
                        "value": 70,
                        "unit": "/min",
                        "observed_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    }
                ]
            }
            out.sent.add(reading_id)
            try:
                r = await http.post(
                    "/api/v1/vitals", json=body, headers={"Authorization": f"Bearer {key}"}
                )
            except httpx.TransportError:
                out.answers.append((time.monotonic(), 0, None))
            else:
                out.answers.append((time.monotonic(), r.status_code, r.headers.get("retry-after")))
                if r.status_code == 200:
                    out.stored_ok.add(reading_id)
            await asyncio.sleep(0.25)


async def probe_ready(base_url: str, stop: asyncio.Event, out: list[tuple[float, int]]) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as http:
        while not stop.is_set():
            try:
                out.append((time.monotonic(), (await http.get("/readyz")).status_code))
            except httpx.TransportError:
                out.append((time.monotonic(), 0))
            await asyncio.sleep(0.5)


@dataclass
class Board:
    messages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    closed_with: int | None = None


async def open_board(base_url: str, token: dict[str, str]) -> ClientConnection:
    socket = await ws_connect(
        base_url.replace("http://", "ws://") + "/ws/board", additional_headers=token
    )
    await socket.send(json.dumps({"subscribe": {"clinic": True}}))
    return socket


async def watch_board(socket: ClientConnection, out: Board) -> None:
    try:
        async for raw in socket:
            message = json.loads(raw)
            out.messages.append((time.monotonic(), message))
            if message.get("type") == "ping":
                await socket.send(json.dumps({"type": "pong"}))
    except ConnectionClosed as exc:
        out.closed_with = None if exc.rcvd is None else exc.rcvd.code


async def board_refused_code(base_url: str, token: dict[str, str]) -> int | None:
    """The close code a board that connects now gets within 5 s (None: it got a snapshot)."""
    try:
        socket = await open_board(base_url, token)
    except InvalidStatus as exc:
        return -exc.response.status_code  # refused during the handshake
    try:
        async with asyncio.timeout(5):
            async for raw in socket:
                if json.loads(raw).get("type") == "snapshot":
                    return None
    except ConnectionClosed as exc:
        return None if exc.rcvd is None else exc.rcvd.code
    finally:
        await socket.close()
    return None


async def _setup(label: str, monitors: int) -> tuple[str, Clinic, TcpProxy, AppServer]:
    assert TEST_DATABASE_URL is not None
    url = await asyncio.to_thread(
        create_pg_database, TEST_DATABASE_URL, f"{label}_{uuid.uuid4().hex[:6]}"
    )
    clinic = await seed_infusing(url, monitors)
    target = make_url(url)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    await proxy.start()
    via_proxy = target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    log = FIGURES_DIR / f"{label}-server.log"
    log.unlink(missing_ok=True)
    server = AppServer(
        via_proxy,
        log,
        db_connect_timeout_s="2",
        readiness_timeout_s="2",
        retry_after_s=str(RETRY_AFTER_S),
        scheduler_enabled="true",
    )
    await server.start()
    return url, clinic, proxy, server


@pytest.mark.timeout(180)
async def test_20_s_database_outage_under_load_answers_503_and_recovers_losing_nothing():
    began = time.monotonic()
    url, clinic, proxy, server = await _setup("outage", MONITORS + 1)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as http:
            token = await nurse_headers(http)
        board = Board()
        board_socket = await open_board(server.base_url, token)
        board_task = asyncio.create_task(watch_board(board_socket, board))
        plans = [
            MonitorPlan(key, Format.WS if i % 2 == 0 else Format.REST)
            for i, key in enumerate(clinic.device_keys[:MONITORS])
        ]
        ledger = Ledger()
        stop = asyncio.Event()
        probe, ready = Probe(), []
        probes = [
            asyncio.create_task(probe_ingest(server.base_url, clinic.device_keys[-1], stop, probe)),
            asyncio.create_task(probe_ready(server.base_url, stop, ready)),
        ]
        load_began = time.monotonic()
        fleet = asyncio.create_task(
            run_fleet(
                server=server.base_url,
                plans=plans,
                rate_hz=1.0,
                duration_s=DURATION_S,
                seed=13,
                ledger=ledger,
                spread_start=True,
                drain_timeout_s=60,
            )
        )
        await asyncio.sleep(CUT_AT_S)
        cut_at = time.monotonic()
        await proxy.cut()
        await asyncio.sleep(OUTAGE_S / 2)
        new_board_during_outage = await board_refused_code(server.base_url, token)
        await asyncio.sleep(max(0.0, cut_at + OUTAGE_S - time.monotonic()))
        restored_at = time.monotonic()
        await proxy.start()
        summary = await fleet
        await asyncio.sleep(2)
        stop.set()
        await asyncio.gather(*probes)
        await board_socket.close()
        await board_task
        await server.stop()

        # --- figures --------------------------------------------------------------------------
        during = [a for a in probe.answers if cut_at + 2.5 <= a[0] < restored_at]
        after = [a for a in probe.answers if a[0] >= restored_at]
        first_ok = next((t for t, status, _ in after if status == 200), None)
        ready_during = [s for t, s in ready if cut_at + 2.5 <= t < restored_at]
        ready_after = next((t for t, s in ready if t >= restored_at and s == 200), None)
        device_of_key = dict(zip(clinic.device_keys, clinic.device_ids, strict=True))
        stored = {
            (str(device), source): count
            for device, source, count in await rows(
                url,
                "SELECT device_id, source_id, count(*) FROM vital_reading "
                "GROUP BY device_id, source_id",
            )
        }
        probe_device = device_of_key[clinic.device_keys[-1]]
        sent = {(device_of_key[k], s) for k, ids in ledger.sent.items() for s in ids}
        acked = {
            (device_of_key[k], s)
            for k, results in ledger.acked.items()
            for s, status in results.items()
            if status in ("created", "duplicate")
        }
        fleet_acked = len(acked)
        acked |= {(probe_device, s) for s in probe.stored_ok}
        lost_acked = sorted(k for k in acked if k not in stored)
        lost_sent = sorted(k for k in sent if k not in stored)
        duplicated = sum(c - 1 for c in stored.values() if c > 1)
        probe_statuses: dict[str, int] = {}
        for _, status, _ in probe.answers:
            probe_statuses[str(status)] = probe_statuses.get(str(status), 0) + 1
        board_events_after = [
            m for t, m in board.messages if t >= restored_at and m.get("type") == "reading"
        ]
        five_xx = {
            **ledger.server_errors,
            **{f"probe {s}": n for s, n in probe_statuses.items() if s.startswith("5")},
        }
        bad_5xx = {k: n for k, n in five_xx.items() if k not in ("http 503", "probe 503")}
        figures = {
            "monitors": MONITORS,
            "outage_s": OUTAGE_S,
            "readings_sent": len(sent),
            "probe_readings_sent": len(probe.sent),
            "probe_readings_acknowledged": len(probe.stored_ok),
            "readings_acknowledged": fleet_acked,
            "acknowledged_by_status": count_by_status(ledger.acked),
            "readings_stored": sum(stored.values()),  # the fleet's and the probe's
            "lost_acknowledged": len(lost_acked),
            "lost_sent": len(lost_sent),
            "duplicated": duplicated,
            "five_xx": sum(five_xx.values()),
            "five_xx_by_kind": five_xx,
            "five_xx_other_than_503": sum(bad_5xx.values()),
            "probe_answers_by_status": probe_statuses,
            "probe_answers_during_outage": len(during),
            "probe_200_during_outage": sum(1 for a in during if a[1] == 200),
            "ws_retry_replies": summary.errors.get("ws ServiceUnavailable", 0),
            "client_errors": summary.errors,
            "readyz_during_outage": sorted(set(ready_during)),
            "new_board_during_outage_close_code": new_board_during_outage,
            "board_readings_after_restore": len(board_events_after),
            "connected_board_closed_with": board.closed_with,
            "time_to_recover_s": None if first_ok is None else round(first_ok - restored_at, 2),
            "readyz_recovered_after_s": None
            if ready_after is None
            else round(ready_after - restored_at, 2),
            "unacknowledged_after_drain": sum(len(v) for v in ledger.unacknowledged().values()),
            "load_s": round(time.monotonic() - load_began, 1),
            "run_time_s": round(time.monotonic() - began, 1),
        }
        print(write_figures("db-outage", figures).read_text())  # noqa: T201 (with -s)
    finally:
        await server.stop()
        await proxy.cut()
        await asyncio.to_thread(drop_pg_database, url)

    assert during, "the probe got no answer during the outage"
    # From the cut on, an answer is a 200 (stored: checked below) or a 503, nothing else.
    assert {a[1] for a in probe.answers if cut_at <= a[0] < restored_at} <= {200, 503}
    for t, status, retry_after in during:
        assert status == 503, f"{status} at {t - cut_at:.1f} s into the outage"
        assert retry_after is not None
        assert int(retry_after) == RETRY_AFTER_S
    assert bad_5xx == {}, bad_5xx
    assert "http 503 without Retry-After" not in ledger.server_errors
    assert figures["ws_retry_replies"] > 0, "WebSocket monitors got no retry: true reply"
    assert not ledger.dropped, "a message was refused for good during the outage"
    assert ready_during, "no /readyz answer during the outage"
    assert set(ready_during) == {503}
    # Refused before accept (HTTP 403 to the handshake) or closed with 1013: either way the
    # board page shows "Connection lost" and keeps trying.
    assert new_board_during_outage in (1013, -403), new_board_during_outage
    assert first_ok is not None, "ingest did not recover after the database came back"
    assert figures["time_to_recover_s"] < 10
    assert ready_after is not None
    if board.closed_with is None:  # it stayed connected through the outage
        assert board_events_after, "the connected board got no reading after the outage"
    assert not ledger.unacknowledged()
    assert lost_acked == [], lost_acked[:10]
    assert lost_sent == [], lost_sent[:10]
    assert duplicated == 0


def _live(page: Any) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#board-status")).to_have_text("Live", timeout=10_000)
    expect(page.locator("#conn-banner")).to_be_hidden()


def _banner_within(page: Any, seconds: float) -> bool:
    """In the browser thread: whether the board's "Connection lost" banner shows within."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if page.locator("#conn-banner").is_visible():
            return True
        page.wait_for_timeout(250)
    return False


@pytest.mark.timeout(90)
async def test_a_connected_board_is_told_of_the_outage():
    """A board connected before the cut hears of the outage within 15 s: a message it can turn
    into its banner, a close, or (with Debian's chromium) the banner on the real board page."""
    url, _clinic, proxy, server = await _setup("outage_board", 1)
    browser = Chromium() if CHROMIUM.exists() else None
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as http:
            token = await nurse_headers(http)
        board = Board()
        socket = await open_board(server.base_url, token)
        task = asyncio.create_task(watch_board(socket, board))
        page = None
        if browser is not None:
            context = await browser.run(browser.new_context, server.base_url)
            page = await browser.run(context.new_page)
            await browser.run(login, page, NURSE, PASSWORD)
            await browser.run(_live, page)
        cut_at = time.monotonic()
        await proxy.cut()
        banner = False
        if browser is not None:
            banner = await browser.run(_banner_within, page, 15)
        await asyncio.sleep(max(0.0, cut_at + 15 - time.monotonic()))
        told = [m for t, m in board.messages if t >= cut_at and m.get("type") != "ping"]
        # A notice the board can show: anything but its ordinary traffic and the slow-client cut.
        notices = [m for m in told if m.get("type") not in ("snapshot", "reading", "resync")]
        closed = board.closed_with
        await proxy.start()
        with contextlib.suppress(WebSocketException, OSError):
            await socket.close()
        await task
    finally:
        if browser is not None:
            browser.close()
        await server.stop()
        await proxy.cut()
        await asyncio.to_thread(drop_pg_database, url)
    write_figures(
        "db-outage-board",
        {
            "messages_after_cut": told,
            "notices": notices,
            "close_code": closed,
            "banner_on_board_page": banner if browser is not None else "no chromium",
        },
    )
    assert any(m.get("type") == "status" and m.get("database") == "unavailable" for m in notices), (
        f"no outage notice on the board socket in 15 s (got {told}, closed {closed})"
    )
    assert closed is None, f"the board was closed ({closed}) instead of told"
    assert banner or browser is None, "the board page showed no banner in 15 s"
