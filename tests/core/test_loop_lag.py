"""The event-loop lag monitor records how late timers fire, and stops cleanly."""

from __future__ import annotations

import asyncio
import time

from app.core.loop_lag import LoopLagMonitor
from app.core.metrics import Metrics


async def test_a_blocked_loop_shows_as_lag():
    metrics = Metrics()
    monitor = LoopLagMonitor(metrics, interval_s=0.01)
    monitor.start()
    monitor.start()  # idempotent
    await asyncio.sleep(0.03)
    time.sleep(0.2)  # noqa: ASYNC251 - blocking the loop on purpose, as a slow call would
    await asyncio.sleep(0.03)
    await monitor.stop()
    await monitor.stop()
    worst = metrics.registry.get_sample_value("event_loop_lag_max_seconds")
    assert worst is not None
    assert worst >= 0.15
    assert metrics.registry.get_sample_value("event_loop_lag_seconds_count") >= 2
