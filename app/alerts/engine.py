"""Runs the pure alarm engine on stored readings and records what it decides (issue 7).

Called by ingest in the ingest's transaction: the session's engine state row is locked, the
readings evaluated, alarm rows written and their events returned for the caller to append with
the reading events, so a reading and the alarm it raises commit together.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.domain import (
    Acknowledged,
    Action,
    AlarmState,
    Clear,
    ConditionEnded,
    Decision,
    MarkLate,
    Raise,
    RaisePriority,
    ReadingPoint,
    evaluate,
    heart_rate_source,
)
from app.alerts.domain.codec import episode_name, state_from_json, state_to_json
from app.alerts.models import Alarm, AlarmEngineState
from app.alerts.records import (
    alarm_event,
    clear,
    history_entry,
    new_alarm_values,
    risen_values,
    rule_message,
)
from app.alerts.repository import AlarmRepository
from app.protocols.domain import Metric, Phase
from app.protocols.domain.alarms import AlarmRule
from app.realtime.service import NewEvent
from app.sessions.models import InfusionSession
from app.sessions.service.common import Loaded, Pinned, load_pinned

log = structlog.get_logger(__name__)

_BASELINE_COLUMNS = {
    Metric.SBP: "baseline_sbp_mmhg",
    Metric.DBP: "baseline_dbp_mmhg",
    Metric.HR: "baseline_hr_bpm",
    Metric.SPO2: "baseline_spo2_pct",
    Metric.RR: "baseline_rr_per_min",
}


@dataclass(frozen=True, slots=True)
class StoredReading:
    """A reading as stored and routed to a session (its row id is the reading id)."""

    session_id: uuid.UUID
    reading_id: uuid.UUID
    metric: Metric
    value: float
    observed_at: datetime
    late: bool


@dataclass(slots=True)
class Evaluation:
    """What ingest must add to its transaction: alarm events and readings found late."""

    events: list[NewEvent] = field(default_factory=list)
    late_reading_ids: set[uuid.UUID] = field(default_factory=set)


def monitored_phase(state: str) -> Phase | None:
    """The alarm phase of a session state; None before check-in and after discharge."""
    try:
        return Phase(state)
    except ValueError:
        return None


def baseline_of(row: InfusionSession) -> dict[Metric, float]:
    """The session's frozen pre-infusion baseline per metric (relative limits, DESIGN §5)."""
    out: dict[Metric, float] = {}
    for metric, column in _BASELINE_COLUMNS.items():
        value = getattr(row, column)
        if value is not None:
            out[metric] = float(value)
    return out


def rules_by_id(loaded: Loaded | Pinned) -> dict[str, AlarmRule]:
    return {rule.id: rule for rule in loaded.protocol.alarms.rules}


async def lock_state(
    db: AsyncSession, loaded: Loaded, now: datetime
) -> tuple[AlarmEngineState, AlarmState]:
    """The session's engine state, locked until commit, decoded against its pinned protocol."""
    row = await AlarmRepository(db).lock_engine_state(
        loaded.row.id, empty=state_to_json(AlarmState()), now=now
    )
    return row, state_from_json(row.state, rules_by_id(loaded))


async def evaluate_stored(
    db: AsyncSession, *, readings: Sequence[StoredReading], now: datetime
) -> Evaluation:
    """Evaluate newly stored readings per session; engine state rows are locked in session id
    order (a fixed lock order). One query of each kind serves every session of the batch.

    Readings of sessions outside the monitored phases are stored but raise nothing (issue 7
    point 1). Side effects: alarm rows, the engine state rows; events are returned.
    """
    result = Evaluation()
    by_session: dict[uuid.UUID, list[StoredReading]] = {}
    for reading in readings:
        by_session.setdefault(reading.session_id, []).append(reading)
    if not by_session:
        return result
    pinned = await load_pinned(db, list(by_session))
    phases = {
        sid: phase
        for sid, p in pinned.items()
        if (phase := monitored_phase(p.row.state)) is not None
    }
    if not phases:
        return result
    repo = AlarmRepository(db)
    states = await repo.lock_engine_states(list(phases), empty=state_to_json(AlarmState()), now=now)
    decisions = {
        sid: _decide(pinned[sid], phases[sid], states[sid], by_session[sid], now)
        for sid in sorted(phases)
    }
    await repo.save_engine_states(
        {sid: state_to_json(d.state) for sid, d in decisions.items()}, now
    )
    # Most groups change no alarm: the active alarms are read only for sessions whose
    # decision acts on one.
    acting = sorted(
        sid for sid, d in decisions.items() if any(not isinstance(a, MarkLate) for a in d.actions)
    )
    active: dict[uuid.UUID, dict[str, Alarm]] = {sid: {} for sid in acting}
    for alarm in await repo.active_for_sessions(acting):
        active[alarm.session_id][alarm.episode] = alarm
    for session_id, decision in decisions.items():
        values = {str(r.reading_id): r.value for r in by_session[session_id]}
        for action in decision.actions:
            if isinstance(action, MarkLate):
                result.late_reading_ids.add(uuid.UUID(action.reading_id))
                continue
            event = await _apply(
                repo,
                pinned[session_id],
                phases[session_id],
                active[session_id],
                action,
                values,
                now,
            )
            if event is not None:
                result.events.append(event)
    return result


