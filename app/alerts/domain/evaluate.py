"""Pure physiological alarm evaluation (issue 7 points 2-5; DESIGN §7; clinical.md §7.5).

Device time (`observed_at`) drives onset, max gap and clear time; server time (`now`, `at`)
stamps raises, clears and acknowledgements. Stdlib only, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from app.alerts.domain.values import (
    Acknowledged,
    Action,
    ActiveAlarm,
    AlarmState,
    Clear,
    ConditionEnded,
    Decision,
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
from app.protocols.domain.alarms import AlarmRule
from app.protocols.domain.common import Metric, Phase, require_aware


def heart_rate_source(
    present: Iterable[Metric], sources: Sequence[Metric] = (Metric.HR, Metric.PR)
) -> Metric:
    """The metric heart-rate rules read: the first of `sources` the session's readings carry.

    Rule: HR rules read `hr`, or `pr` when the chair's monitor sends no `hr` (DESIGN §7, issue 7
    point 1; protocol `alarms.heart_rate_sources`). Defaults to the first source when none is
    present yet.
    """
    seen = set(present)
    return next((metric for metric in sources if metric in seen), sources[0])


def evaluation_key(reading: ReadingPoint) -> tuple[datetime, str, str, float]:
    """Sort key: device time, then metric, reading id and value as deterministic tie-breaks.

    Rule: readings inside one batch are evaluated in observed_at order, so their order in the
    batch does not matter (issue 7 point 5, DESIGN §7).
    """
    return (reading.observed_at, reading.metric.value, reading.reading_id, reading.value)


def evaluate(
    rules: Iterable[AlarmRule],
    state: AlarmState,
    readings: Sequence[ReadingPoint],
    *,
    phase: Phase,
    baseline: Mapping[Metric, float],
    now: datetime,
    heart_rate_metric: Metric = Metric.HR,
) -> Decision:
    """Evaluate one batch of readings against the phase's alarm rules (issue 7 points 2-5).

    Rules (protocol `[[alarms.rules]]`, DESIGN §7, clinical.md §7.5):
    - only rules that apply in `phase` are used; limits are `AlarmRule.limit_in_force(baseline)`
      and rules without a limit (relative rule, no baseline) are skipped;
    - onset: a continuous-metric rule is met at the first reading at which its condition has held
      on every reading of the metric for ≥ `onset_delay_s` of device time; consecutive breaching
      readings more than `max_gap_s` apart restart the run; NIBP and delay 0 meet at once;
    - episode: per (metric, direction) the highest met priority raises one alarm, or raises its
      priority; the priority never falls and a rise resets the acknowledgement;
    - clear: past every episode rule's limit ± margin for the alarm rule's `clear_time_s`
      (continuous, gaps > max gap restart) or on one reading (NIBP); a latching alarm that is
      not acknowledged stays active with its condition ended;
    - order and lateness: readings are sorted by `evaluation_key`; a reading older than the
      newest evaluated for its metric is late: marked, it neither extends, breaks nor clears any
      timer, but a rule met by one reading (NIBP or delay 0) still raises, flagged late.
    Heart-rate rules (metric `hr`) read `heart_rate_metric` readings (see `heart_rate_source`).
    `now` (server time) stamps raises and clears.
    """
    require_aware("now", now)
    by_source: dict[Metric, list[AlarmRule]] = {}
    for rule in rules:
        if rule.applies_in(phase):
            source = heart_rate_metric if rule.metric is Metric.HR else rule.metric
            by_source.setdefault(source, []).append(rule)
    # Rules grouped by episode with their limits in force, once per call (not per reading).
    plan: dict[Metric, list[tuple[EpisodeKey, list[tuple[AlarmRule, float]]]]] = {}
    for source, source_rules in by_source.items():
        grouped: dict[EpisodeKey, list[tuple[AlarmRule, float]]] = {}
        for rule in source_rules:
            limits = grouped.setdefault(episode_key(rule), [])
            limit = rule.limit_in_force(baseline.get(rule.metric))
            if limit is not None:
                limits.append((rule, limit))
        plan[source] = sorted(grouped.items())
    episodes = dict(state.episodes)
    newest = dict(state.newest_observed_at)
    actions: list[Action] = []
    for reading in sorted(readings, key=evaluation_key):
        require_aware("observed_at", reading.observed_at)
        previous = newest.get(reading.metric)
        late = reading.late or (previous is not None and reading.observed_at < previous)
        if late:
            actions.append(MarkLate(reading.reading_id, reading.metric))
        else:
            newest[reading.metric] = reading.observed_at
        for key, limited in plan.get(reading.metric, ()):
            episode = episodes.get(key, EpisodeState())
            new_episode, new_actions = _step(episode, key, limited, reading, late, now)
            episodes[key] = new_episode
            actions.extend(new_actions)
    cleaned = {k: e for k, e in episodes.items() if e.alarm is not None or e.onsets}
    return Decision(AlarmState(cleaned, newest), tuple(actions))


def acknowledge(state: AlarmState, key: EpisodeKey, at: datetime) -> Decision:
    """Acknowledge the active alarm of episode `key` at server time `at` (issue 7 points 4, 6).

    Rule: a latching alarm whose condition has ended clears on acknowledgement (IEC 60601-1-8
    latching, clinical.md §7.5); otherwise the alarm is marked acknowledged and clears later by
    itself. Acknowledging twice changes nothing. Raises `UnknownAlarm` when there is no alarm.
    """
    require_aware("at", at)
    episode = state.episodes.get(key)
    alarm = None if episode is None else episode.alarm
    if episode is None or alarm is None:
        raise UnknownAlarm(f"no active alarm for {key.metric.value} {key.direction.value}")
    if not alarm.condition_present:
        clear = Clear(key, alarm.rule.id, alarm.priority, True, at, None)
        return Decision(_with_episode(state, key, replace(episode, alarm=None)), (clear,))
    if alarm.acknowledged:
        return Decision(state, ())
    acked = replace(alarm, acknowledged=True, acknowledged_at=at)
    new_state = _with_episode(state, key, replace(episode, alarm=acked))
    return Decision(new_state, (Acknowledged(key, alarm.rule.id, at),))


def _with_episode(state: AlarmState, key: EpisodeKey, episode: EpisodeState) -> AlarmState:
    episodes = dict(state.episodes)
    if episode.alarm is None and not episode.onsets:
        episodes.pop(key, None)
    else:
        episodes[key] = episode
    return AlarmState(episodes, state.newest_observed_at)


def _seconds(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()


def _onset(rule: AlarmRule, prior: OnsetTimer | None, reading: ReadingPoint) -> OnsetTimer | None:
    """Advance one continuous rule's breaching run with an in-order breaching reading."""
    at = reading.observed_at
    gap = rule.max_gap_s if rule.max_gap_s is not None else 0
    if prior is None or _seconds(prior.last_at, at) > gap:
        return OnsetTimer(at, at, (reading.reading_id,), rule.onset_delay_s == 0)
    ids = prior.reading_ids if prior.met else (*prior.reading_ids, reading.reading_id)
    met = _seconds(prior.started_at, at) >= rule.onset_delay_s
    return OnsetTimer(prior.started_at, at, ids, met)


