"""`ketamine-monitor backup` / `restore` (issue 13 §6): a backup taken while a real server is
ingesting holds every reading acknowledged before it started, restores into a new database,
and its audit chain verifies; restore refuses what is not a copy of ours or would overwrite."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from app.core import backup as backup_core
from app.core import migrations
from app.core.config import Settings
from app.core.db import create_engine
from app.core.migrations import PROJECT_ROOT
from tests.fixtures.cli import execute, run_cli, seed_admin, seed_device
from tests.fixtures.databases import drop_database, fresh_database_url
from tests.fixtures.processes import app_process

SECRET = "backup-test-secret-key-that-is-long-enough-0123456789"
BATCH = 20
BEFORE_BACKUP = 1000  # readings acknowledged before the backup starts


def rows(url: str, statement: str) -> list[str]:
    async def go() -> list[str]:
        engine = create_engine(Settings(env="test", database_url=url))
        try:
            async with engine.connect() as conn:
                return [str(r[0]) for r in (await conn.execute(text(statement))).all()]
        finally:
            await engine.dispose()

    return asyncio.run(go())


async def cli_process(url: str, *args: str) -> tuple[int, str]:
    """The command line in a process of its own, as an operator runs it beside the server."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from app.cli import main; main()",
        *args,
        cwd=PROJECT_ROOT,
        env={**os.environ, "APP_ENV": "test", "APP_DATABASE_URL": url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


async def ingest(host: str, key: str, acked: list[str], stop: asyncio.Event) -> None:
    """REST batches until told to stop; a reading counts once the server acknowledged it."""
    headers = {"Authorization": f"Bearer {key}"}
    n = 0
    async with httpx.AsyncClient(base_url=f"http://{host}", timeout=30) as http:
        while not stop.is_set():
            now = datetime.now(UTC).isoformat()
            batch = [
                {"id": f"r{n + i}", "metric": "spo2", "value": 97, "unit": "%", "observed_at": now}
                for i in range(BATCH)
            ]
            n += BATCH
            r = await http.post("/api/v1/vitals", json={"readings": batch}, headers=headers)
            assert r.status_code == 200, r.text
            results = r.json()["results"]
            assert {x["status"] for x in results} == {"created"}, results
            acked.extend(x["id"] for x in results)


async def backup_during_ingest(url: str, path: Path) -> tuple[set[str], int, str]:
    """Back up `url` while a real server ingests into it: (readings acknowledged before the
    backup started, readings acknowledged while it ran, the command's output)."""
    key = await asyncio.to_thread(seed_device, url)
    async with app_process(url, SECRET) as host:
        acked: list[str] = []
        stop = asyncio.Event()
        writer = asyncio.create_task(ingest(host, key, acked, stop))
        try:
            async with asyncio.timeout(120):
                while len(acked) < BEFORE_BACKUP:  # noqa: ASYNC110 (the writer sets no event)
                    await asyncio.sleep(0.05)
            before = set(acked)
            code, output = await cli_process(url, "backup", str(path))
            during = len(acked) - len(before)
        finally:
            stop.set()
            await writer
    assert code == 0, output
    return before, during, output


def restored_copy_holds(restored_url: str, before: set[str]) -> int:
    """Checks the copy; the number of readings in it."""
    check = run_cli(restored_url, "verify-audit")
    assert check.exit_code == 0, check.output
    assert "audit chain intact" in check.output
    stored = rows(restored_url, "SELECT source_id FROM vital_reading")
    assert len(stored) == len(set(stored))
    missing = before - set(stored)
    assert not missing, f"{len(missing)} acknowledged readings are not in the copy"
    return len(stored)


def record(kind: str, before: set[str], during: int, in_copy: int, backup: Path) -> None:
    """The figures of the run, for docs/reliability.md: build/reliability/backup-<kind>.json."""
    figures = PROJECT_ROOT / "build" / "reliability" / f"backup-{kind}.json"
    figures.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "acknowledged_before_backup": len(before),
        "acknowledged_during_backup": during,
        "readings_in_restored_copy": in_copy,
        "acknowledged_before_backup_missing_from_copy": 0,
        "backup_bytes": backup.stat().st_size,
        "verify_audit_on_copy": "passed",
    }
    figures.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


@pytest.mark.slow
@pytest.mark.timeout(120)  # about 5 s
async def test_sqlite_backup_during_ingest_restores_with_every_acknowledged_reading(
    tmp_path: Path,
):
    url = f"sqlite+aiosqlite:///{tmp_path}/live.db"
    await asyncio.to_thread(migrations.upgrade, url)
    backup = tmp_path / "backup.db"
    before, during, output = await backup_during_ingest(url, backup)
    assert "revision" in output

    restored_url = f"sqlite+aiosqlite:///{tmp_path}/restored.db"
    result = await asyncio.to_thread(run_cli, restored_url, "restore", str(backup))
    assert result.exit_code == 0, result.output
    in_copy = await asyncio.to_thread(restored_copy_holds, restored_url, before)
    record("sqlite", before, during, in_copy, backup)


