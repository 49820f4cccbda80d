"""Alembic is the only way the schema changes: it must go up, down and up again, and match the models."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from app.core import migrations
from app.core.config import Settings
from app.core.db import create_engine
from app.models_registry import Base


def table_names(url: str) -> set[str]:
    async def go() -> set[str]:
        engine = create_engine(Settings(env="test", database_url=url))
        try:
            async with engine.connect() as conn:
                return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        finally:
            await engine.dispose()

    return asyncio.run(go())


def schema_diff(url: str) -> list:
    async def go() -> list:
        engine = create_engine(Settings(env="test", database_url=url))
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda c: compare_metadata(
                        MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata
                    )
                )
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_upgrade_downgrade_upgrade(migrated_url):
    model_tables = set(Base.metadata.tables)
    assert model_tables <= table_names(migrated_url)
    migrations.downgrade(migrated_url, "base")
    assert table_names(migrated_url) <= {"alembic_version"}
    migrations.upgrade(migrated_url)
    assert model_tables <= table_names(migrated_url)


def test_migrations_match_the_models(migrated_url):
    assert schema_diff(migrated_url) == []


def test_there_is_one_head():
    assert len(migrations.head_revisions("sqlite+aiosqlite:///unused.db")) == 1


async def test_schema_problem_says_which_command_to_run(tmp_path, migrated_url):
    fresh = f"sqlite+aiosqlite:///{tmp_path}/empty.db"
    engine = create_engine(Settings(env="test", database_url=fresh))
    try:
        problem = await migrations.schema_problem(engine, fresh)
    finally:
        await engine.dispose()
    assert problem is not None
    assert "ketamine-monitor migrate" in problem
    engine = create_engine(Settings(env="test", database_url=migrated_url))
    try:
        assert await migrations.schema_problem(engine, migrated_url) is None
    finally:
        await engine.dispose()