def _met_rules(
    episode: EpisodeState,
    limited: list[tuple[AlarmRule, float]],
    reading: ReadingPoint,
    late: bool,
) -> tuple[dict[str, OnsetTimer], list[tuple[AlarmRule, float, tuple[str, ...]]]]:
    onsets = dict(episode.onsets)
    met: list[tuple[AlarmRule, float, tuple[str, ...]]] = []
    for rule, limit in limited:
        breached = rule.breached(reading.value, limit)
        single = not rule.is_continuous or rule.onset_delay_s == 0
        if late:
            if breached and single:
                met.append((rule, limit, (reading.reading_id,)))
            continue
        if not rule.is_continuous:
            onsets.pop(rule.id, None)
            if breached:
                met.append((rule, limit, (reading.reading_id,)))
            continue
        timer = _onset(rule, onsets.get(rule.id), reading) if breached else None
        if timer is None:
            onsets.pop(rule.id, None)
            continue
        onsets[rule.id] = timer
        if timer.met:
            met.append((rule, limit, timer.reading_ids))
    return onsets, met


def _step(
    episode: EpisodeState,
    key: EpisodeKey,
    limited: list[tuple[AlarmRule, float]],
    reading: ReadingPoint,
    late: bool,
    now: datetime,
) -> tuple[EpisodeState, list[Action]]:
    """Apply one reading to one episode: onset timers, raise or rise, then clearing."""
    onsets, met = _met_rules(episode, limited, reading, late)
    alarm = episode.alarm
    at = reading.observed_at
    if met:
        rule, limit, ids = max(met, key=lambda m: (m[0].priority.rank, m[0].id))
        if alarm is None:
            raised = ActiveAlarm(rule, rule.priority, limit, now, now)
            action: Action = Raise(key, rule.id, rule.priority, limit, ids, late, at, now)
            return EpisodeState(onsets, raised), [action]
        if rule.priority.rank > alarm.priority.rank:
            risen = ActiveAlarm(rule, rule.priority, limit, alarm.raised_at, now)
            action = RaisePriority(
                key, rule.id, alarm.priority, rule.priority, limit, ids, late, at, now
            )
            return EpisodeState(onsets, risen), [action]
        if late:
            return EpisodeState(onsets, alarm), []
        held = replace(alarm, condition_present=True, clear_started_at=None, clear_last_at=None)
        return EpisodeState(onsets, held), []
    if alarm is None or late:
        return EpisodeState(onsets, alarm), []
    return _clear_step(EpisodeState(onsets, alarm), alarm, key, limited, reading, now)


def _clear_step(
    episode: EpisodeState,
    alarm: ActiveAlarm,
    key: EpisodeKey,
    limited: list[tuple[AlarmRule, float]],
    reading: ReadingPoint,
    now: datetime,
) -> tuple[EpisodeState, list[Action]]:
    """Hysteresis clearing of an active alarm by one in-order reading (issue 7 point 4)."""
    checks = [*limited, (alarm.rule, alarm.limit)]
    if not all(rule.clears(reading.value, limit) for rule, limit in checks):
        reset = replace(alarm, clear_started_at=None, clear_last_at=None)
        return replace(episode, alarm=reset), []
    if not alarm.condition_present:
        return episode, []
    at = reading.observed_at
    rule = alarm.rule
    start = alarm.clear_started_at
    gap = rule.max_gap_s if rule.max_gap_s is not None else 0
    if start is None or alarm.clear_last_at is None or _seconds(alarm.clear_last_at, at) > gap:
        start = at
    if rule.is_continuous and _seconds(start, at) < rule.clear_time_s:
        timing = replace(alarm, clear_started_at=start, clear_last_at=at)
        return replace(episode, alarm=timing), []
    if alarm.latching and not alarm.acknowledged:
        ended = replace(alarm, condition_present=False, clear_started_at=None, clear_last_at=None)
        return replace(episode, alarm=ended), [ConditionEnded(key, rule.id, at)]
    cleared = Clear(key, rule.id, alarm.priority, alarm.acknowledged, now, at)
    return replace(episode, alarm=None), [cleared]
