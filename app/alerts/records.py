"""Small shared pieces of alarm records: messages, history entries, events (no I/O)."""

from __future__ import annotations

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


def cleared_values(now: datetime, reason: str) -> dict[str, Any]:
    """Column values of a cleared alarm; `open_episode` NULL frees the episode (unique key)."""
    return {
        "state": "cleared",
        "open_episode": None,
        "condition_present": False,
        "cleared_at": now,
        "cleared_reason": reason,
    }


def alarm_event(event_type: str, alarm: Alarm, now: datetime) -> NewEvent:
    """An event on the alarm's session stream carrying the alarm's view (DESIGN §8)."""
    return NewEvent(
        type=event_type, session_id=alarm.session_id, payload={"alarm": alarm_view(alarm, now)}
    )
