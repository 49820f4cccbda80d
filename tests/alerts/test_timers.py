"""Alarm timers (issue 7 points 6-7, DESIGN §7): escalation, re-annunciation, silence, sound.

Timelines are seconds of server time after T0; settings come from the default protocol file
(high 60 s, medium 120 s, silence 120 s, re-annunciation 300 s).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.alerts.domain import (
    AlarmTiming,
    escalation_after_s,
    escalation_due,
    escalation_due_at,
    reannunciation_due,
    reannunciation_due_at,
    silence_until,
    sounding,
)
from app.protocols.domain.alarms import EscalationSettings
from app.protocols.domain.common import Priority
from app.protocols.file_schema import load_protocol_file, to_protocol_definition

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"
SETTINGS = to_protocol_definition(
    load_protocol_file(PROTOCOLS / "ketamine-iv-0.5mgkg-40min.toml")[0]
).alarms.escalation
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def timing(
    priority: Priority = Priority.HIGH,
    *,
    since: float = 0,
    ack: float | None = None,
    escalated: float | None = None,
    present: bool = True,
    annunciated: float | None = None,
    silenced_until: float | None = None,
) -> AlarmTiming:
    return AlarmTiming(
        priority=priority,
        priority_since=t(since),
        acknowledged_at=None if ack is None else t(ack),
        escalated_at=None if escalated is None else t(escalated),
        condition_present=present,
        last_annunciated_at=t(since if annunciated is None else annunciated),
        silenced_until=None if silenced_until is None else t(silenced_until),
    )


def test_default_protocol_escalation_settings():
    expected = EscalationSettings(
        high_unacknowledged_s=60,
        medium_unacknowledged_s=120,
        silence_s=120,
        reannunciate_after_ack_s=300,
    )
    assert expected == SETTINGS


class TestEscalation:
    @pytest.mark.parametrize(
        ("alarm", "now", "due"),
        [
            (timing(Priority.HIGH), 59, False),
            (timing(Priority.HIGH), 59.999, False),
            (timing(Priority.HIGH), 60, True),
            (timing(Priority.HIGH), 61, True),
            (timing(Priority.MEDIUM), 60, False),
            (timing(Priority.MEDIUM), 119, False),
            (timing(Priority.MEDIUM), 120, True),
            (timing(Priority.LOW), 0, False),
            (timing(Priority.LOW), 100_000, False),
            (timing(Priority.HIGH, ack=30), 60, False),
            (timing(Priority.HIGH, ack=90), 120, False),
            (timing(Priority.HIGH, escalated=60), 60, False),
            (timing(Priority.HIGH, escalated=60), 1000, False),
            (timing(Priority.HIGH, present=False), 60, True),
            (timing(Priority.HIGH, since=100), 159, False),
            (timing(Priority.HIGH, since=100), 160, True),
        ],
        ids=[
            "high-59s-not-yet",
            "high-just-under-60s",
            "high-exactly-60s-escalates",
            "high-61s",
            "medium-60s-not-yet",
            "medium-119s-not-yet",
            "medium-exactly-120s-escalates",
            "low-at-raise",
            "low-never",
            "acknowledged-before-due",
            "acknowledged-late-but-before-check",
            "already-escalated-at-due",
            "already-escalated-never-twice",
            "latched-condition-ended-still-escalates",
            "after-rise-59s-not-yet",
            "after-rise-60s-escalates",
        ],
    )
    def test_escalation_due(self, alarm: AlarmTiming, now: float, due: bool) -> None:
        assert escalation_due(alarm, SETTINGS, t(now)) is due

    def test_rise_restarts_escalation(self):
        medium = timing(Priority.MEDIUM, since=0, escalated=120)
        assert not escalation_due(medium, SETTINGS, t(150))
        risen = replace(medium, priority=Priority.HIGH, priority_since=t(150), escalated_at=None)
        assert not escalation_due(risen, SETTINGS, t(209))
        assert escalation_due(risen, SETTINGS, t(210))

    @pytest.mark.parametrize(
        ("priority", "after_s"),
        [(Priority.HIGH, 60), (Priority.MEDIUM, 120), (Priority.LOW, None)],
        ids=["high", "medium", "low"],
    )
    def test_escalation_after_s(self, priority: Priority, after_s: int | None) -> None:
        assert escalation_after_s(priority, SETTINGS) == after_s

    @pytest.mark.parametrize(
        ("alarm", "due_at"),
        [
            (timing(Priority.HIGH, since=10), t(70)),
            (timing(Priority.MEDIUM, since=10), t(130)),
            (timing(Priority.LOW, since=10), None),
            (timing(Priority.HIGH, ack=20), None),
            (timing(Priority.HIGH, escalated=60), None),
        ],
        ids=["high", "medium", "low", "acknowledged", "escalated"],
    )
    def test_escalation_due_at(self, alarm: AlarmTiming, due_at: datetime | None) -> None:
        assert escalation_due_at(alarm, SETTINGS) == due_at

    def test_settings_not_literals(self):
        fast = EscalationSettings(
            high_unacknowledged_s=5,
            medium_unacknowledged_s=7,
            silence_s=1,
            reannunciate_after_ack_s=1,
        )
        assert escalation_due(timing(Priority.HIGH), fast, t(5))
        assert not escalation_due(timing(Priority.MEDIUM), fast, t(6))
        assert escalation_due(timing(Priority.MEDIUM), fast, t(7))


class TestReannunciation:
    @pytest.mark.parametrize(
        ("alarm", "now", "due"),
        [
            (timing(ack=None), 1000, False),
            (timing(ack=10), 309, False),
            (timing(ack=10), 310, True),
            (timing(ack=10, present=False), 310, False),
            (timing(ack=10, annunciated=310), 310, False),
            (timing(ack=10, annunciated=310), 609, False),
            (timing(ack=10, annunciated=310), 610, True),
            (timing(since=0, ack=5, annunciated=0), 304, False),
            (timing(since=0, ack=5, annunciated=0), 305, True),
        ],
        ids=[
            "unacknowledged-never",
            "299s-after-ack-not-yet",
            "exactly-300s-after-ack",
            "condition-ended-no-reannunciation",
            "just-reannunciated",
            "second-one-not-yet",
            "second-one-300s-after-first",
            "counts-from-ack-when-newer",
            "counts-from-ack-exactly",
        ],
    )
    def test_reannunciation_due(self, alarm: AlarmTiming, now: float, due: bool) -> None:
        assert reannunciation_due(alarm, SETTINGS, t(now)) is due

    @pytest.mark.parametrize(
        ("alarm", "due_at"),
        [
            (timing(ack=10), t(310)),
            (timing(ack=10, annunciated=400), t(700)),
            (timing(), None),
            (timing(ack=10, present=False), None),
        ],
        ids=["from-ack", "from-last-annunciation", "unacknowledged", "condition-ended"],
    )
    def test_reannunciation_due_at(self, alarm: AlarmTiming, due_at: datetime | None) -> None:
        assert reannunciation_due_at(alarm, SETTINGS) == due_at


class TestSilenceAndSound:
    def test_silence_lasts_silence_s(self):
        assert silence_until(SETTINGS, t(42)) == t(162)

    @pytest.mark.parametrize(
        ("alarm", "now", "plays"),
        [
            (timing(), 0, True),
            (timing(silenced_until=120), 119, False),
            (timing(silenced_until=120), 120, True),
            (timing(silenced_until=120), 121, True),
            (timing(ack=10), 11, False),
            (timing(ack=10, annunciated=10), 11, False),
            (timing(ack=10, annunciated=310), 310, True),
            (timing(ack=10, annunciated=310, silenced_until=400), 350, False),
            (timing(ack=10, annunciated=310, silenced_until=400), 400, True),
            (timing(ack=10, present=False), 500, False),
        ],
        ids=[
            "unacknowledged-plays",
            "silenced",
            "silence-ends-exactly",
            "after-silence",
            "acknowledged-quiet",
            "acknowledged-same-instant-as-annunciation",
            "reannunciated-plays",
            "reannunciated-but-silenced",
            "reannunciated-silence-over",
            "latched-acknowledged-quiet",
        ],
    )
    def test_sounding(self, alarm: AlarmTiming, now: float, plays: bool) -> None:
        assert sounding(alarm, t(now)) is plays

    def test_rise_cancels_silence_and_acknowledgement(self):
        acked = timing(Priority.MEDIUM, ack=10, silenced_until=200)
        assert not sounding(acked, t(100))
        risen = replace(
            acked,
            priority=Priority.HIGH,
            priority_since=t(100),
            acknowledged_at=None,
            last_annunciated_at=t(100),
            silenced_until=None,
        )
        assert sounding(risen, t(100))


@pytest.mark.parametrize(
    "call",
    [
        lambda now: escalation_due(timing(), SETTINGS, now),
        lambda now: reannunciation_due(timing(), SETTINGS, now),
        lambda now: silence_until(SETTINGS, now),
        lambda now: sounding(timing(), now),
    ],
    ids=["escalation", "reannunciation", "silence", "sounding"],
)
def test_naive_now_is_refused(call):
    with pytest.raises(ValueError, match="timezone-aware"):
        call(datetime(2026, 3, 2, 9, 0))  # noqa: DTZ001


@given(
    priority=st.sampled_from(list(Priority)),
    elapsed_s=st.integers(min_value=0, max_value=10_000),
)
def test_escalation_matches_due_at(priority: Priority, elapsed_s: int) -> None:
    alarm = timing(priority)
    due_at = escalation_due_at(alarm, SETTINGS)
    due = escalation_due(alarm, SETTINGS, t(elapsed_s))
    assert due == (due_at is not None and t(elapsed_s) >= due_at)
    if priority is Priority.LOW:
        assert not due
