"""Credential-guessing throttle: failed credentials per client address in a sliding window.

Used for device keys (``Authorization: Bearer kmd_...``) on every HTTP route and WebSocket
handshake. Only failures count: a client address that presented ``max_failures`` unusable keys
within the last ``window`` gets 429 with ``Retry-After`` (a WebSocket handshake: an HTTP 429
denial where the server supports it, else close 1008) for every device-key request until the
oldest of those failures is older than the window. Valid keys never add to the count, so many
monitors behind one address (a gateway, the benchmark on 127.0.0.1) are not slowed down by
their own traffic.

In memory and per process: a restart clears it, and several instances each keep their own
count (an attacker spreading over N instances gets N times the budget, still bounded).
"""

from __future__ import annotations

import contextvars
import json
import math
from collections import deque
from datetime import datetime, timedelta

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.clock import Clock

log = structlog.get_logger(__name__)

POLICY_VIOLATION = 1008
# Addresses remembered at most; beyond it the ones with no failure in the window go first.
MAX_ADDRESSES = 10_000


class _Attempt:
    """The credential check of one request: set when the presented key was unusable."""

    __slots__ = ("credential", "failed")

    def __init__(self, credential: str) -> None:
        self.credential = credential
        self.failed = False


_attempt: contextvars.ContextVar[_Attempt | None] = contextvars.ContextVar(
    "credential_attempt", default=None
)


def report_failed_credential(credential: str) -> None:
    """Called where a credential is found unusable; counted by the middleware of the request
    in progress when it is the one that request presented (a no-op elsewhere: the CLI, a
    background job, a batch that checks other connections' keys)."""
    attempt = _attempt.get()
    if attempt is not None and attempt.credential == credential:
        attempt.failed = True


class FailureThrottle:
    """Failures per address in a sliding window of ``window``; thread-unsafe, one event loop."""

    def __init__(
        self, *, max_failures: int, window: timedelta, max_addresses: int = MAX_ADDRESSES
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.max_addresses = max_addresses
        self._failures: dict[str, deque[datetime]] = {}

    def retry_after_s(self, address: str, now: datetime) -> int | None:
        """Seconds until ``address`` may try again, or None when it is not throttled."""
        times = self._failures.get(address)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        if len(times) < self.max_failures:
            return None
        wait_s = (times[0] + self.window - now).total_seconds()
        return max(1, math.ceil(wait_s))

    def record_failure(self, address: str, now: datetime) -> None:
        times = self._failures.get(address)
        if times is None:
            if len(self._failures) >= self.max_addresses:
                self._forget_old(now)
            times = self._failures[address] = deque(maxlen=self.max_failures)
        times.append(now)

    def _forget_old(self, now: datetime) -> None:
        cutoff = now - self.window
        for address in [a for a, t in self._failures.items() if not t or t[-1] <= cutoff]:
            del self._failures[address]
        while len(self._failures) >= self.max_addresses:
            # Still full of recent offenders: drop the longest-known one.
            del self._failures[next(iter(self._failures))]

    @property
    def addresses(self) -> int:
        return len(self._failures)


class CredentialThrottleMiddleware:
    """Refuses requests that present a credential with ``prefix`` from a throttled address,
    and counts the ones whose credential was reported unusable (``report_failed_credential``)."""

    def __init__(
        self, app: ASGIApp, *, throttle: FailureThrottle, clock: Clock, prefix: str
    ) -> None:
        self.app = app
        self.throttle = throttle
        self.clock = clock
        self.prefix = prefix.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        credential = self._credential(scope) if scope["type"] in ("http", "websocket") else None
        if credential is None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = str(client[0]) if client else "unknown"
        retry_after = self.throttle.retry_after_s(address, self.clock.now())
        if retry_after is not None:
            log.warning("device_key_throttled", address=address, retry_after_s=retry_after)
            await _refuse(scope, send, retry_after)
            return
        attempt = _Attempt(credential)
        token = _attempt.set(attempt)
        try:
            await self.app(scope, receive, send)
        finally:
            _attempt.reset(token)
            if attempt.failed:
                self.throttle.record_failure(address, self.clock.now())

    def _credential(self, scope: Scope) -> str | None:
        """The ``Authorization: Bearer`` token when it has the throttled prefix."""
        for name, value in scope.get("headers", []):
            if name.lower() == b"authorization":
                scheme, _, token = value.partition(b" ")
                token = token.strip()
                if scheme.lower() == b"bearer" and token.startswith(self.prefix):
                    return str(token.decode("latin-1"))
                return None
        return None


async def _refuse(scope: Scope, send: Send, retry_after_s: int) -> None:
    detail = f"too many failed device keys from this address; retry in {retry_after_s} s"
    body = json.dumps({"error": "TooManyRequests", "detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(retry_after_s).encode()),
    ]
    if scope["type"] == "http":
        start: Message = {"type": "http.response.start", "status": 429, "headers": headers}
        await send(start)
        await send({"type": "http.response.body", "body": body})
    elif "websocket.http.response" in scope.get("extensions", {}):
        # The handshake answered with a plain HTTP 429 (ASGI WebSocket denial response).
        await send({"type": "websocket.http.response.start", "status": 429, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": POLICY_VIOLATION, "reason": detail[:120]})
