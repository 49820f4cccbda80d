"""The raw-insert ceiling: the same reading rows inserted by the same driver with plain
batched inserts (executemany) and no application code, on the same database."""

from __future__ import annotations

import sqlite3
import time
import uuid
from datetime import UTC, datetime

import asyncpg
from sqlalchemy.engine import make_url

COLUMNS = (
    "id, clinic_id, device_id, source_id, source, session_id, metric, value, unit, observed_at, "
    "utc_offset_minutes, measurement_id, original_value, original_unit, received_at, late, "
    "entered_by, excluded_at, excluded_reason"
)


def _rows(clinic_id: str, device_id: str, session_id: str, count: int) -> list[tuple[object, ...]]:
    now = datetime.now(UTC)
    metrics = (("spo2", 97.0, "%"), ("hr", 74.0, "/min"), ("rr", 14.0, "/min"))
    rows = []
    for n in range(count):
        metric, value, unit = metrics[n % 3]
        rows.append(
            (
                uuid.uuid4(),
                uuid.UUID(clinic_id),
                uuid.UUID(device_id),
                f"ceiling-{n}",
                "device",
                uuid.UUID(session_id),
                metric,
                value,
                unit,
                now,
                0,
                None,
                value,
                unit,
                now,
                False,
                None,
                None,
                None,
            )
        )
    return rows


async def postgres_rows_per_s(
    url: str, clinic_id: str, device_id: str, session_id: str, *, rows: int, batch: int
) -> float:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    data = _rows(clinic_id, device_id, session_id, rows)
    placeholders = ", ".join(f"${i}" for i in range(1, 20))
    sql = f"INSERT INTO vital_reading ({COLUMNS}) VALUES ({placeholders})"
    try:
        start = time.perf_counter()
        for first in range(0, rows, batch):
            async with conn.transaction():
                await conn.executemany(sql, data[first : first + batch])
        elapsed = time.perf_counter() - start
        await conn.execute("DELETE FROM vital_reading WHERE source_id LIKE 'ceiling-%'")
    finally:
        await conn.close()
    return rows / elapsed


def sqlite_rows_per_s(
    url: str, clinic_id: str, device_id: str, session_id: str, *, rows: int, batch: int
) -> float:
    path = make_url(url).database
    conn = sqlite3.connect(str(path))
    conn.execute("PRAGMA journal_mode=WAL")
    data = [
        tuple(
            v.hex if isinstance(v, uuid.UUID) else v.isoformat() if isinstance(v, datetime) else v
            for v in row
        )
        for row in _rows(clinic_id, device_id, session_id, rows)
    ]
    sql = f"INSERT INTO vital_reading ({COLUMNS}) VALUES ({', '.join('?' * 19)})"
    try:
        start = time.perf_counter()
        for first in range(0, rows, batch):
            with conn:
                conn.executemany(sql, data[first : first + batch])
        elapsed = time.perf_counter() - start
        with conn:
            conn.execute("DELETE FROM vital_reading WHERE source_id LIKE 'ceiling-%'")
    finally:
        conn.close()
    return rows / elapsed
