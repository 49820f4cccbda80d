"""``ketamine-monitor`` command line: serve, demo, migrate, users, devices, audit check,
backup and restore."""

from __future__ import annotations

import asyncio
import getpass
import os
import secrets
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import typer
import uvicorn
from pydantic import ValidationError
from sqlalchemy import text as sa_text
from sqlalchemy.ext.asyncio import AsyncSession

from app import demo as demo_data
from app import simulator
from app.audit import service as audit_service
from app.audit.domain import Actor
from app.auth import service as auth_service
from app.auth.schemas import StaffRole, UserCreate
from app.clinics import service as clinics_service
from app.core import backup as backup_core
from app.core import migrations
from app.core.clock import SystemClock
from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.core.errors import AppError, NotFound
from app.devices import service as devices_service
from app.devices.schemas import DeviceCreate
from app.protocols import service as protocols_service
from app.registry.service import export as registry_export
from app.simulator import Scenario

cli = typer.Typer(help="Ketamine infusion monitor", no_args_is_help=True, add_completion=False)
protocols_cli = typer.Typer(help="Protocol files: load and list versions", no_args_is_help=True)
cli.add_typer(protocols_cli, name="protocols")
T = TypeVar("T")

DEFAULT_PROTOCOL_FILE = "ketamine-iv-0.5mgkg-40min.toml"
DEMO_CLINIC = "Demo Clinic"
DEMO_CHAIRS = ("Chair 1", "Chair 2", "Chair 3", "Chair 4")
DEMO_USERS: tuple[tuple[str, StaffRole, str], ...] = (
    ("nurse", "nurse", "Demo Nurse"),
    ("physician", "physician", "Demo Physician"),
    ("admin", "admin", "Demo Admin"),
)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def _settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        messages = "; ".join(
            f"APP_{'_'.join(str(p) for p in err['loc']).upper() or 'SETTINGS'}: {err['msg']}"
            for err in exc.errors()
        )
        raise _fail(f"invalid configuration: {messages}", 2) from exc


def _cli_actor() -> Actor:
    return Actor("cli", None, getpass.getuser())


def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except AppError as exc:
        raise _fail(exc.detail) from exc


def _check_schema(settings: Settings) -> None:
    async def check() -> str | None:
        engine = create_engine(settings)
        try:
            return await migrations.schema_problem(engine, settings.database_url)
        finally:
            await engine.dispose()

    problem = asyncio.run(check())
    if problem is not None:
        raise _fail(problem)


def _serve(settings: Settings, host: str, port: int) -> None:
    from app.main import create_app

    _check_schema(settings)
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        access_log=False,
        proxy_headers=True,
        # Board and ingest frames are small JSON on a clinic LAN: compressing each one costs
        # more CPU than the bandwidth it saves (issue 12 profile).
        ws_per_message_deflate=False,
        log_level=settings.log_level.lower(),
    )


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to bind (default APP_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default APP_PORT)")] = None,
    mllp_port: Annotated[
        int | None,
        typer.Option(help="HL7 MLLP listener port, usually 2575 (default APP_MLLP_PORT; off)"),
    ] = None,
) -> None:
    """Run the server. Refuses to start on a database that is not migrated."""
    settings = _settings()
    if mllp_port is not None:
        settings = settings.model_copy(update={"mllp_port": mllp_port})
    _serve(settings, host or settings.host, port or settings.port)


