"""Two copies of one batch arriving at once over two connections store each reading once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.core.config import Settings
from app.main import create_app
from tests.fixtures.cli import scalar, seed_device


@pytest.mark.postgres
@pytest.mark.slow
async def test_concurrent_identical_batches_store_each_reading_once(migrated_url: str):
    key = await asyncio.to_thread(seed_device, migrated_url)
    app = create_app(Settings(env="test", database_url=migrated_url))
    now = datetime.now(UTC)
    body = {
        "readings": [
            {
                "id": f"r{i}",
                "metric": "hr",
                "value": 60 + i % 30,
                "unit": "/min",
                "observed_at": (now - timedelta(seconds=i)).isoformat(),
            }
            for i in range(200)
        ]
    }
    headers = {"Authorization": f"Bearer {key}"}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            for _ in range(3):
                responses = await asyncio.gather(
                    *(client.post("/api/v1/vitals", json=body, headers=headers) for _ in range(4))
                )
                assert [r.status_code for r in responses] == [200] * 4
                for r in responses:
                    assert {x["status"] for x in r.json()["results"]} <= {"created", "duplicate"}
    finally:
        await app.state.engine.dispose()
    assert (
        await asyncio.to_thread(scalar, migrated_url, "SELECT count(*) FROM vital_reading") == 200
    )
    assert await asyncio.to_thread(scalar, migrated_url, "SELECT count(*) FROM event") == 200
    assert await asyncio.to_thread(scalar, migrated_url, "SELECT max(seq) FROM event") == 200
    assert await asyncio.to_thread(scalar, migrated_url, "SELECT accepted_count FROM device") == 200
