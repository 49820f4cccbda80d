"""The one periodic runner for timed work (issue 7 point 9); it knows no domain.

Domains provide jobs: plain async callables `(db, now) -> int` (how many things they did).
Every `interval_s` the scheduler runs each job in its own short transaction with the app
clock's `now`. A job that raises is logged and rolled back; the other jobs and later runs go
on. Jobs keep their state in the database and make every write conditional or unique-keyed,
so any number of instances may run the scheduler and a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import Clock

log = structlog.get_logger(__name__)

JobFn = Callable[[AsyncSession, datetime], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class Job:
    """A named periodic job; the name is what the logs show. ``every``: run on every n-th
    tick of the scheduler only (work that needs no finer resolution costs less; a job
    reading every active session is a pause the ingest waits behind)."""

    name: str
    run: JobFn
    every: int = 1

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError("every must be at least 1")


class Scheduler:
    """Runs `jobs` every `interval_s` seconds in a background task (`start` / `stop`)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        jobs: Sequence[Job],
        *,
        interval_s: float,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._jobs = tuple(jobs)
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def run_once(self, tick: int | None = None) -> dict[str, int | None]:
        """Run every job once (or, for the loop's ``tick``, the jobs due on it), each in its
        own transaction; None for a job that failed."""
        results: dict[str, int | None] = {}
        for job in self._jobs:
            if tick is None or tick % job.every == 0:
                results[job.name] = await self._run_job(job)
        return results

    async def _run_job(self, job: Job) -> int | None:
        try:
            async with self._sessionmaker() as db, db.begin():
                done = await job.run(db, self._clock.now())
        except (Exception, asyncio.CancelledError):
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # Stopping mid-job: a driver may surface the cancellation as its own error;
                # that is not a job failure, and the cancellation must not be swallowed.
                raise asyncio.CancelledError from None
            # A CancelledError nobody asked for (a job's own timeout turned into one) is a job
            # failure like any other: left to escape, it would end the loop, and with it every
            # later escalation, with no one restarting it.
            # Logged and rolled back; the next run retries from the database's state.
            log.exception("scheduler_job_failed", job=job.name)
            return None
        if done:
            log.info("scheduler_job_done", job=job.name, count=done)
        return done

    async def _loop(self) -> None:
        tick = 0
        while True:
            # First run one interval after start: the app is serving by then.
            await asyncio.sleep(self._interval_s)
            await self.run_once(tick)
            tick += 1

    def start(self) -> None:
        """Start the background loop (idempotent)."""
        if self.running:
            return
        self._task = asyncio.create_task(self._loop(), name="scheduler")
        log.info(
            "scheduler_started", interval_s=self._interval_s, jobs=[j.name for j in self._jobs]
        )

    async def stop(self) -> None:
        """Cancel the loop and wait for it; a job in flight is rolled back."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        log.info("scheduler_stopped")
