"""The engine state survives the database: what one batch leaves behind is exactly what the
next batch starts from (app.alerts.domain.codec). Pure: no DB, no app."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.alerts.domain import AlarmState, Direction, EpisodeKey, ReadingPoint, acknowledge
from app.alerts.domain.codec import StateFormatError, state_from_json, state_to_json
from app.protocols.domain.common import Metric
from tests.alerts.test_domain import BASELINE, NOW, RULES_BY_ID, batches, ev, t


def state_after(steps: list[tuple[list[ReadingPoint], bool]]) -> AlarmState:
    """Batches a minute apart, acknowledging every active alarm after a step when asked."""
    state = AlarmState()
    for offset, (batch, ack_all) in enumerate(steps):
        shifted = [
            replace(r, observed_at=r.observed_at + timedelta(seconds=60 * offset)) for r in batch
        ]
        state = ev(state, shifted, baseline=BASELINE).state
        if ack_all:
            for key in sorted(k for k, e in state.episodes.items() if e.alarm is not None):
                state = acknowledge(state, key, NOW + timedelta(seconds=offset)).state
    return state


def stored(state: AlarmState) -> dict[str, Any]:
    """What the JSON column gives back: the dict through json.dumps/loads."""
    data: dict[str, Any] = json.loads(json.dumps(state_to_json(state)))
    return data


class TestRoundTrip:
    @settings(max_examples=150, deadline=None)
    @given(steps=st.lists(st.tuples(batches(max_runs=4), st.booleans()), min_size=1, max_size=4))
    def test_state_round_trips_through_json(self, steps):
        state = state_after(steps)
        assert state_from_json(state_to_json(state), RULES_BY_ID) == state
        assert state_from_json(stored(state), RULES_BY_ID) == state

    @settings(max_examples=50, deadline=None)
    @given(first=batches(), second=batches())
    def test_evaluating_from_the_stored_state_decides_the_same(self, first, second):
        prior = ev(AlarmState(), first, baseline=BASELINE).state
        later = [replace(r, observed_at=r.observed_at + timedelta(seconds=90)) for r in second]
        reloaded = state_from_json(stored(prior), RULES_BY_ID)
        assert ev(reloaded, later, baseline=BASELINE) == ev(prior, later, baseline=BASELINE)

    def test_an_acknowledged_alarm_with_its_clear_timer_round_trips(self):
        # Every optional field set, so the property above is not only ever fed empty states.
        state = ev(AlarmState(), spo2_run(0, 20, 85), baseline=BASELINE).state
        state = acknowledge(state, SPO2_LOW, NOW).state
        state = ev(state, spo2_run(21, 25, 97), baseline=BASELINE).state
        alarm = state.episodes[SPO2_LOW].alarm
        assert alarm is not None
        assert alarm.acknowledged_at == NOW
        assert alarm.clear_started_at is not None
        assert state_from_json(stored(state), RULES_BY_ID) == state


SPO2_LOW = EpisodeKey(Metric.SPO2, Direction.LOW)


def spo2_run(start: int, end: int, value: float) -> list[ReadingPoint]:
    return [ReadingPoint(Metric.SPO2, value, t(i), f"s{i}") for i in range(start, end + 1)]


class TestRejects:
    def test_unknown_format(self):
        data = state_to_json(AlarmState())
        with pytest.raises(StateFormatError, match="format"):
            state_from_json({**data, "format": 99}, RULES_BY_ID)
        with pytest.raises(StateFormatError):
            state_from_json({}, RULES_BY_ID)

    def test_unknown_rule_id(self):
        state = ev(AlarmState(), spo2_run(0, 20, 85), baseline=BASELINE).state
        data = stored(state)
        [episode] = [e for e in data["episodes"].values() if e["alarm"] is not None]
        episode["alarm"]["rule_id"] = "spo2_rule_from_another_protocol"
        with pytest.raises(StateFormatError, match="spo2_rule_from_another_protocol"):
            state_from_json(data, RULES_BY_ID)
