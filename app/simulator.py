"""Bedside-monitor simulator: realistic vital-sign series sent to a server like real monitors do.

Each simulated monitor produces HR, SpO2 and RR at ``rate_hz`` and an NIBP measurement (SBP,
DBP, MAP) every 10 minutes of device time, with a ketamine-typical BP rise of 10-20 % peaking at
30-40 minutes. Reading ids are monotonic per monitor; a message that is not acknowledged (network
error, 5xx, 429) is kept and sent again, with the same ids, before newer ones, so retries are
safe. ``speed`` compresses time for tests: the device clock then starts ``duration_s`` in the
past, as a store-and-forward backlog would, so no reading lies in the future.

``simulate`` runs one kind of monitor; ``run_fleet`` runs a mixed fleet (each monitor with its
own format and scenario) and can keep a ``Ledger`` of every reading id sent and every one
acknowledged, which the reliability tests compare with what the database stored. A monitor
keeps trying until its queue is empty or ``drain_timeout_s`` has passed after its last tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from app.interop import simulate as interop_senders

NIBP_INTERVAL_S = 600.0


class Scenario(StrEnum):
    NORMAL = "normal"
    DESATURATION = "desaturation"
    HYPERTENSION = "hypertension"
    PROBE_OFF = "probe-off"
    DISCONNECT = "disconnect"


@dataclass(frozen=True, slots=True)
class Baseline:
    hr: float
    spo2: float
    rr: float
    sbp: float
    dbp: float

    @classmethod
    def draw(cls, rng: random.Random) -> Baseline:
        return cls(
            hr=rng.uniform(60, 85),
            spo2=rng.uniform(96, 99),
            rr=rng.uniform(12, 17),
            sbp=rng.uniform(112, 134),
            dbp=rng.uniform(68, 84),
        )


@dataclass(slots=True)
class SignalModel:
    """Values at ``t`` seconds after the start of the series (deterministic for one seed)."""

    baseline: Baseline
    scenario: Scenario
    duration_s: float
    rng: random.Random

    @property
    def event_start_s(self) -> float:
        return self.duration_s / 3

    def _bp_factor(self, t: float) -> float:
        # Ketamine raises BP by 10-20 %, peaking at 30-40 min, back near baseline by ~80 min.
        minutes = t / 60
        return 1 + 0.15 * math.exp(-(((minutes - 35) / 22) ** 2))

    def continuous(self, t: float) -> dict[str, float]:
        values = {
            "hr": self.baseline.hr + self.rng.gauss(0, 1.5),
            "spo2": min(100.0, self.baseline.spo2 + self.rng.gauss(0, 0.4)),
            "rr": self.baseline.rr + self.rng.gauss(0, 0.8),
        }
        in_event = self.event_start_s <= t < self.event_start_s + 45
        if self.scenario is Scenario.DESATURATION and in_event:
            values["spo2"] = 86 + self.rng.gauss(0, 0.5)
        if self.scenario is Scenario.PROBE_OFF and in_event:
            del values["spo2"], values["hr"]
        return {k: round(v, 1) for k, v in values.items()}

    def nibp(self, t: float) -> tuple[float, float, float]:
        factor = self._bp_factor(t)
        sbp = self.baseline.sbp * factor + self.rng.gauss(0, 3)
        dbp = self.baseline.dbp * factor + self.rng.gauss(0, 2)
        if self.scenario is Scenario.HYPERTENSION and t >= self.event_start_s:
            sbp, dbp = 186 + self.rng.gauss(0, 2), 104 + self.rng.gauss(0, 2)
        return round(sbp), round(dbp), round((sbp + 2 * dbp) / 3)


@dataclass(slots=True)
class Summary:
    monitors: int = 0
    messages: int = 0
    readings_sent: int = 0
    acked: int = 0
    created: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: int = 0
    retries: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        return (
            f"monitors {self.monitors}, messages {self.messages}, readings sent {self.readings_sent}, "
            f"acked {self.acked} (created {self.created}, duplicates {self.duplicates}, "
            f"conflicts {self.conflicts}, rejected {self.rejected}), retries {self.retries}"
            + (f", errors {self.errors}" if self.errors else "")
        )


@dataclass(slots=True)
class Ledger:
    """Every reading a fleet sent and every answer it got, per device key and reading id.

    ``sent`` holds (metric, value) of each reading put in a message; ``acked`` the status the
    server answered for it (created, duplicate, conflict or rejected; the last answer wins, so
    a retried message whose first reply was lost shows ``duplicate``); ``dropped`` the readings
    of messages refused for good (a 4xx other than 429, a WebSocket error without retry).
    ``server_errors`` counts 5xx answers (handshakes included) and WebSocket closes with 1011.
    """

    sent: dict[str, dict[str, tuple[str, float]]] = field(default_factory=dict)
    acked: dict[str, dict[str, str]] = field(default_factory=dict)
    dropped: dict[str, set[str]] = field(default_factory=dict)
    messages_sent: int = 0
    messages_acked: int = 0
    server_errors: dict[str, int] = field(default_factory=dict)

    def record_sent(self, device_key: str, readings: Sequence[dict[str, Any]]) -> None:
        mine = self.sent.setdefault(device_key, {})
        for r in readings:
            mine[str(r["id"])] = (str(r["metric"]), float(r["value"]))

    def record_results(self, device_key: str, results: Sequence[dict[str, Any]]) -> None:
        self.messages_acked += 1
        mine = self.acked.setdefault(device_key, {})
        for result in results:
            mine[str(result["id"])] = str(result.get("status"))

    def record_dropped(self, device_key: str, body: dict[str, Any]) -> None:
        self.dropped.setdefault(device_key, set()).update(str(r["id"]) for r in body["readings"])

    def record_server_error(self, key: str) -> None:
        self.server_errors[key] = self.server_errors.get(key, 0) + 1

    def unacknowledged(self) -> dict[str, set[str]]:
        """Reading ids sent but never answered, per device key (empty once every queue drained)."""
        out: dict[str, set[str]] = {}
        for key, sent in self.sent.items():
            missing = set(sent) - set(self.acked.get(key, {}))
            if missing:
                out[key] = missing
        return out


@dataclass(slots=True)
class Monitor:
    index: int
    device_key: str
    model: SignalModel
    counter: int = 0
    pending: deque[dict[str, Any]] = field(default_factory=deque)
    ledger: Ledger | None = None

    def readings_at(self, t: float, observed_at: datetime, take_nibp: bool) -> list[dict[str, Any]]:
        stamp = observed_at.isoformat(timespec="milliseconds")
        out = []
        for metric, value in self.model.continuous(t).items():
            out.append(self._reading(metric, value, "%" if metric == "spo2" else "/min", stamp))
        if take_nibp:
            sbp, dbp, mean = self.model.nibp(t)
            measurement = f"m{self.index}-nibp-{self.counter}"
            for metric, value in (("sbp", sbp), ("dbp", dbp), ("map", mean)):
                out.append(self._reading(metric, value, "mm[Hg]", stamp, measurement))
        return out

    def _reading(
        self, metric: str, value: float, unit: str, stamp: str, measurement: str | None = None
    ) -> dict[str, Any]:
        self.counter += 1
        reading: dict[str, Any] = {
            "id": f"m{self.index}-{self.counter:09d}",
            "metric": metric,
            "value": value,
            "unit": unit,
            "observed_at": stamp,
        }
        if measurement is not None:
            reading["measurement_id"] = measurement
        return reading


def _count(summary: Summary, monitor: Monitor, results: list[dict[str, Any]]) -> None:
    if monitor.ledger is not None:
        monitor.ledger.record_results(monitor.device_key, results)
    summary.acked += len(results)
    for result in results:
        status = result.get("status")
        if status == "created":
            summary.created += 1
        elif status == "duplicate":
            summary.duplicates += 1
        elif status == "conflict":
            summary.conflicts += 1
        else:
            summary.rejected += 1


async def _post_rest(
    client: httpx.AsyncClient, monitor: Monitor, body: dict[str, Any]
) -> httpx.Response:
    body["sent_at"] = datetime.now(UTC).isoformat(timespec="milliseconds")
    return await client.post(
        "/api/v1/vitals", json=body, headers={"Authorization": f"Bearer {monitor.device_key}"}
    )


def _rest_results(response: httpx.Response, _body: dict[str, Any]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = response.json()["results"]
    return results


async def _send_pending(
    client: httpx.AsyncClient,
    monitor: Monitor,
    summary: Summary,
    post: Callable[[httpx.AsyncClient, Monitor, dict[str, Any]], Awaitable[httpx.Response]] = (
        _post_rest
    ),
    results_of: Callable[[httpx.Response, dict[str, Any]], list[dict[str, Any]]] = _rest_results,
) -> bool:
    """Send queued messages oldest first; stop at the first failure (kept for the next tick)."""
    while monitor.pending:
        body = monitor.pending[0]
        try:
            response = await post(client, monitor, body)
        except httpx.TransportError as exc:
            name = type(exc).__name__
            summary.errors[name] = summary.errors.get(name, 0) + 1
            summary.retries += 1
            return False
        if response.status_code != 200:
            key = f"http {response.status_code}"
            summary.errors[key] = summary.errors.get(key, 0) + 1
            if response.status_code >= 500 and monitor.ledger is not None:
                unpaced = response.status_code == 503 and "retry-after" not in response.headers
                monitor.ledger.record_server_error(
                    key + (" without Retry-After" if unpaced else "")
                )
            if response.status_code in (429, 500, 502, 503, 504):
                summary.retries += 1
                return False
            if monitor.ledger is not None:
                monitor.ledger.record_dropped(monitor.device_key, body)
            monitor.pending.popleft()  # refused for good (e.g. 401): retrying cannot help
            continue
        _count(summary, monitor, results_of(response, body))
        monitor.pending.popleft()
    return True


class WsLink:
    """One monitor's WebSocket to /ws/ingest: request-reply per message, reconnecting on loss."""

    def __init__(self, url: str, device_key: str) -> None:
        self.url = url
        self.device_key = device_key
        self.socket: ClientConnection | None = None
        self.next_msg_id = 0

    async def _socket(self) -> ClientConnection:
        if self.socket is None:
            self.socket = await ws_connect(
                self.url,
                additional_headers={"Authorization": f"Bearer {self.device_key}"},
                open_timeout=5,
            )
        return self.socket

    async def send(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send one message and wait for its ack or error (server pings are skipped)."""
        self.next_msg_id += 1
        msg_id = self.next_msg_id
        socket = await self._socket()
        try:
            await socket.send(json.dumps({**body, "msg_id": msg_id}))
            while True:
                reply = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
                if reply.get("type") != "ping" and reply.get("ack") == msg_id:
                    return dict(reply)
        except (OSError, TimeoutError, WebSocketException):
            await self.close()
            raise

    async def close(self) -> None:
        if self.socket is not None:
            with contextlib.suppress(OSError, WebSocketException):
                await self.socket.close()
            self.socket = None


def _ws_failure(exc: BaseException) -> str:
    """The error's name, with the close code when the server closed the socket on purpose."""
    if isinstance(exc, ConnectionClosed) and exc.rcvd is not None:
        return f"ws close {exc.rcvd.code}"
    if isinstance(exc, InvalidStatus):
        return f"ws handshake {exc.response.status_code}"
    return type(exc).__name__


async def _send_pending_ws(link: WsLink, monitor: Monitor, summary: Summary) -> bool:
    """The WebSocket twin of _send_pending: oldest first, stop at the first failure."""
    while monitor.pending:
        body = monitor.pending[0]
        body["sent_at"] = datetime.now(UTC).isoformat(timespec="milliseconds")
        try:
            reply = await link.send(body)
        except (OSError, TimeoutError, WebSocketException) as exc:
            name = _ws_failure(exc)
            summary.errors[name] = summary.errors.get(name, 0) + 1
            server_error = name == "ws close 1011" or name.startswith("ws handshake 5")
            if server_error and monitor.ledger is not None:
                monitor.ledger.record_server_error(name)
            summary.retries += 1
            return False
        if reply.get("type") == "error":
            key = f"ws {reply.get('error')}"
            summary.errors[key] = summary.errors.get(key, 0) + 1
            if reply.get("retry"):
                summary.retries += 1
                return False
            if monitor.ledger is not None:
                monitor.ledger.record_dropped(monitor.device_key, body)
            monitor.pending.popleft()
            continue
        _count(summary, monitor, reply["results"])
        monitor.pending.popleft()
    return True


async def _run_monitor(
    send: Callable[[Monitor, Summary], Awaitable[bool]],
    monitor: Monitor,
    *,
    rate_hz: float,
    duration_s: float,
    speed: float,
    device_start: datetime,
    summary: Summary,
    start_delay_s: float = 0.0,
    drain_timeout_s: float = 10.0,
) -> None:
    loop = asyncio.get_running_loop()
    if start_delay_s > 0:
        # Monitors switched on at different moments: the load is spread over the interval.
        await asyncio.sleep(start_delay_s)
        device_start += timedelta(seconds=start_delay_s * speed)
    started = loop.time()
    step = 1 / rate_hz
    next_nibp = 0.0
    ticks = int(duration_s * rate_hz)
    scenario = monitor.model.scenario
    for tick in range(ticks):
        t = tick * step
        take_nibp = t >= next_nibp
        if take_nibp:
            next_nibp += NIBP_INTERVAL_S
        readings = monitor.readings_at(t, device_start + timedelta(seconds=t), take_nibp)
        monitor.pending.append({"readings": readings})
        if monitor.ledger is not None:
            monitor.ledger.record_sent(monitor.device_key, readings)
            monitor.ledger.messages_sent += 1
        summary.readings_sent += len(readings)
        summary.messages += 1
        disconnected = (
            scenario is Scenario.DISCONNECT
            and monitor.model.event_start_s <= t < monitor.model.event_start_s + 60
        )
        if not disconnected:
            await send(monitor, summary)
        delay = started + (tick + 1) * step / speed - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
    # Drain: real monitors keep retrying until every message is acknowledged.
    deadline = loop.time() + drain_timeout_s
    while not await send(monitor, summary):
        if loop.time() >= deadline:
            return
        await asyncio.sleep(0.2)


class Format(StrEnum):
    REST = "rest"
    WS = "ws"
    HL7 = "hl7"  # ORU^R01 over POST /api/v1/hl7 (app.interop.simulate)
    FHIR = "fhir"  # batch Bundles of Observations over POST /fhir


@dataclass(frozen=True, slots=True)
class MonitorPlan:
    """One simulated monitor of a fleet: its device key, how it sends and what happens to it."""

    device_key: str
    output_format: Format = Format.REST
    scenario: Scenario = Scenario.NORMAL


async def simulate(
    *,
    server: str,
    device_keys: list[str],
    monitors: int,
    rate_hz: float = 1.0,
    duration_s: float = 60.0,
    speed: float = 1.0,
    scenario: Scenario = Scenario.NORMAL,
    seed: int = 1,
    output_format: Format = Format.REST,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Summary:
    """Run ``monitors`` simulated monitors (keys used in turn) against ``server``, over REST
    batches or one WebSocket each, and return what was sent and acknowledged."""
    if not device_keys:
        raise ValueError("at least one device key is needed")
    plans = [
        MonitorPlan(device_keys[i % len(device_keys)], output_format, scenario)
        for i in range(monitors)
    ]
    return await run_fleet(
        server=server,
        plans=plans,
        rate_hz=rate_hz,
        duration_s=duration_s,
        speed=speed,
        seed=seed,
        transport=transport,
    )


async def run_fleet(
    *,
    server: str,
    plans: Sequence[MonitorPlan],
    rate_hz: float = 1.0,
    duration_s: float = 60.0,
    speed: float = 1.0,
    seed: int = 1,
    ledger: Ledger | None = None,
    spread_start: bool = False,
    drain_timeout_s: float = 10.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Summary:
    """Run one simulated monitor per plan against ``server`` (REST, HL7 and FHIR over one
    shared HTTP client, one WebSocket per WS monitor) and return what was sent and answered.

    With ``ledger``, every reading id sent and every answer is recorded in it. With
    ``spread_start``, each monitor starts at a random moment of its first interval (seeded),
    as monitors switched on at different times do, instead of all ticking together. After its
    last tick a monitor re-sends what is unacknowledged for up to ``drain_timeout_s``.
    """
    if not plans:
        raise ValueError("at least one monitor is needed")
    rng = random.Random(seed)
    now = datetime.now(UTC)
    device_start = now - timedelta(seconds=duration_s) if speed > 1 else now
    fleet = [
        Monitor(
            i + 1,
            plan.device_key,
            SignalModel(Baseline.draw(rng), plan.scenario, duration_s, random.Random(rng.random())),
            ledger=ledger,
        )
        for i, plan in enumerate(plans)
    ]
    delays = [rng.uniform(0, 1 / rate_hz / speed) if spread_start else 0.0 for _ in fleet]
    summary = Summary(monitors=len(fleet))
    base = server.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    links = {
        m.index: WsLink(base + "/ws/ingest", m.device_key)
        for m, plan in zip(fleet, plans, strict=True)
        if plan.output_format is Format.WS
    }
    http_monitors = len(fleet) - len(links)
    limits = httpx.Limits(
        max_connections=max(10, http_monitors), max_keepalive_connections=max(10, http_monitors)
    )
    async with httpx.AsyncClient(
        base_url=server, timeout=10, limits=limits, transport=transport
    ) as client:
        senders: dict[Format, Callable[[Monitor, Summary], Awaitable[bool]]] = {
            Format.REST: lambda m, into: _send_pending(client, m, into),
            Format.HL7: lambda m, into: _send_pending(client, m, into, *interop_senders.HL7),
            Format.FHIR: lambda m, into: _send_pending(client, m, into, *interop_senders.FHIR),
            Format.WS: lambda m, into: _send_pending_ws(links[m.index], m, into),
        }
        try:
            await asyncio.gather(
                *(
                    _run_monitor(
                        senders[plan.output_format],
                        monitor,
                        rate_hz=rate_hz,
                        duration_s=duration_s,
                        speed=speed,
                        device_start=device_start,
                        summary=summary,
                        start_delay_s=delay,
                        drain_timeout_s=drain_timeout_s,
                    )
                    for monitor, plan, delay in zip(fleet, plans, delays, strict=True)
                )
            )
        finally:
            for link in links.values():
                await link.close()
    return summary