def _decide(
    loaded: Pinned,
    phase: Phase,
    stored_state: dict[str, Any],
    batch: Sequence[StoredReading],
    now: datetime,
) -> Decision:
    settings = loaded.protocol.alarms
    state = state_from_json(stored_state, rules_by_id(loaded))
    points = [
        ReadingPoint(r.metric, r.value, r.observed_at, str(r.reading_id), r.late) for r in batch
    ]
    seen = set(state.newest_observed_at) | {p.metric for p in points}
    return evaluate(
        settings.rules,
        state,
        points,
        phase=phase,
        baseline=baseline_of(loaded.row),
        now=now,
        heart_rate_metric=heart_rate_source(seen, settings.heart_rate_sources),
    )


async def _apply(
    repo: AlarmRepository,
    loaded: Pinned,
    phase: Phase,
    active: dict[str, Alarm],
    action: Action,
    values: dict[str, float],
    now: datetime,
) -> NewEvent | None:
    if isinstance(action, MarkLate | Acknowledged):
        return None  # lateness is collected by the caller; evaluate never acknowledges
    if isinstance(action, Raise | RaisePriority):
        rule = rules_by_id(loaded)[action.rule_id]
        value = values.get(action.reading_ids[-1]) if action.reading_ids else None
        message = rule_message(rule, value, action.limit)
    if isinstance(action, Raise):
        name = episode_name(action.key)
        alarm = await repo.insert_if_episode_free(
            new_alarm_values(
                clinic_id=loaded.row.clinic_id,
                session_id=loaded.row.id,
                protocol_version_id=loaded.version.id,
                protocol_sha256=loaded.row.protocol_sha256,
                phase=phase.value,
                kind="physiological",
                episode=name,
                rule_id=action.rule_id,
                priority=action.priority.value,
                message=message,
                now=now,
                metric=action.key.metric.value,
                limit=action.limit,
                action=rule.action,
                reading_ids=action.reading_ids,
                late=action.late,
            )
        )
        if alarm is None:
            log.warning("alarm_episode_already_active", session_id=str(loaded.row.id), episode=name)
            return None
        active[name] = alarm
        return alarm_event("alarm_raised", alarm, now)
    alarm = active.get(episode_name(action.key))
    if alarm is None:
        log.warning("alarm_row_missing", session_id=str(loaded.row.id), action=repr(action))
        return None
    if isinstance(action, RaisePriority):
        for column, value in risen_values(alarm, action.priority.value, message, now).items():
            setattr(alarm, column, value)
        alarm.rule_id = action.rule_id
        alarm.limit_value = action.limit
        alarm.action = rule.action
        alarm.reading_ids = [*alarm.reading_ids, *action.reading_ids]
        alarm.late = alarm.late or action.late
        return alarm_event("alarm_priority_raised", alarm, now)
    if isinstance(action, ConditionEnded):
        alarm.condition_present = False
        alarm.history = [*alarm.history, history_entry("condition_ended", now)]
        return alarm_event("alarm_condition_ended", alarm, now)
    if isinstance(action, Clear):
        reason = "condition ended" if action.acknowledged else "condition ended, unacknowledged"
        clear(alarm, now, reason)
        del active[alarm.episode]
        return alarm_event("alarm_cleared", alarm, now)
