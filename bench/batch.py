"""Batch ingest: REST batches of 1,000 readings from 4 concurrent clients against one server,
with the raw-insert ceiling measured on the same database in the same run."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from app.core.config import Settings
from bench import run, seed, server

BATCH = 1000
CLIENTS = 4
METRICS = (("spo2", 97.0, "%"), ("hr", 74.0, "/min"), ("rr", 14.0, "/min"), ("pr", 74.0, "/min"))


def _batch(client: int, number: int) -> dict[str, Any]:
    """1,000 readings: 250 seconds of four metrics, ending now (within the skew limit)."""
    now = datetime.now(UTC)
    readings = []
    for i in range(BATCH // len(METRICS)):
        at = (now - timedelta(seconds=BATCH // len(METRICS) - i)).isoformat()
        for metric, value, unit in METRICS:
            readings.append(
                {
                    "id": f"b{client}-{number}-{i}-{metric}",
                    "metric": metric,
                    "value": value,
                    "unit": unit,
                    "observed_at": at,
                }
            )
    return {"sent_at": now.isoformat(), "readings": readings}


async def _client(host: str, key: str, client: int, stop_at: float) -> tuple[int, int]:
    stored = errors = 0
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=f"http://{host}", headers=headers, timeout=60) as http:
        number = 0
        while time.time() < stop_at:
            r = await http.post("/api/v1/vitals", json=_batch(client, number))
            number += 1
            if r.status_code != 200:
                errors += 1
                continue
            stored += sum(1 for x in r.json()["results"] if x["status"] == "created")
    return stored, errors


async def _load(host: str, keys: list[str], duration_s: float) -> tuple[int, int, float]:
    start = time.time()
    results = await asyncio.gather(
        *(_client(host, keys[i], i, start + duration_s) for i in range(CLIENTS))
    )
    return sum(r[0] for r in results), sum(r[1] for r in results), time.time() - start


def batch_run(args: argparse.Namespace) -> dict[str, Any]:
    options = run.Options(monitors=CLIENTS, database=args.db, postgres_url=args.postgres_url)
    work = Path(tempfile.mkdtemp(prefix="km-bench-batch-"))
    url = asyncio.run(run._database(options, work))
    settings = Settings(
        env="development", database_url=url, secret_key=server.SECRET, log_level="WARNING"
    )
    seeded = asyncio.run(seed.seed(settings, CLIENTS))
    instance = server.start(url, log=work / "bench.log")
    try:
        instance.mark()
        profiler = None
        if args.profile:
            profiler = run.profile(
                instance.process.pid, args.profile, args.duration, work / "bench.log"
            )
        stored, errors, elapsed = asyncio.run(
            _load(instance.host, seeded.device_keys, args.duration)
        )
        cpu = instance.cpu_pct()
        rss = instance.peak_rss_mb()
        if profiler is not None:
            profiler.wait(timeout=120)
    finally:
        instance.stop()
    try:
        raw = run._ceiling(options, url, seeded)
    finally:
        if options.database == "postgres":
            asyncio.run(seed.drop_postgres(url))
    rate = stored / elapsed
    return {
        "name": f"batch-{CLIENTS}c-{args.db}",
        "clients": CLIENTS,
        "batch_readings": BATCH,
        "database": args.db,
        "duration_s": round(elapsed, 1),
        "readings_stored": stored,
        "errors": errors,
        "ingest_readings_per_s": round(rate, 1),
        "raw_insert_rows_per_s": round(raw, 1),
        "ingest_pct_of_raw": round(100 * rate / raw, 1),
        "server_cpu_pct": cpu,
        "peak_rss_mb": rss,
        "commit": run._commit(),
        "machine": run.machine(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "meets_budget": rate >= 5000 and rate >= 0.5 * raw,
    }
