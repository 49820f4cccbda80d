from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

import app.models_registry
from app.core import migrations, security
from app.core.config import Settings
from app.core.db import create_engine, get_session
from app.core.logging import configure_logging
from app.main import create_app
from tests.fixtures.clock import FakeClock
from tests.fixtures.databases import (
    ON_POSTGRES,
    TEST_DATABASE_URL,
    TEST_REDIS_URL,
    create_pg_database,
    drop_pg_database,
)

pytest_plugins = ["tests.fixtures.cli", "tests.fixtures.sessions", "tests.fixtures.webhooks"]

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [
        f"database: {'PostgreSQL (TEST_DATABASE_URL)' if ON_POSTGRES else 'SQLite (TEST_DATABASE_URL not set: PostgreSQL-only tests skip)'}"
    ]
    lines.append(
        f"redis: {'TEST_REDIS_URL set' if TEST_REDIS_URL else 'not set (in-memory broker; Redis tests skip)'}"
    )
    return lines


SLOW_TEST_BUDGET_S = 300


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Real servers under coverage on two busy cores: a larger, still bounded, time budget.
    for item in items:
        if "slow" in item.keywords and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(SLOW_TEST_BUDGET_S))
    if ON_POSTGRES:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set TEST_DATABASE_URL (make test on CI does)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _light_argon2() -> Iterator[None]:
    # Real Argon2, lighter parameters: the suite hashes hundreds of passwords.
    original = security._hasher
    security._hasher = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    yield
    security._hasher = original


@pytest.fixture(autouse=True)
def _info_logging() -> None:
    # An app built in-process with another log level reconfigures structlog for the whole
    # process; tests that capture logs expect the default, whatever ran before them.
    configure_logging(level="INFO")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[str]:
    """One migrated database per xdist worker, built with ``alembic upgrade head``."""
    if TEST_DATABASE_URL is not None:
        url = create_pg_database(TEST_DATABASE_URL, f"w{worker_id}_{os.getpid()}")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db')}/test.db"
    migrations.upgrade(url)
    yield url
    if TEST_DATABASE_URL is not None:
        drop_pg_database(url)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        secret_key=TEST_SECRET,
        log_json=True,
        redis_url=TEST_REDIS_URL,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session inside an outer transaction that is rolled back after the test."""
    async with engine.connect() as conn:
        outer = await conn.begin()
        session = AsyncSession(
            bind=conn,
            expire_on_commit=False,
            autoflush=False,
            join_transaction_mode="create_savepoint",
        )
        try:
            yield session
        finally:
            await session.close()
            await outer.rollback()


@pytest.fixture
async def app(settings: Settings, db: AsyncSession, clock: FakeClock) -> AsyncIterator[FastAPI]:
    application = create_app(settings, clock=clock)

    async def session_in_test_transaction() -> AsyncIterator[AsyncSession]:
        # Same commit/rollback contract as get_session; commit only releases a savepoint here.
        # What the test set up first is committed, as it would be before a real request.
        await db.commit()
        db.expunge_all()
        try:
            yield db
        except BaseException:
            await db.rollback()
            raise
        await db.commit()

    application.dependency_overrides[get_session] = session_in_test_transaction
    yield application
    await application.state.engine.dispose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parents[1]