@cli.command()
def migrate(revision: Annotated[str, typer.Option(help="target revision")] = "head") -> None:
    """Bring the database schema up to date (Alembic)."""
    settings = _settings()
    migrations.upgrade(settings.database_url, revision)
    typer.echo(f"database migrated to {revision}")


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@cli.command("create-user")
def create_user(
    clinic: Annotated[str, typer.Option(help="clinic name (created if missing)")],
    username: Annotated[str, typer.Option()],
    role: Annotated[str, typer.Option(help="nurse, physician or admin")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin")
    ] = False,
    display_name: Annotated[str, typer.Option(help="name shown in the interface")] = "",
) -> None:
    """Create a staff user in a clinic."""
    settings = _settings()
    if role not in ("nurse", "physician", "admin"):
        raise _fail("--role must be nurse, physician or admin")
    password = _read_password(password_stdin)
    try:
        data = UserCreate.model_validate(
            {"username": username, "role": role, "password": password, "display_name": display_name}
        )
    except ValidationError as exc:
        raise _fail("; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())) from exc

    async def work(db: AsyncSession) -> str:
        now, actor = SystemClock().now(), _cli_actor()
        found = await clinics_service.get_or_create_clinic(db, name=clinic, actor=actor, now=now)
        user = await auth_service.create_user(
            db, clinic_id=found.id, data=data, actor=actor, now=now
        )
        return f"created {user.role} {user.username!r} in clinic {found.name!r}"

    typer.echo(_in_transaction(settings, work))


@cli.command("create-device")
def create_device(
    clinic: Annotated[str, typer.Option(help="clinic name")],
    name: Annotated[str, typer.Option(help="device name, unique in the clinic")],
    chair: Annotated[
        str | None, typer.Option(help="chair name to bind it to (created if missing)")
    ] = None,
) -> None:
    """Register a monitor or gateway; prints its API key once, alone on the last line."""
    settings = _settings()

    async def work(db: AsyncSession) -> devices_service.IssuedKey:
        now, actor = SystemClock().now(), _cli_actor()
        found = await clinics_service.get_clinic_by_name(db, clinic)
        chair_id = None
        if chair is not None:
            chair_row = await clinics_service.get_or_create_chair(
                db, clinic_id=found.id, name=chair, actor=actor, now=now
            )
            chair_id = chair_row.id
        return await devices_service.create_device(
            db,
            clinic_id=found.id,
            data=DeviceCreate(name=name, chair_id=chair_id),
            actor=actor,
            now=now,
        )

    issued = _in_transaction(settings, work)
    typer.echo(f"device {issued.device.name!r} id {issued.device.id}")
    typer.echo("API key (shown once; store it in the device now):")
    typer.echo(issued.api_key)


@cli.command()
def simulate(
    server: Annotated[str, typer.Option(help="base URL of the server, e.g. http://127.0.0.1:8000")],
    device_key: Annotated[
        list[str], typer.Option("--device-key", help="device API key (repeat for several)")
    ],
    monitors: Annotated[
        int, typer.Option(min=1, max=5000, help="simulated monitors (keys used in turn)")
    ] = 1,
    rate: Annotated[
        float, typer.Option(min=0.1, max=10, help="continuous readings per second")
    ] = 1.0,
    duration_s: Annotated[float, typer.Option(min=1, help="seconds of device time")] = 3600.0,
    speed: Annotated[float, typer.Option(min=1, max=1000, help="time compression (tests)")] = 1.0,
    scenario: Annotated[
        Scenario, typer.Option(help="what happens a third of the way in")
    ] = Scenario.NORMAL,
    output_format: Annotated[
        simulator.Format,
        typer.Option(
            "--format",
            help="REST batches, one WebSocket per monitor, HL7 ORU^R01 or FHIR Bundles",
        ),
    ] = simulator.Format.REST,
    seed: Annotated[int, typer.Option(help="random seed: the same seed gives the same series")] = 1,
) -> None:
    """Simulated bedside monitors sending realistic vital signs; prints what was acknowledged."""
    summary = asyncio.run(
        simulator.simulate(
            server=server,
            device_keys=device_key,
            monitors=monitors,
            rate_hz=rate,
            duration_s=duration_s,
            speed=speed,
            scenario=scenario,
            seed=seed,
            output_format=output_format,
        )
    )
    typer.echo(summary.line())


@cli.command("export")
def export_registry(
    clinic: Annotated[str, typer.Option(help="clinic name")],
    first_day: Annotated[
        str | None, typer.Option("--from", help="first clinic day, YYYY-MM-DD")
    ] = None,
    last_day: Annotated[
        str | None, typer.Option("--to", help="last clinic day, YYYY-MM-DD")
    ] = None,
    patient_id: Annotated[str | None, typer.Option(help="one patient's id")] = None,
    output_format: Annotated[str, typer.Option("--format", help="csv or fhir")] = "csv",
    identified: Annotated[
        bool, typer.Option("--identified", help="names and MRNs instead of pseudonyms (audited)")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="write to this file instead of stdout")] = None,
) -> None:
    """Registry export: one row per session and per course (CSV) or a FHIR Bundle; audited."""
    if output_format not in ("csv", "fhir"):
        raise _fail("--format must be csv or fhir", 2)
    try:
        first = None if first_day is None else date.fromisoformat(first_day)
        last = None if last_day is None else date.fromisoformat(last_day)
        patient = None if patient_id is None else uuid.UUID(patient_id)
    except ValueError as exc:
        raise _fail(f"invalid --from, --to or --patient-id: {exc}", 2) from exc
    settings = _settings()

    async def work(db: AsyncSession) -> str:
        return await registry_export.export_text(
            db,
            clinic_name=clinic,
            actor=_cli_actor(),
            first_day=first,
            last_day=last,
            patient_id=patient,
            output_format="fhir" if output_format == "fhir" else "csv",
            identified=identified,
            settings=settings,
            now=SystemClock().now(),
        )

    text = _in_transaction(settings, work)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}")


@cli.command("verify-audit")
def verify_audit() -> None:
    """Check the audit log's hash chain; exit 1 naming the first broken row."""
    settings = _settings()
    count, broken = _in_transaction(settings, audit_service.verify)
    if broken is not None:
        raise _fail(f"audit chain broken at seq {broken.seq}: {broken.reason} ({count} rows read)")
    typer.echo(f"audit chain intact: {count} rows")


