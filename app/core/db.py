"""Engine, sessions and the ORM base. One transaction per request, committed before the response."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar

from fastapi import Depends, Request
from sqlalchemy import DateTime, Dialect, MetaData, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from app.core.config import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both databases (SQLite stores no offset, so we add it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: every timestamp must carry a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, _dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime()}

    def __repr__(self) -> str:
        # Ids only: reprs end up in logs and tracebacks, PHI must not.
        ident = getattr(self, "id", None)
        return f"<{type(self).__name__} id={ident}>"


# Execution option for connections that only read; on SQLite they skip the write lock.
READ_ONLY = "km_read_only"


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


def _sqlite_setup(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy emit BEGIN itself so SAVEPOINTs and write locks behave.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        # FULL: an acknowledged write survives a power cut, not only a process crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: read-then-write (the audit chain) cannot
        # interleave. Read-only work (readiness, snapshots) must not queue behind writers.
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def create_engine(settings: Settings, url: str | None = None) -> AsyncEngine:
    db_url = make_url(url or settings.database_url)
    if db_url.get_backend_name() == "sqlite":
        if db_url.database and db_url.database != ":memory:":
            Path(db_url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            db_url, hide_parameters=True, connect_args={"timeout": settings.db_connect_timeout_s}
        )
        _sqlite_setup(engine, int(settings.db_connect_timeout_s * 1000))
        return engine
    return create_async_engine(
        db_url,
        # Bound values are patient data: keep them out of exception messages and logs.
        hide_parameters=True,
        pool_pre_ping=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_timeout=settings.db_connect_timeout_s,
        connect_args={
            "timeout": settings.db_connect_timeout_s,
            "command_timeout": 30,
            "server_settings": {"application_name": "ketamine-monitor", "timezone": "UTC"},
        },
    )


SessionHook = Callable[[Session], None]


def create_sessionmaker(
    engine: AsyncEngine,
    *,
    after_commit: Sequence[SessionHook] = (),
    after_rollback: Sequence[SessionHook] = (),
) -> async_sessionmaker[AsyncSession]:
    """Sessions for requests, jobs and sockets. ``after_commit`` hooks run (synchronously, on the
    event loop) once a transaction is committed and ``after_rollback`` hooks when one (or a
    savepoint) is rolled back; domains use them to publish only what was committed. The hooks
    are bound to this sessionmaker's own session class, not to every session of the process."""
    session_class: type[Session] = type("HookedSession", (Session,), {})
    for hook in after_commit:
        event.listen(session_class, "after_commit", hook)
    for hook in after_rollback:
        event.listen(session_class, "after_rollback", hook)
    return async_sessionmaker(
        engine, expire_on_commit=False, autoflush=False, sync_session_class=session_class
    )


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: commit when the endpoint returns, roll back when it raises."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
