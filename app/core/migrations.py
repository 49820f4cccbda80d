"""Alembic from code: upgrade, and the check that ``serve`` runs on a migrated database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def head_revisions(database_url: str) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())


async def current_revisions(engine: AsyncEngine) -> set[str]:
    def read(conn: Connection) -> set[str]:
        return set(MigrationContext.configure(conn).get_current_heads())

    async with engine.connect() as conn:
        return await conn.run_sync(read)


async def schema_problem(engine: AsyncEngine, database_url: str) -> str | None:
    """None when the database is at the newest migration, else what is wrong and what to run."""
    current = await current_revisions(engine)
    heads = head_revisions(database_url)
    if current == heads:
        return None
    if not current:
        return "the database has not been migrated; run `ketamine-monitor migrate` first"
    return (
        f"the database is at revision {', '.join(sorted(current))} but this version needs "
        f"{', '.join(sorted(heads))}; run `ketamine-monitor migrate` first"
    )
