"""Results: a JSON file per run under bench/results/ and a row per run in bench/RESULTS.md."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
TABLE = HERE / "RESULTS.md"
HEADER = (
    "| date | commit | run | monitors | boards | inst | db | reading→board p50/p95/p99/max ms "
    "| alarm→board p50/p99 ms | lost | dup | ingest/s | raw insert/s | % of raw | CPU % | peak RSS MB "
    "| loop lag ms | budget |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
)


def _p(d: dict[str, Any], *keys: str) -> str:
    return "/".join("–" if d.get(k) is None else f"{d[k]:g}" for k in keys)


def _add_row(header: str, row: str) -> None:
    """Append ``row`` to the end of the table that starts with ``header`` (added at the end
    of the file if missing), leaving the other tables and the text around them alone."""
    text = TABLE.read_text() if TABLE.exists() else "# Benchmark results\n\nNewest last.\n"
    at = text.find(header)
    if at < 0:
        text = text.rstrip("\n") + "\n\n" + header
        at = text.find(header)
    end = at + len(header)
    while end < len(text) and text.startswith("|", end):
        end = text.index("\n", end) + 1 if "\n" in text[end:] else len(text)
    TABLE.write_text(text[:end] + row + text[end:])


def write(result: dict[str, Any], name: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{time.strftime('%Y-%m-%d')}-{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    row = (
        f"| {result['at'][:10]} | {result['commit']} | {name} | {result['monitors']} | {result['boards']} "
        f"| {result['instances']} | {result['database']} "
        f"| {_p(result['reading_to_board_ms'], 'p50', 'p95', 'p99', 'max')} "
        f"| {_p(result['alarm_to_board_ms'], 'p50', 'p99')} | {result['lost']} | {result['duplicates']} "
        f"| {result['ingest_readings_per_s']:g} | {result['raw_insert_rows_per_s']:g} "
        f"| {result['ingest_pct_of_raw']:g} | {'+'.join(str(c) for c in result['server_cpu_pct'])} "
        f"| {result['peak_rss_mb']:g} | {'+'.join(str(x) for x in result['event_loop_lag_max_ms'])} "
        f"| {'met' if result.get('meets_budget') else 'missed'} |\n"
    )
    _add_row(HEADER, row)
    return path


BATCH_HEADER = (
    "| date | commit | run | clients × batch | db | readings/s | raw insert/s "
    "| % of raw | CPU % | peak RSS MB | budget |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
)


def write_batch(result: dict[str, Any], name: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{time.strftime('%Y-%m-%d')}-{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    _add_row(
        BATCH_HEADER,
        f"| {result['at'][:10]} | {result['commit']} | {name} "
        f"| {result['clients']} × {result['batch_readings']} | {result['database']} "
        f"| {result['ingest_readings_per_s']:g} | {result['raw_insert_rows_per_s']:g} "
        f"| {result['ingest_pct_of_raw']:g} | {result['server_cpu_pct']:g} | {result['peak_rss_mb']:g} "
        f"| {'met' if result['meets_budget'] else 'missed'} |\n",
    )
    return path
