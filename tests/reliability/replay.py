"""The physiological alarms a session should have, replayed from what the database stored.

The server evaluates each committed batch of a session's readings with the pure engine
(`app.alerts.domain.evaluate`) and applies acknowledgements to the same engine state, both
under the session's engine-state lock, and writes the readings' and the acknowledgement's
events on the session's stream in that same transaction. So the session stream, in `seq`
order, is the order in which the engine saw readings and acknowledgements: the replay walks it,
takes each reading's stored row, evaluates the readings of one transaction together (same
`created_at`), applies each `alarm_acknowledged` with its time, and rebuilds the alarm records
the engine's decisions imply. Raise stamps (`now`) differ from the server's and are not
compared; everything else is deterministic (DESIGN §7: the same readings in the same arrival
order give the same alarms).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text

from app.alerts.domain import (
    Acknowledged,
    Action,
    AlarmState,
    Clear,
    ConditionEnded,
    Raise,
    RaisePriority,
    ReadingPoint,
    UnknownAlarm,
    acknowledge,
    evaluate,
    heart_rate_source,
)
from app.alerts.domain.codec import episode_from_name, episode_name
from app.alerts.engine import baseline_of, monitored_phase
from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.protocols.domain import Metric
from app.sessions.service.common import load


@dataclass(slots=True)
class AlarmRecord:
    """What an alarm row should say, apart from server timestamps."""

    episode: str
    rule_id: str
    priority: str
    reading_ids: list[str]
    acknowledged: bool = False
    condition_present: bool = True
    cleared: bool = False

    def key(self) -> tuple[Any, ...]:
        return (self.episode, tuple(self.reading_ids))

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            self.episode,
            self.rule_id,
            self.priority,
            tuple(self.reading_ids),
            self.acknowledged,
            self.condition_present,
            self.cleared,
        )


@dataclass(slots=True)
class SessionReplay:
    expected: list[AlarmRecord] = field(default_factory=list)
    stored: list[AlarmRecord] = field(default_factory=list)
    readings: int = 0
    batches: int = 0
    acknowledgements: int = 0

    @property
    def matches(self) -> bool:
        return sorted(a.as_tuple() for a in self.expected) == sorted(
            a.as_tuple() for a in self.stored
        )


def _apply(records: list[AlarmRecord], actions: tuple[Action, ...]) -> None:
    def open_one(name: str) -> AlarmRecord:
        return next(r for r in reversed(records) if r.episode == name and not r.cleared)

    for action in actions:
        if isinstance(action, Raise):
            records.append(
                AlarmRecord(
                    episode_name(action.key),
                    action.rule_id,
                    action.priority.value,
                    list(action.reading_ids),
                )
            )
        elif isinstance(action, RaisePriority):
            record = open_one(episode_name(action.key))
            record.rule_id = action.rule_id
            record.priority = action.priority.value
            record.reading_ids += list(action.reading_ids)
            record.acknowledged = False
        elif isinstance(action, ConditionEnded):
            open_one(episode_name(action.key)).condition_present = False
        elif isinstance(action, Acknowledged):
            open_one(episode_name(action.key)).acknowledged = True
        elif isinstance(action, Clear):
            record = open_one(episode_name(action.key))
            record.cleared = True


async def replay_session(db: Any, clinic_id: uuid.UUID, session_id: uuid.UUID) -> SessionReplay:
    loaded = await load(db, clinic_id=clinic_id, session_id=session_id)
    phase = monitored_phase(loaded.row.state)
    assert phase is not None, f"session {session_id} is not in a monitored phase"
    settings = loaded.protocol.alarms
    baseline = baseline_of(loaded.row)
    stored_readings = {
        str(r.id): r
        for r in (
            await db.execute(
                text(
                    "SELECT id, metric, value, observed_at FROM vital_reading "
                    "WHERE session_id = :s AND excluded_at IS NULL"
                ),
                {"s": session_id},
            )
        ).all()
    }
    events = (
        await db.execute(
            text("SELECT seq, type, payload, created_at FROM event WHERE stream = :s ORDER BY seq"),
            {"s": f"session:{session_id}"},
        )
    ).all()
    result = SessionReplay()
    state = AlarmState()
    batch: list[ReadingPoint] = []
    batch_at: datetime | None = None

    def flush() -> None:
        nonlocal state, batch, batch_at
        if not batch or batch_at is None:
            return
        seen = set(state.newest_observed_at) | {p.metric for p in batch}
        decision = evaluate(
            settings.rules,
            state,
            batch,
            phase=phase,
            baseline=baseline,
            now=batch_at,
            heart_rate_metric=heart_rate_source(seen, settings.heart_rate_sources),
        )
        state = decision.state
        _apply(result.expected, decision.actions)
        result.batches += 1
        batch, batch_at = [], None

    for _seq, kind, payload, created_at in events:
        if kind == "reading":
            if batch_at is not None and created_at != batch_at:
                flush()
            row = stored_readings[payload["reading_id"]]
            batch.append(ReadingPoint(Metric(row.metric), row.value, row.observed_at, str(row.id)))
            batch_at = created_at
            result.readings += 1
        elif kind == "alarm_acknowledged" and payload["alarm"]["kind"] == "physiological":
            flush()
            result.acknowledgements += 1
            try:
                decision = acknowledge(
                    state, episode_from_name(payload["alarm"]["episode"]), created_at
                )
            except UnknownAlarm:
                continue  # the engine no longer tracks it; the service records only
            state = decision.state
            _apply(result.expected, decision.actions)
    flush()
    assert result.readings == len(stored_readings), (
        f"session {session_id}: {len(stored_readings)} readings stored, "
        f"{result.readings} reading events"
    )
    for alarm in (
        await db.execute(
            text(
                "SELECT episode, rule_id, priority, reading_ids, acknowledged_at, "
                "condition_present, state FROM alarm "
                "WHERE session_id = :s AND kind = 'physiological' ORDER BY raised_at"
            ),
            {"s": session_id},
        )
    ).all():
        result.stored.append(
            AlarmRecord(
                alarm.episode,
                alarm.rule_id,
                alarm.priority,
                list(alarm.reading_ids),
                alarm.acknowledged_at is not None,
                alarm.condition_present,
                alarm.state != "active",
            )
        )
    return result


async def replay_clinic(
    url: str, clinic_id: str, session_ids: list[str]
) -> dict[str, SessionReplay]:
    engine = create_engine(Settings(env="test", database_url=url))
    maker = create_sessionmaker(engine)
    try:
        async with maker() as db:
            return {
                sid: await replay_session(db, uuid.UUID(clinic_id), uuid.UUID(sid))
                for sid in session_ids
            }
    finally:
        await engine.dispose()
