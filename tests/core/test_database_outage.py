"""An unreachable database gives 503 with Retry-After (never a 2xx after a lost write, never 500)
and the service recovers by itself when the database is back."""

from __future__ import annotations

import asyncio
import sqlite3

import httpx
import pytest
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.main import create_app
from tests.fixtures.cli import scalar, seed_admin
from tests.fixtures.factories import PASSWORD
from tests.fixtures.proxy import TcpProxy


async def admin_token(client: httpx.AsyncClient) -> dict[str, str]:
    r = await client.post("/api/v1/auth/login", json={"username": "admin1", "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert int(r.headers["Retry-After"]) > 0
    assert r.json()["error"] == "ServiceUnavailable"


@pytest.mark.postgres
@pytest.mark.slow
async def test_postgres_outage_gives_503_and_recovers(migrated_url: str):
    await asyncio.to_thread(seed_admin, migrated_url)
    target = make_url(migrated_url)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    await proxy.start()
    via_proxy = target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    settings = Settings(
        env="test", database_url=via_proxy, db_connect_timeout_s=2, readiness_timeout_s=2
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            headers = await admin_token(client)
            assert (await client.get("/readyz")).status_code == 200
            assert (
                await client.post("/api/v1/chairs", json={"name": "before"}, headers=headers)
            ).status_code == 201

            await proxy.cut()
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert "Retry-After" in ready.headers
            assert_unavailable(
                await client.post("/api/v1/chairs", json={"name": "during"}, headers=headers)
            )
            assert_unavailable(await client.get("/api/v1/chairs", headers=headers))
            assert (await client.get("/healthz")).status_code == 200

            await proxy.start()
            assert (await client.get("/readyz")).status_code == 200
            r = await client.post("/api/v1/chairs", json={"name": "after"}, headers=headers)
            assert r.status_code == 201, r.text
            names = {
                c["name"]
                for c in (await client.get("/api/v1/chairs", headers=headers)).json()["items"]
            }
            assert names == {"before", "after"}
    finally:
        await app.state.engine.dispose()
        await proxy.cut()
    assert (
        await asyncio.to_thread(
            scalar, migrated_url, "SELECT count(*) FROM chair WHERE name = 'during'"
        )
        == 0
    )


async def test_sqlite_write_lock_held_elsewhere_gives_503_then_recovers(migrated_url: str):
    if not migrated_url.startswith("sqlite"):
        pytest.skip("SQLite-only scenario (the PostgreSQL outage test covers PostgreSQL)")
    await asyncio.to_thread(seed_admin, migrated_url)
    app = create_app(Settings(env="test", database_url=migrated_url, db_connect_timeout_s=0.3))
    transport = httpx.ASGITransport(app=app)
    holder = sqlite3.connect(make_url(migrated_url).database, isolation_level=None)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            headers = await admin_token(client)
            holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            assert_unavailable(
                await client.post("/api/v1/chairs", json={"name": "during"}, headers=headers)
            )
            assert (await client.get("/readyz")).status_code == 200  # readers are not blocked (WAL)
            holder.execute("ROLLBACK")
            r = await client.post("/api/v1/chairs", json={"name": "after"}, headers=headers)
            assert r.status_code == 201, r.text
            names = {
                c["name"]
                for c in (await client.get("/api/v1/chairs", headers=headers)).json()["items"]
            }
            assert names == {"after"}
    finally:
        holder.close()
        await app.state.engine.dispose()
