"""How an alarm is shown: one dict for the API, the events and the board snapshot.

Imports nothing from other domains, so sessions (discharge) and realtime (snapshot) can read
alarms without an import cycle.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.domain import AlarmTiming, timers
from app.alerts.models import Alarm
from app.alerts.repository import AlarmRepository
from app.protocols.domain import Priority


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def timing_of(alarm: Alarm) -> AlarmTiming:
    """What the pure timer rules need of an alarm record."""
    return AlarmTiming(
        priority=Priority(alarm.priority),
        priority_since=alarm.priority_since,
        acknowledged_at=alarm.acknowledged_at,
        escalated_at=alarm.escalated_at,
        condition_present=alarm.condition_present,
        last_annunciated_at=alarm.last_annunciated_at,
        silenced_until=alarm.silenced_until,
    )


def sounding(alarm: Alarm, now: datetime) -> bool:
    """Whether boards should sound this alarm now: active, and sounding by the timer rules."""
    return alarm.state == "active" and timers.sounding(timing_of(alarm), now)


def alarm_view(alarm: Alarm, now: datetime) -> dict[str, Any]:
    """JSON-ready view of one alarm, as the API, events and snapshots show it."""
    return {
        "id": str(alarm.id),
        "session_id": str(alarm.session_id),
        "kind": alarm.kind,
        "episode": alarm.episode,
        "metric": alarm.metric,
        "rule_id": alarm.rule_id,
        "priority": alarm.priority,
        "state": alarm.state,
        "limit": alarm.limit_value,
        "message": alarm.message,
        "action": alarm.action,
        "phase": alarm.phase,
        "protocol_version_id": str(alarm.protocol_version_id),
        "protocol_sha256": alarm.protocol_sha256,
        "reading_ids": list(alarm.reading_ids),
        "late": alarm.late,
        "condition_present": alarm.condition_present,
        "raised_at": _iso(alarm.raised_at),
        "priority_since": _iso(alarm.priority_since),
        "last_annunciated_at": _iso(alarm.last_annunciated_at),
        "acknowledged_at": _iso(alarm.acknowledged_at),
        "acknowledged_by": alarm.acknowledged_by_name,
        "acknowledge_note": alarm.acknowledge_note,
        "escalated_at": _iso(alarm.escalated_at),
        "silenced_until": _iso(alarm.silenced_until),
        "silenced_by": alarm.silenced_by_name,
        "silence_reason": alarm.silence_reason,
        "cleared_at": _iso(alarm.cleared_at),
        "cleared_reason": alarm.cleared_reason,
        "sounding": sounding(alarm, now),
        "history": list(alarm.history),
    }


async def uncleared_alarm_count(db: AsyncSession, session_id: uuid.UUID) -> int:
    """Alarms of the session that are not cleared (discharge waits for 0, issue 7 point 11)."""
    return await AlarmRepository(db).count_active(session_id)


async def active_alarm_views(
    db: AsyncSession, *, session_ids: Sequence[uuid.UUID], now: datetime
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Active alarms per session (board snapshot), highest priority first."""
    rank = {"high": 0, "medium": 1, "low": 2}
    out: dict[uuid.UUID, list[dict[str, Any]]] = {sid: [] for sid in session_ids}
    alarms = await AlarmRepository(db).active_for_sessions(list(session_ids))
    for alarm in sorted(alarms, key=lambda a: (rank.get(a.priority, 3), a.raised_at)):
        out[alarm.session_id].append(alarm_view(alarm, now))
    return out


async def session_alarms(
    db: AsyncSession, *, clinic_id: uuid.UUID, session_id: uuid.UUID
) -> list[Alarm]:
    """Every alarm of a session, active or cleared, oldest first (session summary, registry)."""
    repo, alarms = AlarmRepository(db), list[Alarm]()
    while True:
        page, total = await repo.listing(
            clinic_id, session_id=session_id, state=None, limit=500, offset=len(alarms)
        )
        alarms.extend(page)
        if not page or len(alarms) >= total:
            return sorted(alarms, key=lambda a: (a.raised_at, str(a.id)))
