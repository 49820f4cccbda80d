"""How a board connection starts: a snapshot, or a resume from the client's sequence numbers
(with ``gap`` + snapshot when it is beyond the resume window or does not fit the log)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.errors import NotFound
from app.realtime import service as realtime_service
from app.realtime.board import BoardConnection, read_session
from app.realtime.schemas import ResumeIn
from app.realtime.snapshot import Scope, active_session_ids, build_snapshot
from app.sessions import service as sessions_service

_SET_REPEATABLE_READ = text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


async def _consistent(s: AsyncSession) -> None:
    # PostgreSQL: one snapshot for every query of the board snapshot (SQLite has that anyway).
    if s.get_bind().dialect.name == "postgresql":
        await s.execute(_SET_REPEATABLE_READ)


async def _check_sessions(s: AsyncSession, scope: Scope, now: datetime) -> None:
    for index, session_id in enumerate(scope.session_ids):
        try:
            await sessions_service.get_session(
                s, clinic_id=scope.clinic_id, session_id=session_id, now=now
            )
        except NotFound as exc:
            raise NotFound(
                f"subscribe.sessions[{index}]: no session {session_id} in your clinic"
            ) from exc


async def send_snapshot(
    conn: BoardConnection, scope: Scope, *, settings: Settings, now: datetime
) -> None:
    if not scope.clinic:
        # Events of these streams that arrive before the snapshot is read are kept.
        for session_id in scope.session_ids:
            conn.last.setdefault(realtime_service.session_stream(session_id), 0)
    conn.follow_clinic = scope.clinic
    async with await read_session(conn.sessionmaker) as s:
        await _consistent(s)
        await _check_sessions(s, scope, now)
        message, seqs = await build_snapshot(s, scope, settings=settings, now=now)
    conn.last.update(seqs)
    await conn.send_text(json.dumps(message, separators=(",", ":")))


async def start_board(
    conn: BoardConnection,
    scope: Scope,
    resume: ResumeIn | None,
    *,
    settings: Settings,
    now: datetime,
) -> None:
    """Snapshot, or the events missed since ``resume`` followed by ``resumed``; the hub
    subscription exists already. A resume naming no position is a fresh subscription."""
    if resume is None or (resume.clinic is None and not resume.sessions):
        await send_snapshot(conn, scope, settings=settings, now=now)
        return
    wanted: dict[str, int] = {
        realtime_service.session_stream(sid): seq for sid, seq in resume.sessions.items()
    }
    if scope.clinic:
        wanted[realtime_service.clinic_stream(scope.clinic_id)] = resume.clinic or 0
    conn.follow_clinic = scope.clinic
    conn.last.update(wanted)
    window = timedelta(hours=settings.board_resume_window_hours)
    gap: str | None = None
    async with await read_session(conn.sessionmaker) as s:
        await _check_sessions(s, scope, now)
        heads = await realtime_service.stream_heads(s, list(wanted))
        for stream, seq in sorted(wanted.items()):
            if seq > heads.get(stream, 0):
                gap = f"{stream}: seq {seq} is ahead of the log ({heads.get(stream, 0)})"
                break
            first = await realtime_service.first_after(s, stream, seq)
            if first is not None and first.created_at < now - window:
                gap = f"{stream}: events after seq {seq} are older than the resume window"
                break
        active: list[uuid.UUID] = []
        if scope.clinic and gap is None:
            active = await active_session_ids(s, scope.clinic_id, settings)
    if gap is not None:
        conn.last.clear()
        await conn.send_text(
            json.dumps({"type": "gap", "clinic_id": str(scope.clinic_id), "detail": gap})
        )
        await send_snapshot(conn, scope, settings=settings, now=now)
        return
    for session_id in active:
        # Active sessions the client did not name: everything of them.
        conn.last.setdefault(realtime_service.session_stream(session_id), 0)
    streams = sorted(conn.last, key=lambda st: (not st.startswith("clinic:"), st))
    await conn.backfill(streams)
    # Caught up: the client knows its resume was taken even when nothing was missed.
    await conn.send_text(json.dumps({"type": "resumed", "clinic_id": str(scope.clinic_id)}))
