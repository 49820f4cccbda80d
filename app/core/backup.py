"""Backups: SQLite through its online backup API, PostgreSQL through pg_dump and pg_restore.

Both are safe while the server is writing: SQLite copies every page in one step under one read
transaction (in WAL mode writers go on meanwhile; a copy made in several steps would start over
whenever another connection writes, and might never end), and pg_dump reads one snapshot. A
restore accepts only a copy of this application's database at the revision this version
expects, and overwrites a database that holds tables only when told to (``force``).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url


class BackupError(Exception):
    """Refused or failed; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Copied:
    path: Path
    revision: str
    size_bytes: int


def is_sqlite(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "sqlite"


def sqlite_file(database_url: str) -> Path:
    """The database file of an SQLite URL."""
    database = make_url(database_url).database
    if not database or database == ":memory:":
        raise BackupError("APP_DATABASE_URL names no SQLite file (an in-memory database)")
    return Path(database)


def _connect(path: Path) -> sqlite3.Connection:
    # Read-write even for reading: a read-only connection cannot open a WAL database whose
    # shared-memory file is gone (the server stopped), and reading writes nothing anyway.
    return sqlite3.connect(path, timeout=30)


def _sqlite_revision(conn: sqlite3.Connection, path: Path) -> str:
    """The Alembic revision of an SQLite file, after checking it is an intact database."""
    try:
        checked = conn.execute("PRAGMA quick_check").fetchone()
        rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: not a database of this application ({exc})") from exc
    if checked is None or checked[0] != "ok":
        raise BackupError(f"{path}: the database is damaged ({checked[0] if checked else '?'})")
    if len(rows) != 1:
        raise BackupError(f"{path}: no single Alembic revision recorded; not a copy of ours")
    return str(rows[0][0])


def _has_tables(conn: sqlite3.Connection) -> bool:
    found = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()
    return bool(found and found[0])


def check_revision(revision: str, expected: set[str], path: Path) -> None:
    if {revision} != expected:
        raise BackupError(
            f"{path}: the copy is at revision {revision}, this version expects "
            f"{', '.join(sorted(expected))}: restore it with the version that made it (then "
            "`ketamine-monitor migrate` brings it forward)"
        )


def backup_sqlite(source: Path, target: Path, *, overwrite: bool = False) -> Copied:
    """Copy the live database `source` to the new file `target` (written beside it, then
    renamed into place, so a failed copy never leaves a half file under the name)."""
    if not source.is_file():
        raise BackupError(f"{source}: no database file to back up")
    if target.exists() and not overwrite:
        raise BackupError(f"{target}: exists; choose a new name (or --force to replace it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = _connect(source)
    try:
        dst = _connect(partial)
        try:
            src.backup(dst)  # every page in one step: one consistent snapshot
            # One self-contained file: no write-ahead log beside it.
            dst.execute("PRAGMA journal_mode=DELETE")
            revision = _sqlite_revision(dst, target)
        finally:
            dst.close()
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"{source}: the copy failed ({exc})") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    partial.replace(target)
    return Copied(target, revision, target.stat().st_size)


def restore_sqlite(
    source: Path, target: Path, *, expected_revisions: set[str], force: bool
) -> Copied:
    """Copy the backup `source` over the database `target` (stop the server first)."""
    if not source.is_file():
        raise BackupError(f"{source}: no such backup file")
    src = _connect(source)
    try:
        revision = _sqlite_revision(src, source)
        check_revision(revision, expected_revisions, source)
        target.parent.mkdir(parents=True, exist_ok=True)
        dst = _connect(target)
        try:
            if _has_tables(dst) and not force:
                raise BackupError(
                    f"{target}: the database is not empty; restoring would replace it "
                    "(stop the server, keep a copy of it, then restore with --force)"
                )
            # Through the backup API, not a file copy: the target's write-ahead log is
            # accounted for instead of being left stale beside the restored file.
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            raise BackupError(f"{target}: the restore failed ({exc})") from exc
        finally:
            dst.close()
    finally:
        src.close()
    return Copied(target, revision, target.stat().st_size)


# --------------------------------------------------------------------------------- PostgreSQL


@dataclass(frozen=True, slots=True)
class Command:
    """A client program to run; the password travels in PGPASSWORD, never in the arguments."""

    argv: tuple[str, ...]
    password: str | None

    def shell(self) -> str:
        line = " ".join(_quote(a) for a in self.argv)
        return ("PGPASSWORD=... " if self.password else "") + line

    def run(self) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ)
        if self.password:
            env["PGPASSWORD"] = self.password
        return subprocess.run(self.argv, capture_output=True, text=True, env=env, check=False)


def _quote(arg: str) -> str:
    safe = arg and all(c.isalnum() or c in "-_./:=@%+," for c in arg)
    return arg if safe else "'" + arg.replace("'", "'\\''") + "'"


def _libpq(database_url: str) -> tuple[str, str | None]:
    """A libpq URI without the password, and the password."""
    url = make_url(database_url)
    # Built anew: URL.set() cannot take a password away.
    plain = URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )
    return plain.render_as_string(hide_password=False), url.password


def pg_dump(database_url: str, path: Path) -> Command:
    uri, password = _libpq(database_url)
    # Custom format: compressed, and pg_restore can restore it into an empty database.
    argv = ("pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--file", str(path))
    return Command((*argv, "--dbname", uri), password)


def pg_restore(database_url: str, path: Path, *, clean: bool) -> Command:
    uri, password = _libpq(database_url)
    argv = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error"]
    argv += ["--single-transaction"]
    if clean:
        argv += ["--clean", "--if-exists"]
    return Command((*argv, "--dbname", uri, str(path)), password)


def pg_dump_revision(path: Path) -> Command:
    """Prints the alembic_version rows of a dump (read from the file, no database needed)."""
    argv = ("pg_restore", "--data-only", "--table=alembic_version", "--file=-", str(path))
    return Command(argv, None)


def missing_programs(names: Sequence[str]) -> list[str]:
    return [name for name in names if shutil.which(name) is None]


def revision_in_dump(listing: str, path: Path) -> str:
    """The revision from `pg_restore --data-only --table=alembic_version` output."""
    lines = listing.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("COPY "))
    except StopIteration as exc:
        raise BackupError(f"{path}: holds no alembic_version rows; not a dump of ours") from exc
    rows = []
    for line in lines[start + 1 :]:
        if line == "\\.":
            break
        rows.append(line.strip())
    if len(rows) != 1:
        raise BackupError(f"{path}: no single Alembic revision in the dump; not a dump of ours")
    return rows[0]
