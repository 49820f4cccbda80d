"""Small shared pieces of alarm records: messages, history entries, events (no I/O)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.alerts.models import Alarm
from app.alerts.views import alarm_view
from app.protocols.domain.alarms import AlarmRule
from app.realtime.service import NewEvent

_LABELS = {
    "spo2": ("SpO2", "%"),
    "sbp": ("SBP", "mmHg"),
    "dbp": ("DBP", "mmHg"),
    "map": ("MAP", "mmHg"),
    "hr": ("HR", "/min"),
    "pr": ("PR", "/min"),
    "rr": ("RR", "/min"),
    "temp": ("Temperature", "Cel"),
}


def rule_message(rule: AlarmRule, value: float | None, limit: float) -> str:
    """`SpO2 88 % (alarm when < 90 %)`: what the board shows next to the advised action."""
    label, unit = _LABELS.get(rule.metric.value, (rule.metric.value, ""))
    shown = "?" if value is None else f"{value:g}"
    return f"{label} {shown} {unit} (alarm when {rule.comparator.value} {limit:g} {unit})"


def history_entry(event: str, at: datetime, **details: Any) -> dict[str, Any]:
    return {"event": event, "at": at.isoformat(), **details}


def new_alarm_values(
    *,
    clinic_id: uuid.UUID,
    session_id: uuid.UUID,
    protocol_version_id: uuid.UUID,
    protocol_sha256: str,
    phase: str,
    kind: str,
    episode: str,
    rule_id: str,
    priority: str,
    message: str,
    now: datetime,
    metric: str | None = None,
    limit: float | None = None,
    action: str | None = None,
    reading_ids: Sequence[str] = (),
    late: bool = False,
) -> dict[str, Any]:
    """Column values of a newly raised alarm, active on its episode (issue 7 point 10)."""
    return {
        "id": uuid.uuid4(),
        "clinic_id": clinic_id,
        "session_id": session_id,
        "kind": kind,
        "episode": episode,
        "open_episode": episode,
        "state": "active",
        "metric": metric,
        "rule_id": rule_id,
        "priority": priority,
        "limit_value": limit,
        "message": message,
        "action": action,
        "protocol_version_id": protocol_version_id,
        "protocol_sha256": protocol_sha256,
        "phase": phase,
        "reading_ids": list(reading_ids),
        "late": late,
        "condition_present": True,
        "raised_at": now,
        "priority_since": now,
        "last_annunciated_at": now,
        "history": [history_entry("raised", now, priority=priority)],
    }


def risen_values(alarm: Alarm, priority: str, message: str, now: datetime) -> dict[str, Any]:
    """Column values of `alarm` risen to `priority`: a rise needs a new acknowledgement,
    restarts escalation, cancels silence and sounds at once (DESIGN §7)."""
    return {
        "priority": priority,
        "message": message,
        "condition_present": True,
        "priority_since": now,
        "last_annunciated_at": now,
        "acknowledged_at": None,
        "escalated_at": None,
        "silenced_until": None,
        "history": [*alarm.history, history_entry("priority_raised", now, priority=priority)],
    }


def cleared_values(alarm: Alarm, now: datetime, reason: str) -> dict[str, Any]:
    """Column values of `alarm` cleared at `now`, its history included; `open_episode` NULL
    frees the episode (unique key). For a conditional UPDATE or to set on the record."""
    return {
        "state": "cleared",
        "open_episode": None,
        "condition_present": False,
        "cleared_at": now,
        "cleared_reason": reason,
        "history": [*alarm.history, history_entry("cleared", now, reason=reason)],
    }


def clear(alarm: Alarm, now: datetime, reason: str) -> None:
    """Clear the alarm record in place (its row is written at the next flush)."""
    for column, value in cleared_values(alarm, now, reason).items():
        setattr(alarm, column, value)


def alarm_event(event_type: str, alarm: Alarm, now: datetime) -> NewEvent:
    """An event on the alarm's session stream carrying the alarm's view (DESIGN §8)."""
    return NewEvent(
        type=event_type, session_id=alarm.session_id, payload={"alarm": alarm_view(alarm, now)}
    )
