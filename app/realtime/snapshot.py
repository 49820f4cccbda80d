"""The board snapshot: every session in scope as a screen shows it now, and where each stream
stands (its last sequence number), read in one consistent transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import views as alerts_views
from app.core.config import Settings
from app.core.errors import NotFound
from app.realtime import service as realtime_service
from app.sessions import service as sessions_service
from app.sessions.domain import ACTIVE_STATES
from app.vitals import service as vitals_service


@dataclass(frozen=True, slots=True)
class Scope:
    """What a board watches: its whole clinic (every active session) or given sessions."""

    clinic_id: uuid.UUID
    clinic: bool
    session_ids: tuple[uuid.UUID, ...] = ()


async def active_session_ids(
    db: AsyncSession, clinic_id: uuid.UUID, settings: Settings
) -> list[uuid.UUID]:
    ids: list[uuid.UUID] = []
    for state in sorted(ACTIVE_STATES):
        rows = await sessions_service.list_sessions(
            db, clinic_id=clinic_id, day=None, state=state, timezone=settings.timezone
        )
        ids.extend(r.id for r in rows)
    return ids


def _age_s(now: datetime, at: datetime) -> float:
    return round(max(0.0, (now - at).total_seconds()), 1)


async def build_snapshot(
    db: AsyncSession, scope: Scope, *, settings: Settings, now: datetime
) -> tuple[dict[str, Any], dict[str, int]]:
    """(snapshot message, last seq per stream). Sessions given explicitly must belong to the
    clinic (404 NotFound otherwise)."""
    if scope.clinic:
        session_ids = await active_session_ids(db, scope.clinic_id, settings)
    else:
        session_ids = list(scope.session_ids)
    streams = [realtime_service.session_stream(s) for s in session_ids]
    if scope.clinic:
        streams.append(realtime_service.clinic_stream(scope.clinic_id))
    # Heads first: in a non-repeatable read, anything newer than them is sent again as an event
    # (boards apply events idempotently), never lost.
    heads = await realtime_service.stream_heads(db, streams)
    seqs = {stream: heads.get(stream, 0) for stream in streams}
    latest = await vitals_service.latest_readings(db, session_ids)
    alarms = await alerts_views.active_alarm_views(db, session_ids=session_ids, now=now)
    tiles = await sessions_service.board_rows(
        db, clinic_id=scope.clinic_id, session_ids=session_ids, now=now
    )
    missing = [s for s in session_ids if s not in tiles]
    if missing:
        raise NotFound("session not found")
    sessions: list[dict[str, Any]] = []
    for session_id in session_ids:
        view = tiles[session_id]
        vitals = {
            metric: {
                "value": value,
                "unit": unit,
                "observed_at": observed_at.isoformat(),
                "age_s": _age_s(now, observed_at),
            }
            for metric, (value, unit, observed_at) in sorted(latest.get(session_id, {}).items())
        }
        sessions.append(
            {
                "session_id": str(session_id),
                "seq": seqs[realtime_service.session_stream(session_id)],
                "chair_id": str(view.chair_id),
                "patient_id": str(view.patient_id),
                "state": view.state,
                "scheduled_for": view.scheduled_for.isoformat(),
                "infusion_number": view.infusion_number,
                "progress": None
                if view.progress is None
                else view.progress.model_dump(mode="json"),
                "vitals": vitals,
                "alarms": alarms.get(session_id, []),
            }
        )
    message: dict[str, Any] = {
        "type": "snapshot",
        "clinic_id": str(scope.clinic_id),
        "at": now.isoformat(),
        "seq": {
            "clinic": seqs.get(realtime_service.clinic_stream(scope.clinic_id))
            if scope.clinic
            else None,
            "sessions": {str(s): seqs[realtime_service.session_stream(s)] for s in session_ids},
        },
        "sessions": sessions,
    }
    return message, seqs