def _require_pg(command: backup_core.Command, what: str) -> None:
    """Print the command line and fail where its PostgreSQL client program is missing."""
    missing = backup_core.missing_programs([command.argv[0]])
    if missing:
        typer.echo(command.shell())
        raise _fail(
            f"{missing[0]} is not installed here: run the command above on a machine with the "
            f"PostgreSQL client programs (Debian: apt-get install postgresql-client) to {what}"
        )


def _run_pg(command: backup_core.Command, what: str) -> str:
    """Run a PostgreSQL client program (or print it and fail, see _require_pg)."""
    _require_pg(command, what)
    done = command.run()
    if done.returncode != 0:
        raise _fail(f"{command.argv[0]} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def _pg_has_tables(settings: Settings) -> bool:
    async def count(db: AsyncSession) -> int:
        query = "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        return int((await db.execute(sa_text(query))).scalar_one())

    return _in_transaction(settings, count) > 0


@cli.command()
def backup(
    path: Annotated[Path, typer.Argument(help="the backup file to write")],
    force: Annotated[bool, typer.Option("--force", help="replace PATH if it exists")] = False,
) -> None:
    """Copy the database to PATH while the server runs (SQLite: online backup API; PostgreSQL:
    pg_dump, custom format)."""
    settings = _settings()
    url = settings.database_url
    try:
        if backup_core.is_sqlite(url):
            copied = backup_core.backup_sqlite(backup_core.sqlite_file(url), path, overwrite=force)
            typer.echo(
                f"backed up to {copied.path}: {copied.size_bytes} bytes, revision {copied.revision}"
            )
            return
        if path.exists() and not force:
            raise backup_core.BackupError(
                f"{path}: exists; choose a new name (or --force to replace it)"
            )
        _require_pg(backup_core.pg_dump(url, path), "make the backup")
        # Written beside PATH and renamed into place, as for SQLite: never a half file under it.
        partial = path.with_name(path.name + ".partial")
        try:
            _run_pg(backup_core.pg_dump(url, partial), "make the backup")
            listing = _run_pg(backup_core.pg_dump_revision(partial), "read the backup")
            revision = backup_core.revision_in_dump(listing, partial)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(path)
        typer.echo(f"backed up to {path}: {path.stat().st_size} bytes, revision {revision}")
    except backup_core.BackupError as exc:
        raise _fail(str(exc)) from exc


@cli.command()
def restore(
    path: Annotated[Path, typer.Argument(help="a backup made by `ketamine-monitor backup`")],
    force: Annotated[
        bool, typer.Option("--force", help="replace a database that is not empty")
    ] = False,
) -> None:
    """Restore a backup into APP_DATABASE_URL; stop the server first. Only a copy of this
    application's database at the revision this version expects is accepted."""
    settings = _settings()
    url = settings.database_url
    expected = migrations.head_revisions(url)
    try:
        if backup_core.is_sqlite(url):
            copied = backup_core.restore_sqlite(
                path, backup_core.sqlite_file(url), expected_revisions=expected, force=force
            )
            typer.echo(f"restored {path} into {copied.path}: revision {copied.revision}")
            return
        if not path.is_file():
            raise backup_core.BackupError(f"{path}: no such backup file")
        listing = _run_pg(backup_core.pg_dump_revision(path), "read the backup")
        revision = backup_core.revision_in_dump(listing, path)
        backup_core.check_revision(revision, expected, path)
        if not force and _pg_has_tables(settings):
            raise backup_core.BackupError(
                "the database is not empty; restoring would replace it (stop the server, keep "
                "a copy of it, then restore with --force)"
            )
        _run_pg(backup_core.pg_restore(url, path, clean=force), "restore the backup")
        typer.echo(f"restored {path}: revision {revision}")
    except backup_core.BackupError as exc:
        raise _fail(str(exc)) from exc


def _protocol_files(paths: list[Path]) -> list[Path]:
    if paths:
        return paths
    return sorted((migrations.PROJECT_ROOT / "protocols").glob("*.toml"))


async def _load_protocols(
    db: AsyncSession, clinic_id: uuid.UUID, paths: list[Path], actor: Actor
) -> list[tuple[Path, protocols_service.Loaded]]:
    now, loaded = SystemClock().now(), []
    for path in paths:
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise _fail(f"{path}: cannot read the file ({exc.strerror})") from exc
        result = await protocols_service.load_version(
            db, clinic_id=clinic_id, content=content, source_name=path.name, actor=actor, now=now
        )
        loaded.append((path, result))
    return loaded


@protocols_cli.command("load")
def protocols_load(
    clinic: Annotated[str, typer.Option(help="clinic name")],
    paths: Annotated[
        list[Path] | None, typer.Argument(help="files (default: protocols/*.toml)")
    ] = None,
) -> None:
    """Validate protocol files and store each as a pending version (approve it in the app)."""
    settings = _settings()
    files = _protocol_files(paths or [])

    async def work(db: AsyncSession) -> list[tuple[Path, protocols_service.Loaded]]:
        found = await clinics_service.get_clinic_by_name(db, clinic)
        return await _load_protocols(db, found.id, files, _cli_actor())

    for path, result in _in_transaction(settings, work):
        v = result.version
        state = "loaded" if result.created else "already loaded"
        typer.echo(
            f"{path.name}: {state}: {v.protocol_key} {v.version} [{v.status}] id {v.id} sha256 {v.sha256}"
        )


@protocols_cli.command("list")
def protocols_list(clinic: Annotated[str, typer.Option(help="clinic name")]) -> None:
    """List the clinic's protocol versions and their status."""
    settings = _settings()

    async def work(db: AsyncSession) -> list[str]:
        found = await clinics_service.get_clinic_by_name(db, clinic)
        return [
            f"{v.protocol_key} {v.version} [{v.status}] id {v.id} from {v.source_name}"
            for v in await protocols_service.list_versions(db, found.id)
        ]

    for line in _in_transaction(settings, work):
        typer.echo(line)


@dataclass(frozen=True, slots=True)
class DemoSeed:
    credentials: list[tuple[str, StaffRole, str]]
    monitor_keys: list[str]


async def _seed_demo(db: AsyncSession) -> DemoSeed:
    now, actor = SystemClock().now(), Actor("system", None, "demo")
    clinic = await clinics_service.get_or_create_clinic(db, name=DEMO_CLINIC, actor=actor, now=now)
    chairs = [
        await clinics_service.get_or_create_chair(
            db, clinic_id=clinic.id, name=chair, actor=actor, now=now
        )
        for chair in DEMO_CHAIRS
    ]
    credentials = []
    for username, role, display in DEMO_USERS:
        password = secrets.token_urlsafe(9)
        try:
            user = await auth_service.get_user_by_username(db, username)
        except NotFound:
            user = None
        if user is None:
            await auth_service.create_user(
                db,
                clinic_id=clinic.id,
                data=UserCreate(
                    username=username, role=role, password=password, display_name=display
                ),
                actor=actor,
                now=now,
            )
        else:
            await auth_service.set_password(db, user, password=password, actor=actor, now=now)
        credentials.append((username, role, password))
    await demo_data.seed(
        db,
        clinic_id=clinic.id,
        chairs=chairs,
        now=now,
        timezone=_settings(env="development").timezone,
    )
    # Fresh keys every start for the demo's simulated monitors (the old ones stop at once).
    keys = []
    for device in await devices_service.list_devices(db, clinic.id):
        if device.name.endswith(" monitor") and device.revoked_at is None:
            issued = await devices_service.rotate_key(
                db,
                clinic_id=clinic.id,
                device_id=device.id,
                overlap=timedelta(0),
                actor=actor,
                now=now,
            )
            keys.append(issued.api_key)
    return DemoSeed(credentials, keys)


def _simulate_in_background(server: str, keys: list[str]) -> None:
    """The demo's monitors, alive for a working day; they retry until the server is up."""

    def run() -> None:
        asyncio.run(
            simulator.simulate(
                server=server, device_keys=keys, monitors=len(keys), duration_s=10 * 3600
            )
        )

    threading.Thread(target=run, name="demo-monitors", daemon=True).start()


@cli.command()
def demo(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    data_dir: Annotated[Path, typer.Option(help="where the demo's SQLite database lives")] = Path(
        "data"
    ),
) -> None:
    """Run the demo: embedded SQLite, a demo clinic and its staff, on http://HOST:PORT/."""
    data_dir.mkdir(parents=True, exist_ok=True)
    url = os.environ.get("APP_DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir.resolve()}/demo.db"
    settings = _settings(database_url=url, env="development", log_json=False)
    migrations.upgrade(settings.database_url)
    seeded = _in_transaction(settings, _seed_demo)
    typer.echo(f"\nDemo clinic {DEMO_CLINIC!r} is ready. Log in as (new passwords every start):")
    for username, role, password in seeded.credentials:
        typer.echo(f"  {role:<10} username {username:<10} password {password}")
    typer.echo(f"{len(seeded.monitor_keys)} simulated monitors send vital signs to their chairs.")
    typer.echo(f"\nOpen http://{host}:{port}/ in a browser (Ctrl+C stops the demo).\n")
    _simulate_in_background(f"http://{host}:{port}", seeded.monitor_keys)
    _serve(settings, host, port)


def main() -> None:
    cli()