@pytest.mark.slow
@pytest.mark.timeout(120)  # about 5 s
@pytest.mark.postgres
@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="needs pg_dump and pg_restore")
async def test_postgres_backup_during_ingest_restores_with_every_acknowledged_reading(
    migrated_url: str, tmp_path: Path
):
    backup = tmp_path / "backup.dump"
    before, during, _ = await backup_during_ingest(migrated_url, backup)

    restored_url = await asyncio.to_thread(fresh_database_url, str(tmp_path), "restored")
    try:
        result = await asyncio.to_thread(run_cli, restored_url, "restore", str(backup))
        assert result.exit_code == 0, result.output
        in_copy = await asyncio.to_thread(restored_copy_holds, restored_url, before)
    finally:
        await asyncio.to_thread(drop_database, restored_url)
    record("postgresql", before, during, in_copy, backup)


# Refusals, on SQLite.


@pytest.fixture
def backed_up(tmp_path: Path) -> tuple[str, Path]:
    """An SQLite database with a clinic and its admin, and a backup of it."""
    url = f"sqlite+aiosqlite:///{tmp_path}/source.db"
    migrations.upgrade(url)
    seed_admin(url)
    path = tmp_path / "backup.db"
    result = run_cli(url, "backup", str(path))
    assert result.exit_code == 0, result.output
    return url, path


class TestBackup:
    def test_the_copy_is_one_self_contained_file(self, backed_up):
        _, path = backed_up
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        finally:
            conn.close()
        assert not path.with_name(path.name + "-wal").exists()

    def test_refuses_to_overwrite_a_file_unless_forced(self, backed_up):
        url, path = backed_up
        again = run_cli(url, "backup", str(path))
        assert again.exit_code == 1
        assert "exists" in again.output
        assert run_cli(url, "backup", str(path), "--force").exit_code == 0

    def test_postgresql_without_pg_dump_prints_the_command(self, tmp_path, monkeypatch):
        monkeypatch.setattr(backup_core.shutil, "which", lambda _name: None)
        url = "postgresql+asyncpg://km:s3cret@db.example:5432/ketamine"
        result = run_cli(url, "backup", str(tmp_path / "x.dump"))
        assert result.exit_code == 1
        assert "PGPASSWORD=... pg_dump --format=custom" in result.output
        assert f"--file {tmp_path / 'x.dump'} " in result.output
        assert "postgresql://km@db.example:5432/ketamine" in result.output
        assert "s3cret" not in result.output
        assert "pg_dump is not installed" in result.output


class TestRestore:
    def test_into_an_empty_database(self, backed_up, tmp_path):
        _, path = backed_up
        target = f"sqlite+aiosqlite:///{tmp_path}/new.db"
        result = run_cli(target, "restore", str(path))
        assert result.exit_code == 0, result.output
        assert run_cli(target, "verify-audit").exit_code == 0
        assert rows(target, "SELECT username FROM staff_user") == ["admin1"]

    def test_refuses_a_database_that_is_not_empty_unless_forced(self, backed_up, tmp_path):
        _, path = backed_up
        target = f"sqlite+aiosqlite:///{tmp_path}/other.db"
        migrations.upgrade(target)
        seed_admin(target, "someone")
        refused = run_cli(target, "restore", str(path))
        assert refused.exit_code == 1
        assert "not empty" in refused.output
        assert rows(target, "SELECT username FROM staff_user") == ["someone"]
        forced = run_cli(target, "restore", str(path), "--force")
        assert forced.exit_code == 0, forced.output
        assert rows(target, "SELECT username FROM staff_user") == ["admin1"]
        assert run_cli(target, "verify-audit").exit_code == 0

    def test_refuses_a_file_that_is_not_a_database(self, tmp_path):
        junk = tmp_path / "junk.db"
        junk.write_bytes(b"not a database at all" * 100)
        target = f"sqlite+aiosqlite:///{tmp_path}/new.db"
        result = run_cli(target, "restore", str(junk))
        assert result.exit_code == 1
        assert "not a database of this application" in result.output
        assert not (tmp_path / "new.db").exists()

    def test_refuses_another_applications_database(self, tmp_path):
        other = tmp_path / "other.db"
        conn = sqlite3.connect(other)
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.commit()
        conn.close()
        result = run_cli(f"sqlite+aiosqlite:///{tmp_path}/new.db", "restore", str(other))
        assert result.exit_code == 1
        assert "not a database of this application" in result.output

    def test_refuses_a_copy_at_another_revision(self, backed_up, tmp_path):
        _, path = backed_up
        old = tmp_path / "old.db"
        shutil.copy(path, old)
        execute(f"sqlite+aiosqlite:///{old}", "UPDATE alembic_version SET version_num = 'abc123'")
        result = run_cli(f"sqlite+aiosqlite:///{tmp_path}/new.db", "restore", str(old))
        assert result.exit_code == 1
        assert "at revision abc123" in result.output
        assert "migrate" in result.output

    def test_refuses_a_missing_file(self, tmp_path):
        result = run_cli(f"sqlite+aiosqlite:///{tmp_path}/new.db", "restore", "nowhere.db")
        assert result.exit_code == 1
        assert "no such backup file" in result.output
