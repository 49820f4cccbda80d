"""Technical alarms (issue 7 point 8, DESIGN §7): table-driven timelines plus reconcile properties.

Times are seconds of server time after check-in (T0). Settings come from the default protocol
file: no data 30 s medium / 120 s high, NIBP grace 120 s, device silent 60 s, offline medium,
clock skew low, no board medium; heart-rate sources hr then pr.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.alerts.domain import (
    TechnicalChange,
    TechnicalCondition,
    TechnicalInputs,
    TechnicalKind,
    reconcile,
    technical_conditions,
)
from app.protocols.domain.alarms import TechnicalAlarmSettings
from app.protocols.domain.common import Metric, Priority
from app.protocols.file_schema import load_protocol_file, to_protocol_definition

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"
ALARMS = to_protocol_definition(
    load_protocol_file(PROTOCOLS / "ketamine-iv-0.5mgkg-40min.toml")[0]
).alarms
SETTINGS = ALARMS.technical
HR_SOURCES = ALARMS.heart_rate_sources
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DEVICE = "Monitor-3"
NIBP_S = 600

K = TechnicalKind
SPO2, HR, PR = Metric.SPO2, Metric.HR, Metric.PR
HIGH, MEDIUM, LOW = Priority.HIGH, Priority.MEDIUM, Priority.LOW


def t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def inputs(
    *,
    received: Mapping[Metric, float] | None = None,
    device: str | None = DEVICE,
    infusing: bool = True,
    bp: float | None = None,
    nibp_s: int | None = None,
    seen: float | None = None,
    closed: float | None = None,
    skewed: bool = False,
    boards: bool | None = True,
) -> TechnicalInputs:
    """A session checked in at T0; by default nothing wrong at t(0)."""
    return TechnicalInputs(
        monitoring_since=T0,
        infusing=infusing,
        device_name=device,
        last_received={metric: t(s) for metric, s in (received or {}).items()},
        last_bp_at=None if bp is None else t(bp),
        nibp_interval_s=nibp_s,
        device_last_seen_at=None if seen is None else t(seen),
        device_connection_closed_at=None if closed is None else t(closed),
        device_clock_skewed=skewed,
        boards_connected=boards,
    )


def check(
    data: TechnicalInputs, now: float, settings: TechnicalAlarmSettings = SETTINGS
) -> dict[TechnicalKind, TechnicalCondition]:
    return technical_conditions(data, settings, heart_rate_sources=HR_SOURCES, now=t(now))


def priorities(
    data: TechnicalInputs, now: float, settings: TechnicalAlarmSettings = SETTINGS
) -> dict[TechnicalKind, Priority]:
    return {kind: c.priority for kind, c in check(data, now, settings).items()}


def fresh(now: float) -> dict[Metric, float]:
    """SpO2 and HR received at `now`, so no-data alarms stay quiet."""
    return {SPO2: now, HR: now}


class TestNoData:
    @pytest.mark.parametrize(
        ("received", "now", "expected"),
        [
            ({}, 29, {}),
            ({}, 30, {K.NO_DATA_SPO2: MEDIUM, K.NO_DATA_HR: MEDIUM}),
            ({}, 119, {K.NO_DATA_SPO2: MEDIUM, K.NO_DATA_HR: MEDIUM}),
            ({}, 120, {K.NO_DATA_SPO2: HIGH, K.NO_DATA_HR: HIGH}),
            ({SPO2: 10, HR: 10}, 39, {}),
            ({SPO2: 10, HR: 10}, 40, {K.NO_DATA_SPO2: MEDIUM, K.NO_DATA_HR: MEDIUM}),
            ({SPO2: 10, HR: 100}, 130, {K.NO_DATA_SPO2: HIGH, K.NO_DATA_HR: MEDIUM}),
            ({SPO2: 100, PR: 100}, 129, {}),
            ({SPO2: 100, HR: 0, PR: 100}, 129, {}),
            ({SPO2: 100, HR: 100, PR: 0}, 129, {}),
            ({SPO2: 130, HR: 0, PR: 100}, 130, {K.NO_DATA_HR: MEDIUM}),
            ({SPO2: -500, HR: -500}, 29, {}),
            ({SPO2: -500, HR: -500}, 30, {K.NO_DATA_SPO2: MEDIUM, K.NO_DATA_HR: MEDIUM}),
            ({SPO2: 100, HR: 100}, 110, {}),
            ({SPO2: 200, HR: 200}, 200, {}),
        ],
        ids=[
            "29s-after-check-in-nothing",
            "exactly-30s-medium",
            "119s-still-medium",
            "exactly-120s-high",
            "29s-after-last-reading",
            "30s-after-last-reading",
            "each-metric-its-own-timer",
            "pr-satisfies-hr",
            "newest-of-hr-and-pr-pr",
            "newest-of-hr-and-pr-hr",
            "newest-of-hr-and-pr-30s",
            "reading-before-check-in-timer-starts-at-check-in",
            "reading-before-check-in-30s-after-check-in",
            "rr-never-received-not-monitored",
            "reading-after-silence-clears",
        ],
    )
    def test_no_data(self, received, now, expected):
        assert priorities(inputs(received=received, seen=now), now) == expected

    def test_message_names_device_metric_and_silence(self):
        conditions = check(inputs(received={HR: 5, SPO2: 0}, seen=45), 45)
        assert conditions[K.NO_DATA_SPO2] == TechnicalCondition(
            K.NO_DATA_SPO2, MEDIUM, "no data from Monitor-3 (SpO2) for 45 s"
        )
        assert "no data from Monitor-3" in conditions[K.NO_DATA_HR].message

    def test_pr_does_not_satisfy_hr_when_not_a_source(self):
        data = inputs(received={SPO2: 100, PR: 100}, seen=100)
        only_hr = technical_conditions(data, SETTINGS, heart_rate_sources=(HR,), now=t(100))
        assert set(only_hr) == {K.NO_DATA_HR}

    def test_thresholds_come_from_settings(self):
        fast = replace(SETTINGS, no_data_medium_s=5, no_data_high_s=8)
        assert {k: c.priority for k, c in check(inputs(seen=5), 5, fast).items()} == {
            K.NO_DATA_SPO2: MEDIUM,
            K.NO_DATA_HR: MEDIUM,
        }
        assert check(inputs(seen=8), 8, fast)[K.NO_DATA_HR].priority is HIGH

    def test_hr_and_pr_both_listed_give_one_alarm(self):
        both = replace(SETTINGS, no_data_metrics=frozenset({HR, PR}))
        assert priorities(inputs(received={PR: 100}, seen=130), 130, both) == {K.NO_DATA_HR: MEDIUM}
        odd = technical_conditions(
            inputs(received={HR: 0, PR: 100}, seen=200),
            both,
            heart_rate_sources=(HR,),
            now=t(200),
        )
        assert {k: c.priority for k, c in odd.items()} == {K.NO_DATA_HR: HIGH}

    def test_rr_no_data_when_configured(self):
        with_rr = replace(SETTINGS, no_data_metrics=frozenset({Metric.RR}))
        assert set(check(inputs(seen=30), 30, with_rr)) == {K.NO_DATA_RR}

    def test_nibp_metrics_in_no_data_metrics_are_ignored(self):
        odd = replace(SETTINGS, no_data_metrics=frozenset({Metric.SBP, Metric.TEMP}))
        assert check(inputs(seen=1000), 1000, odd) == {}


class TestNibpOverdue:
    @pytest.mark.parametrize(
        ("bp", "nibp_s", "now", "overdue"),
        [
            (None, None, 10_000, False),
            (None, NIBP_S, 719, False),
            (None, NIBP_S, 720, True),
            (100, NIBP_S, 819, False),
            (100, NIBP_S, 820, True),
            (-300, NIBP_S, 719, False),
            (-300, NIBP_S, 720, True),
            (800, NIBP_S, 820, False),
            (0, 900, 1019, False),
            (0, 900, 1020, True),
        ],
        ids=[
            "no-interval-in-force",
            "no-bp-just-under-interval-plus-grace",
            "no-bp-exactly-interval-plus-grace",
            "after-bp-just-under",
            "after-bp-exactly",
            "bp-before-check-in-counts-from-check-in",
            "bp-before-check-in-overdue",
            "new-bp-clears",
            "recovery-interval-just-under",
            "recovery-interval-exactly",
        ],
    )
    def test_nibp_overdue(self, bp, nibp_s, now, overdue):
        data = inputs(received=fresh(now), seen=now, bp=bp, nibp_s=nibp_s)
        assert priorities(data, now) == ({K.NIBP_OVERDUE: MEDIUM} if overdue else {})

    def test_applies_without_device(self):
        data = inputs(device=None, nibp_s=NIBP_S)
        conditions = check(data, 720)
        assert set(conditions) == {K.NIBP_OVERDUE}
        assert conditions[K.NIBP_OVERDUE].message.startswith("NIBP overdue")

    def test_grace_comes_from_settings(self):
        no_grace = replace(SETTINGS, nibp_overdue_grace_s=0)
        data = inputs(device=None, nibp_s=NIBP_S)
        assert set(check(data, 600, no_grace)) == {K.NIBP_OVERDUE}
        assert check(data, 599, no_grace) == {}


class TestDeviceOffline:
    @pytest.mark.parametrize(
        ("seen", "closed", "now", "offline"),
        [
            (None, None, 59, False),
            (None, None, 60, True),
            (10, None, 69, False),
            (10, None, 70, True),
            (-100, None, 59, False),
            (-100, None, 60, True),
            (10, 20, 21, True),
            (20, 20, 21, True),
            (None, 5, 6, True),
            (30, 20, 31, False),
            (30, 20, 90, True),
            (-100, -50, 1, True),
        ],
        ids=[
            "never-seen-59s",
            "never-seen-exactly-60s",
            "silent-59s",
            "silent-exactly-60s",
            "seen-before-check-in-grace-from-check-in",
            "seen-before-check-in-60s",
            "connection-closed-after-last-seen",
            "connection-closed-same-instant",
            "connection-closed-never-seen",
            "reconnected-after-close",
            "reconnected-then-silent-60s",
            "closed-before-check-in",
        ],
    )
    def test_device_offline(self, seen, closed, now, offline):
        data = inputs(received=fresh(now), seen=seen, closed=closed)
        assert priorities(data, now) == ({K.DEVICE_OFFLINE: MEDIUM} if offline else {})

    def test_message_and_priority_from_settings(self):
        high = replace(SETTINGS, device_offline_priority=HIGH, device_silent_s=10)
        condition = check(inputs(received=fresh(10)), 10, high)[K.DEVICE_OFFLINE]
        assert condition.priority is HIGH
        assert condition.message.startswith("device Monitor-3 offline")
        closed = check(inputs(received=fresh(5), seen=1, closed=2), 5)[K.DEVICE_OFFLINE]
        assert closed.message == "device Monitor-3 offline (connection closed)"


class TestClockSkewAndBoards:
    def test_clock_skew_low(self):
        conditions = check(inputs(received=fresh(0), skewed=True), 0)
        assert set(conditions) == {K.CLOCK_SKEW}
        assert conditions[K.CLOCK_SKEW].priority is SETTINGS.clock_skew_priority is LOW
        assert "Monitor-3" in conditions[K.CLOCK_SKEW].message

    @pytest.mark.parametrize(
        ("infusing", "boards", "alarm"),
        [
            (True, False, True),
            (True, True, False),
            (True, None, False),
            (False, False, False),
        ],
        ids=["infusing-no-board", "infusing-board", "unknown-boards", "not-infusing"],
    )
    def test_no_board(self, infusing, boards, alarm):
        data = inputs(received=fresh(0), infusing=infusing, boards=boards)
        expected = {K.NO_BOARD: SETTINGS.no_board_priority} if alarm else {}
        assert priorities(data, 0) == expected

    def test_no_board_message(self):
        condition = check(inputs(device=None, boards=False), 0)[K.NO_BOARD]
        assert condition == TechnicalCondition(
            K.NO_BOARD, MEDIUM, "no live board connected while a chair is infusing"
        )


class TestNoDevice:
    def test_no_device_related_alarms_without_device(self):
        data = inputs(device=None, closed=1, skewed=True, nibp_s=NIBP_S, boards=False)
        assert priorities(data, 10_000) == {K.NIBP_OVERDUE: MEDIUM, K.NO_BOARD: MEDIUM}

    def test_everything_at_once(self):
        data = inputs(closed=1, skewed=True, nibp_s=NIBP_S, boards=False)
        assert priorities(data, 720) == {
            K.NO_DATA_SPO2: HIGH,
            K.NO_DATA_HR: HIGH,
            K.NIBP_OVERDUE: MEDIUM,
            K.DEVICE_OFFLINE: MEDIUM,
            K.CLOCK_SKEW: LOW,
            K.NO_BOARD: MEDIUM,
        }

    def test_naive_now_refused(self):
        with pytest.raises(ValueError, match="timezone-aware"):
            technical_conditions(
                inputs(),
                SETTINGS,
                heart_rate_sources=HR_SOURCES,
                now=datetime(2026, 3, 2, 9, 0),  # noqa: DTZ001
            )


class TestStaleDataTimeline:
    """Issue 7 acceptance: medium at 30 s, high at 120 s, clears on the next reading."""

    def test_timeline(self):
        active: dict[TechnicalKind, Priority] = {}
        history: list[tuple[float, TechnicalChange]] = []
        received = fresh(0)
        for now in range(0, 180):
            if now == 150:
                received = fresh(150)
            data = inputs(received=received, seen=now)
            for change in reconcile(active, check(data, now)):
                history.append((now, change))
                active = apply(active, [change])
        assert [(s, c.kind, c.change, c.priority) for s, c in history] == [
            (30, K.NO_DATA_HR, "raise", MEDIUM),
            (30, K.NO_DATA_SPO2, "raise", MEDIUM),
            (120, K.NO_DATA_HR, "rise", HIGH),
            (120, K.NO_DATA_SPO2, "rise", HIGH),
            (150, K.NO_DATA_HR, "clear", HIGH),
            (150, K.NO_DATA_SPO2, "clear", HIGH),
        ]


def cond(kind: TechnicalKind, priority: Priority) -> TechnicalCondition:
    return TechnicalCondition(kind, priority, f"{kind} {priority}")


class TestReconcile:
    @pytest.mark.parametrize(
        ("active", "wanted", "expected"),
        [
            ({}, {}, []),
            ({}, {K.NO_BOARD: MEDIUM}, [(K.NO_BOARD, "raise", MEDIUM)]),
            ({K.NO_DATA_HR: MEDIUM}, {K.NO_DATA_HR: HIGH}, [(K.NO_DATA_HR, "rise", HIGH)]),
            ({K.NO_DATA_HR: MEDIUM}, {K.NO_DATA_HR: MEDIUM}, []),
            ({K.NO_DATA_HR: HIGH}, {K.NO_DATA_HR: MEDIUM}, []),
            ({K.CLOCK_SKEW: LOW}, {}, [(K.CLOCK_SKEW, "clear", LOW)]),
            (
                {K.NO_DATA_SPO2: MEDIUM, K.DEVICE_OFFLINE: MEDIUM},
                {K.NO_DATA_SPO2: HIGH, K.CLOCK_SKEW: LOW, K.NIBP_OVERDUE: MEDIUM},
                [
                    (K.CLOCK_SKEW, "raise", LOW),
                    (K.DEVICE_OFFLINE, "clear", MEDIUM),
                    (K.NIBP_OVERDUE, "raise", MEDIUM),
                    (K.NO_DATA_SPO2, "rise", HIGH),
                ],
            ),
        ],
        ids=[
            "nothing",
            "raise",
            "rise",
            "same-priority-nothing",
            "lower-priority-never-falls",
            "clear",
            "mixed-sorted-by-kind",
        ],
    )
    def test_reconcile(self, active, wanted, expected):
        changes = reconcile(active, {k: cond(k, p) for k, p in wanted.items()})
        assert [(c.kind, c.change, c.priority) for c in changes] == expected

    def test_messages(self):
        changes = reconcile(
            {K.NO_BOARD: MEDIUM, K.NO_DATA_HR: MEDIUM},
            {K.NO_DATA_HR: cond(K.NO_DATA_HR, HIGH), K.CLOCK_SKEW: cond(K.CLOCK_SKEW, LOW)},
        )
        assert [c.message for c in changes] == [
            "clock_skew low",
            "cleared",
            "no_data_hr high",
        ]


def apply(
    active: Mapping[TechnicalKind, Priority], changes: list[TechnicalChange]
) -> dict[TechnicalKind, Priority]:
    result = dict(active)
    for change in changes:
        if change.change == "clear":
            del result[change.kind]
        else:
            result[change.kind] = change.priority
    return result


kinds_to_priority = st.dictionaries(
    st.sampled_from(list(TechnicalKind)), st.sampled_from(list(Priority))
)


@given(active=kinds_to_priority, wanted=kinds_to_priority)
def test_reconcile_properties(
    active: dict[TechnicalKind, Priority], wanted: dict[TechnicalKind, Priority]
) -> None:
    changes = reconcile(active, {k: cond(k, p) for k, p in wanted.items()})
    after = apply(active, changes)
    assert set(after) == set(wanted)
    for kind, priority in after.items():
        if kind in active:
            assert priority.rank >= active[kind].rank
            assert priority.rank == max(active[kind].rank, wanted[kind].rank)
        else:
            assert priority is wanted[kind]
    assert [c.kind for c in changes] == sorted(c.kind for c in changes)
    assert len({c.kind for c in changes}) == len(changes)
    assert reconcile(after, {k: cond(k, p) for k, p in wanted.items()}) == []
