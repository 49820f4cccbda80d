"""One benchmark run: fresh database, seeded sessions, server(s), boards, monitors, ceiling,
figures. `measure` returns the result dict that `bench.report` writes."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.config import Settings
from bench import ceiling, seed, server

BUDGET = {"reading_p99_ms": 100.0, "alarm_p99_ms": 200.0, "peak_rss_mb": 500.0}


@dataclass(frozen=True, slots=True)
class Options:
    monitors: int
    boards: int = 10
    duration_s: float = 60.0
    database: str = "postgres"  # or "sqlite"
    postgres_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    instances: int = 1
    redis_url: str = "redis://127.0.0.1:6379/0"
    monitor_processes: int = 2
    desat_fraction: float = 0.02
    ceiling_rows: int = 30_000
    profile: str | None = None  # py-spy output file


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None, "count": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {
        "p50": at(0.5),
        "p95": at(0.95),
        "p99": at(0.99),
        "max": round(ordered[-1], 1),
        "count": len(ordered),
    }


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=server.ROOT,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"],
            capture_output=True,
            text=True,
            cwd=server.ROOT,
            check=True,
        )
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> dict[str, Any]:
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "system": platform.platform(),
    }


def _loop_lag_ms(metrics_text: str) -> float | None:
    match = re.search(r"^event_loop_lag_max_seconds (\S+)$", metrics_text, re.M)
    return None if match is None else round(float(match.group(1)) * 1000, 1)


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.load", *args],
        cwd=server.ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def profile(pid: int, out: str, duration_s: float, log: Path) -> subprocess.Popen[bytes]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        raise SystemExit("--profile needs py-spy: pip install py-spy")
    command = [py_spy, "record", "--pid", str(pid), "--duration", str(int(duration_s))]
    command += ["--format", "speedscope" if out.endswith(".json") else "raw", "-o", out]
    return subprocess.Popen(command, stdout=log.open("ab"), stderr=subprocess.STDOUT)


async def _database(options: Options, work: Path) -> str:
    if options.database == "sqlite":
        return f"sqlite+aiosqlite:///{work / 'bench.db'}"
    return await seed.fresh_postgres(options.postgres_url, seed.new_name("km_bench"))


def _ceiling(options: Options, url: str, seeded: seed.Seeded) -> float:
    args = (url, seeded.clinic_id, seeded.device_ids[0], seeded.session_ids[0])
    if options.database == "postgres":
        return asyncio.run(
            ceiling.postgres_rows_per_s(*args, rows=options.ceiling_rows, batch=1000)
        )
    return ceiling.sqlite_rows_per_s(*args, rows=options.ceiling_rows, batch=1000)


def measure(options: Options) -> dict[str, Any]:
    """Run one load and return its figures (nothing asserted: a benchmark reports)."""
    work = Path(tempfile.mkdtemp(prefix="km-bench-"))
    log = work / "bench.log"
    url = asyncio.run(_database(options, work))
    settings = Settings(
        env="development", database_url=url, secret_key=server.SECRET, log_level="WARNING"
    )
    started = time.time()
    seeded = asyncio.run(seed.seed(settings, options.monitors))
    seed_s = round(time.time() - started, 1)
    keys_file, devices_file = work / "keys.json", work / "devices.json"
    keys_file.write_text(json.dumps(seeded.device_keys))
    devices_file.write_text(json.dumps(seeded.device_ids))
    redis = options.redis_url if options.instances > 1 else None
    servers = [server.start(url, redis_url=redis, log=log) for _ in range(options.instances)]
    try:
        grace_s = 10.0
        # Monitors connect during a ramp (a second per 100), then all send from start_at: the
        # measured window is the steady state.
        ramp_s = max(2.0, options.monitors / 100)
        boards_out = work / "boards.json"
        # Boards on the last instance, monitors spread over all: with two instances, every
        # reading ingested on the first must reach the boards through Redis.
        boards = _spawn(
            [
                "boards",
                "--url",
                f"ws://{servers[-1].host}/ws/board",
                "--token",
                seeded.nurse_token,
                "--devices",
                str(devices_file),
                "--boards",
                str(options.boards),
                "--duration",
                str(options.duration_s + ramp_s + grace_s + 3),
                "--out",
                str(boards_out),
            ],
            log,
        )
        ready = Path(f"{boards_out}.ready")
        deadline = time.time() + 120
        while not ready.exists() and time.time() < deadline and boards.poll() is None:
            time.sleep(0.1)  # every board connected and past its snapshot
        start_at = time.time() + ramp_s
        profiler = None
        monitor_outs = []
        monitor_procs = []
        per = -(-options.monitors // options.monitor_processes)
        for index in range(options.monitor_processes):
            first = index * per
            count = min(per, options.monitors - first)
            if count <= 0:
                continue
            target = servers[index % len(servers)]
            out = work / f"monitors-{index}.json"
            monitor_outs.append(out)
            monitor_procs.append(
                _spawn(
                    [
                        "monitors",
                        "--url",
                        f"ws://{target.host}/ws/ingest",
                        "--keys",
                        str(keys_file),
                        "--first",
                        str(first),
                        "--count",
                        str(count),
                        "--duration",
                        str(options.duration_s),
                        "--desat-fraction",
                        str(options.desat_fraction),
                        "--start-at",
                        str(start_at),
                        "--out",
                        str(out),
                    ],
                    log,
                )
            )
        time.sleep(max(0.0, start_at - time.time()))
        for s in servers:
            s.mark()
        if options.profile:
            profiler = profile(servers[0].process.pid, options.profile, options.duration_s, log)
        for p in monitor_procs:
            p.wait(timeout=options.duration_s + ramp_s + 120)
        if profiler is not None:
            profiler.wait(timeout=120)
        window_s = time.time() - servers[0].wall_start
        cpu = [s.cpu_pct() for s in servers]
        boards.wait(timeout=options.duration_s + grace_s + 120)
        metrics_text = [s.metrics() for s in servers]
        rss = [s.peak_rss_mb() for s in servers]
    finally:
        for s in servers:
            s.stop()
    sent: dict[str, float] = {}
    totals = {"messages": 0, "acked": 0, "errors": 0}
    failures: list[str] = []
    for out in monitor_outs:
        data = json.loads(out.read_text())
        sent.update(data["sent"])
        failures.extend(data["failures"])
        for k in totals:
            totals[k] += data["totals"][k]
    board_data = json.loads(boards_out.read_text())
    failures.extend(board_data["failures"])
    first = board_data["boards"][0]
    seen, rows, alarms = first["seen"], first["rows"], first["alarms"]
    latencies = [(seen[k] - at) * 1000 for k, at in sent.items() if k in seen]
    lost = sum(1 for k in sent if k not in seen)
    alarm_latencies = []
    for entry in alarms.values():
        alarm = entry["alarm"]
        if alarm["kind"] != "physiological" or not alarm["reading_ids"]:
            continue
        key = rows.get(alarm["reading_ids"][-1])
        if key is not None and key in sent:
            alarm_latencies.append((entry["at"] - sent[key]) * 1000)
    try:
        rows_per_s = _ceiling(options, url, seeded)
    finally:
        if options.database == "postgres":
            asyncio.run(seed.drop_postgres(url))
    ingest_per_s = len(sent) / window_s
    reading = percentiles(latencies)
    alarm_p = percentiles(alarm_latencies)
    result: dict[str, Any] = {
        "name": f"{options.monitors}m-{options.boards}b-{options.instances}i-{options.database}",
        "monitors": options.monitors,
        "boards": options.boards,
        "instances": options.instances,
        "database": options.database,
        "duration_s": options.duration_s,
        "reading_to_board_ms": reading,
        "alarm_to_board_ms": alarm_p,
        "alarms_seen": len(alarm_latencies),
        "readings_acked": len(sent),
        "lost": lost,
        "duplicates": sum(b["duplicates"] for b in board_data["boards"]),
        "board_holes": sum(b["holes"] for b in board_data["boards"]),
        "boards_connected": sum(b["connected"] for b in board_data["boards"]),
        "ingest_errors": totals["errors"],
        "ingest_readings_per_s": round(ingest_per_s, 1),
        "raw_insert_rows_per_s": round(rows_per_s, 1),
        "ingest_pct_of_raw": round(100 * ingest_per_s / rows_per_s, 1),
        "server_cpu_pct": cpu,
        "peak_rss_mb": max(rss),
        "event_loop_lag_max_ms": [_loop_lag_ms(t) for t in metrics_text],
        "seed_s": seed_s,
        "failures": failures[:20],
        "commit": _commit(),
        "machine": machine(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    result["meets_budget"] = (
        reading["p99"] is not None
        and reading["p99"] <= BUDGET["reading_p99_ms"]
        and (alarm_p["p99"] is None or alarm_p["p99"] <= BUDGET["alarm_p99_ms"])
        and lost == 0
        and result["duplicates"] == 0
        and result["peak_rss_mb"] <= BUDGET["peak_rss_mb"]
    )
    return result
