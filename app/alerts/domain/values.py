"""Value objects of the alarm engine: episodes, readings, state and actions (issue 7).

Rules are the protocol's `AlarmRule` value objects (protocol file `[[alarms.rules]]`). State is
immutable: `evaluate` and `acknowledge` return a new `AlarmState` plus the actions the service
records (events, alarm rows). Device time (`observed_at`) drives onset, max gap and clear time;
server time (`now`, `at`) stamps raises, clears and acknowledgements. Stdlib only, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from app.protocols.domain.alarms import AlarmRule
from app.protocols.domain.common import Metric, Priority


class Direction(StrEnum):
    """Side of the limit an alarm condition lies on: `low` for `<`/`<=`, `high` for `>`/`>=`."""

    LOW = "low"
    HIGH = "high"


@dataclass(frozen=True, slots=True, order=True)
class EpisodeKey:
    """One alarm episode per (metric, direction) of a session (issue 7 point 3)."""

    metric: Metric
    direction: Direction


def episode_key(rule: AlarmRule) -> EpisodeKey:
    """The episode a rule belongs to: its metric and the side of its comparator (issue 7 p. 3).

    Rule: `spo2 < 92` (medium) and `spo2 < 90` (high) share one episode, so a worsening value
    raises the priority of one alarm instead of raising a second one.
    """
    return EpisodeKey(rule.metric, Direction.LOW if rule.comparator.is_low else Direction.HIGH)


@dataclass(frozen=True, slots=True)
class ReadingPoint:
    """One stored reading as the alarm engine sees it (value in the metric's UCUM unit).

    `late` is set by the caller when it already knows the reading is late (e.g. a
    store-and-forward backlog); `evaluate` also detects lateness itself.
    """

    metric: Metric
    value: float
    observed_at: datetime
    reading_id: str
    late: bool = False


@dataclass(frozen=True, slots=True)
class OnsetTimer:
    """A run of breaching readings for one rule (issue 7 point 2).

    `reading_ids` collects the run until the condition is met (bounded by the onset delay), so
    the alarm record can name the readings that raised it.
    """

    started_at: datetime
    last_at: datetime
    reading_ids: tuple[str, ...]
    met: bool


@dataclass(frozen=True, slots=True)
class ActiveAlarm:
    """The one active alarm of an episode (issue 7 points 3-4).

    `condition_present` is False for a latching alarm whose condition ended and that waits for
    acknowledgement. `clear_started_at`/`clear_last_at` time the hysteresis clear run.
    `raised_at` is when the episode's alarm was raised and `priority_since` when it reached its
    current priority (server time): a rise restarts escalation (DESIGN §7).
    """

    rule: AlarmRule
    priority: Priority
    limit: float
    raised_at: datetime
    priority_since: datetime
    acknowledged: bool = False
    acknowledged_at: datetime | None = None
    condition_present: bool = True
    clear_started_at: datetime | None = None
    clear_last_at: datetime | None = None

    @property
    def latching(self) -> bool:
        """Whether the alarm in force latches (protocol `latching` of its rule)."""
        return self.rule.latching


@dataclass(frozen=True, slots=True)
class EpisodeState:
    """Onset timers by rule id and the active alarm, if any, of one episode."""

    onsets: Mapping[str, OnsetTimer] = field(default_factory=dict)
    alarm: ActiveAlarm | None = None


@dataclass(frozen=True, slots=True)
class AlarmState:
    """Everything the engine remembers between calls for one session.

    `newest_observed_at` is per reading metric: a reading older than it is late (issue 7 p. 5).
    Mappings are never mutated; every change builds new ones.
    """

    episodes: Mapping[EpisodeKey, EpisodeState] = field(default_factory=dict)
    newest_observed_at: Mapping[Metric, datetime] = field(default_factory=dict)

    def alarm(self, key: EpisodeKey) -> ActiveAlarm | None:
        """The active alarm of episode `key`, or None."""
        episode = self.episodes.get(key)
        return None if episode is None else episode.alarm


@dataclass(frozen=True, slots=True)
class Raise:
    """A new alarm for an episode with no active alarm (issue 7 points 2-3, 10)."""

    key: EpisodeKey
    rule_id: str
    priority: Priority
    limit: float
    reading_ids: tuple[str, ...]
    late: bool
    observed_at: datetime
    raised_at: datetime


@dataclass(frozen=True, slots=True)
class RaisePriority:
    """The episode's alarm rises to a higher rule; it needs a new acknowledgement (DESIGN §7)."""

    key: EpisodeKey
    rule_id: str
    from_priority: Priority
    priority: Priority
    limit: float
    reading_ids: tuple[str, ...]
    late: bool
    observed_at: datetime
    raised_at: datetime


@dataclass(frozen=True, slots=True)
class ConditionEnded:
    """A latching alarm's condition ended; it stays active until acknowledged (issue 7 p. 4)."""

    key: EpisodeKey
    rule_id: str
    observed_at: datetime


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """The episode's alarm was acknowledged while its condition persists (issue 7 point 6)."""

    key: EpisodeKey
    rule_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Clear:
    """The episode's alarm is cleared; `acknowledged` False records "cleared unacknowledged"."""

    key: EpisodeKey
    rule_id: str
    priority: Priority
    acknowledged: bool
    cleared_at: datetime
    observed_at: datetime | None


@dataclass(frozen=True, slots=True)
class MarkLate:
    """Flag a stored reading as late (issue 7 point 5)."""

    reading_id: str
    metric: Metric


Action = Raise | RaisePriority | ConditionEnded | Acknowledged | Clear | MarkLate


@dataclass(frozen=True, slots=True)
class Decision:
    """Result of one evaluation: the new state and the actions in evaluation order."""

    state: AlarmState
    actions: tuple[Action, ...]


class UnknownAlarm(ValueError):
    """Acknowledging an episode that has no active alarm."""
