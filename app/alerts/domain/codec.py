"""The engine state as plain JSON, so the service can keep it in the database between batches.

Rules are stored by id and resolved against the session's pinned protocol on the way back: the
protocol of a session never changes (its SHA-256 is pinned), so an id always resolves.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from app.alerts.domain.values import (
    ActiveAlarm,
    AlarmState,
    Direction,
    EpisodeKey,
    EpisodeState,
    OnsetTimer,
)
from app.protocols.domain.alarms import AlarmRule
from app.protocols.domain.common import Metric, Priority

FORMAT = 1


class StateFormatError(ValueError):
    """Stored state that this code cannot read (unknown format or rule id)."""


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def _required(value: Any) -> datetime:
    parsed = _parse(value)
    if parsed is None:
        raise StateFormatError("a required time is missing from the stored alarm state")
    return parsed


def episode_name(key: EpisodeKey) -> str:
    """`spo2:low`: the episode's name in alarm records and events."""
    return f"{key.metric.value}:{key.direction.value}"


def episode_from_name(name: str) -> EpisodeKey:
    metric, _, direction = name.partition(":")
    return EpisodeKey(Metric(metric), Direction(direction))


def state_to_json(state: AlarmState) -> dict[str, Any]:
    """A JSON-ready dict of `state` (times as ISO 8601 with offset)."""
    episodes: dict[str, Any] = {}
    for key, episode in sorted(state.episodes.items()):
        alarm = episode.alarm
        episodes[episode_name(key)] = {
            "onsets": {
                rule_id: {
                    "started_at": _time(t.started_at),
                    "last_at": _time(t.last_at),
                    "reading_ids": list(t.reading_ids),
                    "met": t.met,
                }
                for rule_id, t in sorted(episode.onsets.items())
            },
            "alarm": None
            if alarm is None
            else {
                "rule_id": alarm.rule.id,
                "priority": alarm.priority.value,
                "limit": alarm.limit,
                "raised_at": _time(alarm.raised_at),
                "priority_since": _time(alarm.priority_since),
                "acknowledged": alarm.acknowledged,
                "acknowledged_at": _time(alarm.acknowledged_at),
                "condition_present": alarm.condition_present,
                "clear_started_at": _time(alarm.clear_started_at),
                "clear_last_at": _time(alarm.clear_last_at),
            },
        }
    return {
        "format": FORMAT,
        "episodes": episodes,
        "newest_observed_at": {
            metric.value: _time(at) for metric, at in sorted(state.newest_observed_at.items())
        },
    }


def state_from_json(data: Mapping[str, Any], rules: Mapping[str, AlarmRule]) -> AlarmState:
    """Rebuild the state written by `state_to_json`; rule ids resolve through `rules`."""
    if data.get("format") != FORMAT:
        raise StateFormatError(f"unknown alarm state format {data.get('format')!r}")
    episodes: dict[EpisodeKey, EpisodeState] = {}
    for name, stored in data["episodes"].items():
        onsets = {
            rule_id: OnsetTimer(
                _required(t["started_at"]),
                _required(t["last_at"]),
                tuple(t["reading_ids"]),
                bool(t["met"]),
            )
            for rule_id, t in stored["onsets"].items()
        }
        raw = stored["alarm"]
        alarm = None
        if raw is not None:
            rule = rules.get(raw["rule_id"])
            if rule is None:
                raise StateFormatError(f"alarm rule {raw['rule_id']!r} is not in the protocol")
            alarm = ActiveAlarm(
                rule=rule,
                priority=Priority(raw["priority"]),
                limit=float(raw["limit"]),
                raised_at=_required(raw["raised_at"]),
                priority_since=_required(raw["priority_since"]),
                acknowledged=bool(raw["acknowledged"]),
                acknowledged_at=_parse(raw["acknowledged_at"]),
                condition_present=bool(raw["condition_present"]),
                clear_started_at=_parse(raw["clear_started_at"]),
                clear_last_at=_parse(raw["clear_last_at"]),
            )
        episodes[episode_from_name(name)] = EpisodeState(onsets, alarm)
    newest = {Metric(m): _required(at) for m, at in data["newest_observed_at"].items()}
    return AlarmState(episodes, newest)
