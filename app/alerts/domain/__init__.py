"""Pure alarm evaluation (issue 7): `from app.alerts.domain import evaluate, AlarmState, ...`.

A package (values, evaluate) to stay under the 400-line cap (STYLE §1).
"""

from app.alerts.domain.evaluate import (
    acknowledge,
    evaluate,
    evaluation_key,
    heart_rate_source,
)
from app.alerts.domain.values import (
    Acknowledged,
    Action,
    ActiveAlarm,
    AlarmState,
    Clear,
    ConditionEnded,
    Decision,
    Direction,
    EpisodeKey,
    EpisodeState,
    MarkLate,
    OnsetTimer,
    Raise,
    RaisePriority,
    ReadingPoint,
    UnknownAlarm,
    episode_key,
)

__all__ = [
    "Acknowledged",
    "Action",
    "ActiveAlarm",
    "AlarmState",
    "Clear",
    "ConditionEnded",
    "Decision",
    "Direction",
    "EpisodeKey",
    "EpisodeState",
    "MarkLate",
    "OnsetTimer",
    "Raise",
    "RaisePriority",
    "ReadingPoint",
    "UnknownAlarm",
    "acknowledge",
    "episode_key",
    "evaluate",
    "evaluation_key",
    "heart_rate_source",
]
