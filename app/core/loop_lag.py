"""Event-loop lag: how late a timer fires. A busy loop delays every socket and request, so this
is the first number to look at when boards lag (exposed on /metrics, read by `bench/`)."""

from __future__ import annotations

import asyncio
import contextlib

from app.core.metrics import Metrics

INTERVAL_S = 0.25


class LoopLagMonitor:
    """Sleeps `interval_s` in a loop and records how much later than asked each wake-up was."""

    def __init__(self, metrics: Metrics, *, interval_s: float = INTERVAL_S) -> None:
        self._metrics = metrics
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            await asyncio.sleep(self._interval_s)
            lag_s = max(0.0, loop.time() - asked - self._interval_s)
            self._metrics.event_loop_lag_seconds.observe(lag_s)
            if lag_s > self._metrics.event_loop_lag_max.value:
                self._metrics.event_loop_lag_max.value = lag_s
                self._metrics.event_loop_lag_max_seconds.set(lag_s)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="loop-lag")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
