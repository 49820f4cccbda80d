"""Pure tests of the session domain: transitions, start gates, checkpoints, discharge, machine.

Uses the rules of the shipped default protocol file. No DB, no app, no async (STYLE §5).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st

from app.protocols.domain import (
    InfusionProgress,
    Metric,
    Phase,
    RateSegment,
    WeightMeasurement,
    calculate_dose,
    infusion_progress,
)
from app.protocols.file_schema import load_protocol_file, to_protocol_definition
from app.sessions.domain import (
    ACTIVE_STATES,
    FINAL_STATES,
    TRANSITIONS,
    BlockerCode,
    CheckpointRecord,
    CheckpointState,
    DischargeInputs,
    InvalidTransition,
    SessionEvent,
    SessionMachine,
    SessionState,
    StartInputs,
    StateChange,
    TransitionRefused,
    VitalsSet,
    allowed_events,
    allowed_from,
    assess_pre_vitals,
    course_position,
    discharge_blockers,
    due_checkpoints,
    gate_readings,
    medium_alarm_limit,
    phase_for,
    start_blockers,
    transition,
    validate_history,
)
from tests.fixtures.clock import FakeClock

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"
PROTOCOL = to_protocol_definition(
    load_protocol_file(PROTOCOLS / "ketamine-iv-0.5mgkg-40min.toml")[0]
)
CHECKLIST = frozenset(PROTOCOL.pre_session.checklist)
D = Decimal
S = SessionState
E = SessionEvent
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # infusion start in most tests
GOOD_READINGS = {
    Metric.SBP: 120.0,
    Metric.DBP: 80.0,
    Metric.HR: 70.0,
    Metric.SPO2: 98.0,
    Metric.RR: 14.0,
}


def minute(m: float, base: datetime = T0) -> datetime:
    return base + timedelta(minutes=m)


def vitals(at: datetime, **changes: float | None) -> VitalsSet:
    readings: dict[Metric, float] = dict(GOOD_READINGS)
    for name, value in changes.items():
        if value is None:
            readings.pop(Metric(name), None)
        else:
            readings[Metric(name)] = value
    return VitalsSet(taken_at=at, readings=readings)


def start_inputs(at: datetime = T0, **changes: Any) -> StartInputs:
    inputs = StartInputs(
        screening_eligible=True,
        screening_reason="signed, eligible",
        pre_vitals=(vitals(at - timedelta(minutes=10)),),
        checklist_confirmed=CHECKLIST,
        weight=WeightMeasurement(D(70), at - timedelta(hours=1)),
        pre_cadss_total=2,
    )
    return replace(inputs, **changes)


def discharge_inputs(**changes: Any) -> DischargeInputs:
    inputs = DischargeInputs(
        physician_evaluation=True,
        aldrete_total=10,
        spo2_pct=97.0,
        sbp_mmhg=128.0,
        dbp_mmhg=82.0,
        baseline_sbp_mmhg=120.0,
        baseline_dbp_mmhg=80.0,
        cadss_latest=2,
        cadss_pre=2,
        escort_present=True,
        advice_no_driving_given=True,
        advice_no_alcohol_given=True,
        uncleared_alarm_count=0,
    )
    return replace(inputs, **changes)


def codes(blockers: Any) -> list[BlockerCode]:
    return [b.code for b in blockers]


def progress_at(started_at: datetime, at: datetime) -> InfusionProgress:
    """35 mg at 52.5 mg/h (70 kg, 0.5 mg/kg, 40 min, 100 mL bag) running since `started_at`."""
    return infusion_progress(D("35"), D("100"), (RateSegment(started_at, D("52.5")),), at)


# Transitions ---------------------------------------------------------------------------------

EXPECTED_TRANSITIONS = {
    (S.SCHEDULED, E.CHECK_IN): S.CHECKED_IN,
    (S.SCHEDULED, E.CANCEL): S.CANCELLED,
    (S.CHECKED_IN, E.START): S.INFUSING,
    (S.CHECKED_IN, E.CANCEL): S.CANCELLED,
    (S.INFUSING, E.PAUSE): S.PAUSED,
    (S.INFUSING, E.CHANGE_RATE): S.INFUSING,
    (S.INFUSING, E.STOP): S.STOPPED,
    (S.INFUSING, E.COMPLETE): S.RECOVERY,
    (S.PAUSED, E.RESUME): S.INFUSING,
    (S.PAUSED, E.STOP): S.STOPPED,
    (S.PAUSED, E.COMPLETE): S.RECOVERY,
    (S.RECOVERY, E.DISCHARGE): S.DISCHARGED,
    (S.STOPPED, E.DISCHARGE): S.DISCHARGED,
}
ALL_PAIRS = [(state, event) for state in S for event in E]
LEGAL = [pair for pair in ALL_PAIRS if pair in EXPECTED_TRANSITIONS]
ILLEGAL = [pair for pair in ALL_PAIRS if pair not in EXPECTED_TRANSITIONS]


class TestTransitions:
    def test_table_is_exactly_the_specified_one(self) -> None:
        assert dict(TRANSITIONS) == EXPECTED_TRANSITIONS
        assert len(LEGAL) == 13
        assert len(ILLEGAL) == len(S) * len(E) - 13

    @pytest.mark.parametrize(("state", "event"), LEGAL, ids=lambda v: str(v))
    def test_legal(self, state: SessionState, event: SessionEvent) -> None:
        assert transition(state, event) is EXPECTED_TRANSITIONS[(state, event)]

    @pytest.mark.parametrize(("state", "event"), ILLEGAL, ids=lambda v: str(v))
    def test_illegal_names_state_and_event(self, state: SessionState, event: SessionEvent) -> None:
        with pytest.raises(InvalidTransition) as caught:
            transition(state, event)
        error = caught.value
        assert (error.state, error.event) == (state, event)
        assert isinstance(error, ValueError)
        assert f"a session that is {state}" in str(error)
        assert error.allowed_from == allowed_from(event)
        assert all(s in str(error) for s in error.allowed_from)

    def test_message_example(self) -> None:
        with pytest.raises(InvalidTransition) as caught:
            transition(S.SCHEDULED, E.START)
        assert (
            str(caught.value)
            == "cannot start a session that is scheduled (allowed from: checked_in)"
        )

    def test_message_for_final_state(self) -> None:
        with pytest.raises(
            InvalidTransition,
            match=r"cannot discharge a session that is cancelled \(allowed from: recovery, stopped\); cancelled is final",
        ):
            transition(S.CANCELLED, E.DISCHARGE)

    def test_final_states_have_no_events(self) -> None:
        assert {S.DISCHARGED, S.CANCELLED} == FINAL_STATES
        assert all(allowed_events(state) == () for state in FINAL_STATES)

    def test_cancel_only_before_infusing(self) -> None:
        assert allowed_from(E.CANCEL) == (S.SCHEDULED, S.CHECKED_IN)

    def test_stopped_goes_to_discharge_through_recovery_rules(self) -> None:
        assert allowed_events(S.STOPPED) == (E.DISCHARGE,)
        assert phase_for(S.STOPPED) is Phase.STOPPED

    @pytest.mark.parametrize(
        ("state", "phase"),
        [
            (S.SCHEDULED, None),
            (S.CHECKED_IN, Phase.CHECKED_IN),
            (S.INFUSING, Phase.INFUSING),
            (S.PAUSED, Phase.PAUSED),
            (S.RECOVERY, Phase.RECOVERY),
            (S.STOPPED, Phase.STOPPED),
            (S.DISCHARGED, None),
            (S.CANCELLED, None),
        ],
    )
    def test_phase_per_state(self, state: SessionState, phase: Phase | None) -> None:
        assert phase_for(state) is phase

    def test_active_states_occupy_the_chair(self) -> None:
        assert {S.CHECKED_IN, S.INFUSING, S.PAUSED, S.STOPPED, S.RECOVERY} == ACTIVE_STATES

    @given(st.lists(st.sampled_from(list(E)), max_size=20))
    def test_random_sequences_follow_the_table(self, events: list[SessionEvent]) -> None:
        state = S.SCHEDULED
        for event in events:
            if (state, event) in EXPECTED_TRANSITIONS:
                state = transition(state, event)
            else:
                with pytest.raises(InvalidTransition):
                    transition(state, event)
        assert state in S


class TestHistory:
    def test_valid_history(self) -> None:
        validate_history(
            (
                StateChange(S.SCHEDULED, minute(-60)),
                StateChange(S.CHECKED_IN, minute(-20), E.CHECK_IN),
                StateChange(S.INFUSING, minute(0), E.START),
                StateChange(S.INFUSING, minute(5), E.CHANGE_RATE),
            )
        )

    @pytest.mark.parametrize(
        ("history", "match"),
        [
            ((), "at least"),
            ((StateChange(S.CHECKED_IN, T0),), "starts with"),
            ((StateChange(S.SCHEDULED, T0, E.CHECK_IN),), "starts with"),
            (
                (StateChange(S.SCHEDULED, T0), StateChange(S.INFUSING, minute(1), E.START)),
                "does not lead",
            ),
            ((StateChange(S.SCHEDULED, T0), StateChange(S.CHECKED_IN, minute(1))), "does not lead"),
            (
                (StateChange(S.SCHEDULED, T0), StateChange(S.CHECKED_IN, minute(-1), E.CHECK_IN)),
                "earlier",
            ),
            ((StateChange(S.SCHEDULED, T0.replace(tzinfo=None)),), "timezone-aware"),
        ],
    )
    def test_invalid_history(self, history: tuple[StateChange, ...], match: str) -> None:
        with pytest.raises(ValueError, match=match):
            validate_history(history)


# Start gates ---------------------------------------------------------------------------------


class TestStartBlockers:
    def test_all_clear(self) -> None:
        assert start_blockers(PROTOCOL, start_inputs(), now=T0) == ()

    @pytest.mark.parametrize(
        ("changes", "expected", "subject"),
        [
            (
                {"screening_eligible": False, "screening_reason": "signature expired"},
                BlockerCode.SCREENING_NOT_ELIGIBLE,
                None,
            ),
            (
                {"checklist_confirmed": CHECKLIST - {"escort_confirmed"}},
                BlockerCode.CHECKLIST_ITEM_UNCONFIRMED,
                "escort_confirmed",
            ),
            ({"weight": None}, BlockerCode.WEIGHT_MISSING, None),
            (
                {"weight": WeightMeasurement(D(70), T0 - timedelta(days=8))},
                BlockerCode.WEIGHT_NOT_USABLE,
                "weight_stale",
            ),
            (
                {"weight": WeightMeasurement(D(25), T0 - timedelta(hours=1))},
                BlockerCode.WEIGHT_NOT_USABLE,
                "weight_below_plausible",
            ),
            (
                {"weight": WeightMeasurement(D(70), T0 + timedelta(hours=1))},
                BlockerCode.WEIGHT_NOT_USABLE,
                "weight_in_future",
            ),
            ({"pre_vitals": ()}, BlockerCode.BASELINE_VITALS_MISSING, None),
            ({"pre_cadss_total": None}, BlockerCode.PRE_CADSS_MISSING, "cadss"),
            ({"pre_vitals": (vitals(minute(-10), spo2=93),)}, BlockerCode.VITAL_GATE, "spo2_low"),
            ({"pre_vitals": (vitals(minute(-10), hr=45),)}, BlockerCode.VITAL_GATE, "hr_low"),
            ({"pre_vitals": (vitals(minute(-10), hr=125),)}, BlockerCode.VITAL_GATE, "hr_high"),
            ({"pre_vitals": (vitals(minute(-10), rr=8),)}, BlockerCode.VITAL_GATE, "rr_low"),
            ({"pre_vitals": (vitals(minute(-10), rr=31),)}, BlockerCode.VITAL_GATE, "rr_high"),
            ({"pre_vitals": (vitals(minute(-10), spo2=None),)}, BlockerCode.VITAL_MISSING, "spo2"),
            ({"pre_vitals": (vitals(minute(-10), hr=None),)}, BlockerCode.VITAL_MISSING, "hr"),
            (
                {"pre_vitals": (vitals(minute(-10), sbp=145),)},
                BlockerCode.PHYSICIAN_ACK_REQUIRED,
                "sbp_elevated",
            ),
            (
                {"pre_vitals": (vitals(minute(-10), dbp=95),)},
                BlockerCode.PHYSICIAN_ACK_REQUIRED,
                "dbp_elevated",
            ),
            (
                {"pre_vitals": (vitals(minute(-10), sbp=185, dbp=95),)},
                BlockerCode.REPEAT_REQUIRED,
                "sbp_severe",
            ),
            (
                {"previous_infusion_starts": (T0 - timedelta(hours=47),)},
                BlockerCode.INTERVAL_NOT_PASSED,
                None,
            ),
        ],
    )
    def test_each_defect_is_named(
        self, changes: dict[str, Any], expected: BlockerCode, subject: str | None
    ) -> None:
        blockers = start_blockers(PROTOCOL, start_inputs(**changes), now=T0)
        assert codes(blockers) == [expected]
        assert blockers[0].subject == subject
        assert blockers[0].message
        assert blockers[0].resolution

    def test_every_unconfirmed_item_is_listed(self) -> None:
        blockers = start_blockers(PROTOCOL, start_inputs(checklist_confirmed=frozenset()), now=T0)
        assert [b.subject for b in blockers] == list(PROTOCOL.pre_session.checklist)

    def test_all_defects_together(self) -> None:
        inputs = start_inputs(
            screening_eligible=False,
            weight=None,
            pre_vitals=(),
            pre_cadss_total=None,
            checklist_confirmed=CHECKLIST - {"consent_offlabel"},
            previous_infusion_starts=(T0 - timedelta(hours=1),),
        )
        assert set(codes(start_blockers(PROTOCOL, inputs, now=T0))) == {
            BlockerCode.SCREENING_NOT_ELIGIBLE,
            BlockerCode.WEIGHT_MISSING,
            BlockerCode.BASELINE_VITALS_MISSING,
            BlockerCode.PRE_CADSS_MISSING,
            BlockerCode.CHECKLIST_ITEM_UNCONFIRMED,
            BlockerCode.INTERVAL_NOT_PASSED,
        }

    def test_pulse_rate_stands_in_for_missing_heart_rate(self) -> None:
        ok = start_inputs(pre_vitals=(vitals(minute(-10), hr=None, pr=72),))
        assert start_blockers(PROTOCOL, ok, now=T0) == ()
        slow = start_inputs(pre_vitals=(vitals(minute(-10), hr=None, pr=45),))
        assert [b.subject for b in start_blockers(PROTOCOL, slow, now=T0)] == ["hr_low"]

    def test_ecg_heart_rate_wins_over_pulse_rate(self) -> None:
        assert (
            gate_readings({Metric.HR: 80, Metric.PR: 45}, (Metric.HR, Metric.PR))[Metric.HR] == 80
        )
        assert gate_readings({Metric.PR: 45}, (Metric.HR, Metric.PR))[Metric.HR] == 45
        assert Metric.HR not in gate_readings({Metric.SBP: 120}, (Metric.HR, Metric.PR))

    def test_interval_blocker_says_when(self) -> None:
        previous = T0 - timedelta(hours=47)
        (blocker,) = start_blockers(
            PROTOCOL, start_inputs(previous_infusion_starts=(previous,)), now=T0
        )
        assert blocker.available_at == previous + timedelta(hours=48)
        assert (previous + timedelta(hours=48)).isoformat() in blocker.resolution
        exactly = start_inputs(previous_infusion_starts=(T0 - timedelta(hours=48),))
        assert start_blockers(PROTOCOL, exactly, now=T0) == ()

    def test_course_complete_after_n_infusions(self) -> None:
        five = tuple(T0 - timedelta(days=3 * k) for k in range(1, 6))
        assert start_blockers(PROTOCOL, start_inputs(previous_infusion_starts=five), now=T0) == ()
        six = (*five, T0 - timedelta(days=18))
        (blocker,) = start_blockers(PROTOCOL, start_inputs(previous_infusion_starts=six), now=T0)
        assert blocker.code is BlockerCode.COURSE_COMPLETE
        assert blocker.final

    def test_naive_now_is_refused(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            start_blockers(PROTOCOL, start_inputs(), now=T0.replace(tzinfo=None))


class TestBloodPressureRepeat:
    """SBP > 180 or DBP > 100: repeat after 5 min; still above → blocked (DESIGN §5)."""

    FIRST = vitals(minute(-10), sbp=185, dbp=95)

    def blockers(self, *later: VitalsSet, ack: datetime | None = None) -> Any:
        inputs = start_inputs(pre_vitals=(self.FIRST, *later), physician_ack_at=ack)
        return start_blockers(PROTOCOL, inputs, now=T0)

    def test_first_high_reading_asks_for_a_repeat(self) -> None:
        (blocker,) = self.blockers()
        assert blocker.code is BlockerCode.REPEAT_REQUIRED
        assert blocker.available_at == minute(-5)
        assert "repeat required" in blocker.message
        assert not blocker.final

    def test_a_repeat_too_early_does_not_count(self) -> None:
        (blocker,) = self.blockers(vitals(minute(-6), sbp=150))
        assert blocker.code is BlockerCode.REPEAT_REQUIRED
        assert blocker.available_at == minute(-5)

    def test_repeat_still_above_blocks_for_the_session(self) -> None:
        (blocker,) = self.blockers(vitals(minute(-5), sbp=185, dbp=95))
        assert blocker.code is BlockerCode.REPEAT_STILL_ABOVE
        assert blocker.final
        assert blocker.subject == "sbp_severe"

    def test_a_lower_reading_after_a_failed_repeat_does_not_lift_it(self) -> None:
        blockers = self.blockers(vitals(minute(-5), dbp=105), vitals(minute(-1)))
        assert codes(blockers) == [BlockerCode.REPEAT_STILL_ABOVE]
        assert blockers[0].subject == "dbp_severe"

    def test_repeat_below_180_but_above_140_needs_the_physician(self) -> None:
        repeat = vitals(minute(-5), sbp=150, dbp=85)
        (blocker,) = self.blockers(repeat)
        assert blocker.code is BlockerCode.PHYSICIAN_ACK_REQUIRED
        assert self.blockers(repeat, ack=minute(-4)) == ()

    def test_an_acknowledgement_before_the_reading_in_force_does_not_count(self) -> None:
        repeat = vitals(minute(-5), sbp=150, dbp=85)
        assert codes(self.blockers(repeat, ack=minute(-7))) == [BlockerCode.PHYSICIAN_ACK_REQUIRED]

    def test_normal_repeat_clears(self) -> None:
        assert self.blockers(vitals(minute(-4))) == ()

    def test_assessment_exposes_the_baseline_in_force(self) -> None:
        repeat = vitals(minute(-4))
        assessment = assess_pre_vitals(
            PROTOCOL.pre_session, (repeat, self.FIRST), heart_rate_sources=(Metric.HR, Metric.PR)
        )
        assert assessment.in_force == repeat
        assert assessment.repeat_due_at is None
        assert assessment.failed_gates == ()


class TestCourse:
    def test_first_infusion(self) -> None:
        position = course_position(PROTOCOL.course, ())
        assert (position.infusion_number, position.planned_infusions) == (1, 6)
        assert position.earliest_start_at is None
        assert not position.course_complete

    def test_n_of_n_and_earliest_from_the_latest(self) -> None:
        starts = (T0 - timedelta(days=7), T0 - timedelta(days=2), T0 - timedelta(days=4))
        position = course_position(PROTOCOL.course, starts)
        assert position.infusion_number == 4
        assert position.previous_infusion_at == T0 - timedelta(days=2)
        assert position.earliest_start_at == T0

    def test_naive_start_refused(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            course_position(PROTOCOL.course, (T0.replace(tzinfo=None),))


# Checkpoints ---------------------------------------------------------------------------------


def history(*steps: tuple[SessionState, SessionEvent | None, float]) -> tuple[StateChange, ...]:
    return tuple(StateChange(state, minute(m), event) for state, event, m in steps)


INFUSING_HISTORY = history(
    (S.SCHEDULED, None, -120), (S.CHECKED_IN, E.CHECK_IN, -20), (S.INFUSING, E.START, 0)
)


def status_of(
    checkpoint_id: str, hist: tuple[StateChange, ...], now: float, *records: CheckpointRecord
) -> Any:
    statuses = due_checkpoints(
        PROTOCOL.checkpoints, history=hist, completed=records, now=minute(now)
    )
    return {s.checkpoint_id: s for s in statuses}.get(checkpoint_id)


def nibp(m: float) -> CheckpointRecord:
    return CheckpointRecord("nibp", minute(m))


class TestCheckpoints:
    @pytest.mark.parametrize(
        ("now", "state"),
        [
            (5, CheckpointState.UPCOMING),
            (10, CheckpointState.DUE),
            (12, CheckpointState.DUE),
            (12.01, CheckpointState.OVERDUE),
        ],
    )
    def test_bp_every_10_minutes_overdue_after_grace(
        self, now: float, state: CheckpointState
    ) -> None:
        status = status_of("nibp_infusing", INFUSING_HISTORY, now)
        assert status.state is state
        assert (status.due_at, status.overdue_at) == (minute(10), minute(12))
        assert status.overdue is (state is CheckpointState.OVERDUE)

    def test_next_bp_counts_from_the_last_reading(self) -> None:
        status = status_of("nibp_infusing", INFUSING_HISTORY, 19, nibp(9), nibp(17))
        assert (status.due_at, status.done_at, status.state) == (
            minute(27),
            minute(17),
            CheckpointState.UPCOMING,
        )

    def test_a_reading_before_the_start_does_not_shift_the_schedule(self) -> None:
        status = status_of("nibp_infusing", INFUSING_HISTORY, 1, nibp(-3))
        assert status.due_at == minute(10)

    def test_pause_keeps_the_bp_schedule(self) -> None:
        paused = (*INFUSING_HISTORY, StateChange(S.PAUSED, minute(15), E.PAUSE))
        status = status_of("nibp_infusing", paused, 21, nibp(10))
        assert (status.due_at, status.state) == (minute(20), CheckpointState.DUE)
        assert status_of("nibp_infusing", paused, 23, nibp(10)).overdue
        resumed = (*paused, StateChange(S.INFUSING, minute(18), E.RESUME))
        assert status_of("nibp_infusing", resumed, 23, nibp(10)).due_at == minute(20)
        assert status_of("nibp_recovery", resumed, 23) is None

    def test_recovery_every_15_minutes_from_the_end_of_infusion(self) -> None:
        done = (*INFUSING_HISTORY, StateChange(S.RECOVERY, minute(40), E.COMPLETE))
        assert status_of("nibp_infusing", done, 41) is None
        status = status_of("nibp_recovery", done, 41, nibp(38))
        assert (status.due_at, status.overdue_at) == (minute(55), minute(57))
        later = status_of("nibp_recovery", done, 72, nibp(38), nibp(56))
        assert (later.due_at, later.state) == (minute(71), CheckpointState.DUE)

    def test_stopped_follows_the_recovery_schedule(self) -> None:
        stopped = (*INFUSING_HISTORY, StateChange(S.STOPPED, minute(20), E.STOP))
        status = status_of("nibp_recovery", stopped, 38)
        assert (status.due_at, status.state) == (minute(35), CheckpointState.OVERDUE)

    def test_cadss_at_40_minutes(self) -> None:
        assert status_of("cadss_40min", INFUSING_HISTORY, 39).state is CheckpointState.UPCOMING
        status = status_of("cadss_40min", INFUSING_HISTORY, 45)
        assert (status.due_at, status.overdue_at, status.state) == (
            minute(40),
            minute(50),
            CheckpointState.DUE,
        )
        assert status_of("cadss_40min", INFUSING_HISTORY, 51).overdue
        done = status_of(
            "cadss_40min",
            INFUSING_HISTORY,
            51,
            CheckpointRecord("cadss", minute(42), "cadss_40min"),
        )
        assert (done.state, done.done_at) == (CheckpointState.DONE, minute(42))
        assert done.done

    def test_untagged_scale_does_not_satisfy_a_one_off(self) -> None:
        status = status_of(
            "cadss_40min", INFUSING_HISTORY, 51, CheckpointRecord("cadss", minute(42))
        )
        assert status.overdue

    def test_pre_checkpoints_due_at_check_in_and_overdue_once_started(self) -> None:
        checked_in = INFUSING_HISTORY[:2]
        status = status_of("bprs_plus_pre", checked_in, -10)
        assert (status.due_at, status.overdue_at, status.state) == (
            minute(-20),
            None,
            CheckpointState.DUE,
        )
        assert status_of("cadss_40min", checked_in, -10) is None
        assert status_of("bprs_plus_pre", INFUSING_HISTORY, 1).overdue
        done = CheckpointRecord("bprs_plus", minute(-5), "bprs_plus_pre")
        assert status_of("bprs_plus_pre", INFUSING_HISTORY, 1, done).done

    def test_before_discharge_is_due_in_recovery_and_never_overdue(self) -> None:
        assert status_of("aldrete_discharge", INFUSING_HISTORY, 30) is None
        done = (*INFUSING_HISTORY, StateChange(S.RECOVERY, minute(40), E.COMPLETE))
        status = status_of("aldrete_discharge", done, 400)
        assert (status.due_at, status.overdue_at, status.state) == (
            minute(40),
            None,
            CheckpointState.DUE,
        )

    def test_nothing_due_before_check_in_or_after_the_end(self) -> None:
        scheduled = INFUSING_HISTORY[:1]
        assert due_checkpoints(PROTOCOL.checkpoints, history=scheduled, completed=(), now=T0) == ()
        cancelled = (*scheduled, StateChange(S.CANCELLED, minute(-100), E.CANCEL))
        assert due_checkpoints(PROTOCOL.checkpoints, history=cancelled, completed=(), now=T0) == ()

    def test_records_after_now_are_ignored(self) -> None:
        assert (
            status_of("nibp_infusing", INFUSING_HISTORY, 11, nibp(11.5)).state
            is CheckpointState.DUE
        )

    def test_now_before_the_last_change_is_refused(self) -> None:
        with pytest.raises(ValueError, match="before the session's last state change"):
            status_of("nibp_infusing", INFUSING_HISTORY, -1)


# Discharge -----------------------------------------------------------------------------------

RECOVERY_AT = minute(40)
DISCHARGE_DEFAULTS: dict[str, Any] = {
    "physician_evaluation": True,
    "aldrete_total": 10,
    "spo2_pct": 97.0,
    "sbp_mmhg": 128.0,
    "dbp_mmhg": 82.0,
    "baseline_sbp_mmhg": 120.0,
    "baseline_dbp_mmhg": 80.0,
    "sbp_medium_limit_mmhg": 160.0,
    "dbp_medium_limit_mmhg": 100.0,
    "cadss_latest": 2,
    "cadss_pre": 2,
    "escort_present": True,
    "advice_no_driving_given": True,
    "advice_no_alcohol_given": True,
    "uncleared_alarm_count": 0,
}


def discharge(
    now: datetime = minute(100), criteria: Any = PROTOCOL.discharge, **changes: Any
) -> Any:
    return discharge_blockers(
        criteria, recovery_started_at=RECOVERY_AT, now=now, **{**DISCHARGE_DEFAULTS, **changes}
    )


class TestDischargeBlockers:
    def test_all_criteria_met(self) -> None:
        assert discharge() == ()

    def test_minimum_observation_time_with_the_time_it_is_reached(self) -> None:
        (blocker,) = discharge(now=minute(99.99))
        assert blocker.code is BlockerCode.OBSERVATION_TIME_NOT_PASSED
        assert blocker.available_at == minute(100)
        assert discharge(now=minute(100)) == ()

    @pytest.mark.parametrize(
        ("changes", "expected", "text"),
        [
            (
                {"physician_evaluation": False},
                [BlockerCode.PHYSICIAN_EVALUATION_REQUIRED],
                "physician",
            ),
            ({"aldrete_total": 8}, [BlockerCode.ALDRETE_BELOW_MINIMUM], "Aldrete 8 is below 9"),
            ({"aldrete_total": None}, [BlockerCode.ALDRETE_MISSING], "Aldrete"),
            ({"spo2_pct": 91.0}, [BlockerCode.SPO2_BELOW_MINIMUM], "SpO2 91 % is below 92 %"),
            ({"spo2_pct": None}, [BlockerCode.SPO2_MISSING], "SpO2"),
            (
                {"sbp_mmhg": 150.0},
                [BlockerCode.BP_NOT_NEAR_BASELINE],
                "SBP 150 mmHg is +25.0 % from the baseline 120 mmHg",
            ),
            ({"sbp_mmhg": 95.0}, [BlockerCode.BP_NOT_NEAR_BASELINE], "-20.8 %"),
            ({"dbp_mmhg": 97.0}, [BlockerCode.BP_NOT_NEAR_BASELINE], "DBP 97 mmHg"),
            ({"sbp_mmhg": None}, [BlockerCode.BP_MISSING], "no SBP"),
            ({"baseline_dbp_mmhg": None}, [BlockerCode.BP_BASELINE_MISSING], "DBP baseline"),
            (
                {"sbp_mmhg": 160.0, "baseline_sbp_mmhg": 150.0},
                [BlockerCode.BP_AT_OR_ABOVE_ALARM_LIMIT],
                "not below the medium alarm limit 160",
            ),
            (
                {"dbp_mmhg": 100.0, "baseline_dbp_mmhg": 95.0},
                [BlockerCode.BP_AT_OR_ABOVE_ALARM_LIMIT],
                "DBP 100",
            ),
            (
                {"sbp_mmhg": 170.0},
                [BlockerCode.BP_NOT_NEAR_BASELINE, BlockerCode.BP_AT_OR_ABOVE_ALARM_LIMIT],
                "SBP 170",
            ),
            (
                {"cadss_latest": 5},
                [BlockerCode.CADSS_ABOVE_PRE],
                "CADSS 5 is above its pre-infusion value 2",
            ),
            ({"cadss_latest": None}, [BlockerCode.CADSS_MISSING], "current CADSS"),
            ({"cadss_pre": None}, [BlockerCode.CADSS_MISSING], "pre-infusion CADSS"),
            ({"escort_present": False}, [BlockerCode.ESCORT_ABSENT], "escort"),
            (
                {"advice_no_driving_given": False},
                [BlockerCode.ADVICE_NO_DRIVING_NOT_GIVEN],
                "driving",
            ),
            (
                {"advice_no_alcohol_given": False},
                [BlockerCode.ADVICE_NO_ALCOHOL_NOT_GIVEN],
                "alcohol",
            ),
            ({"uncleared_alarm_count": 2}, [BlockerCode.ALARMS_NOT_CLEARED], "2 alarm(s)"),
        ],
    )
    def test_each_unmet_criterion_is_named(
        self, changes: dict[str, Any], expected: list[BlockerCode], text: str
    ) -> None:
        blockers = discharge(**changes)
        assert codes(blockers) == expected
        assert text in blockers[0].message
        assert all(b.resolution for b in blockers)

    @pytest.mark.parametrize(
        ("sbp", "ok"), [(144.0, True), (96.0, True), (144.5, False), (95.5, False)]
    )
    def test_twenty_percent_is_inclusive(self, sbp: float, ok: bool) -> None:
        assert (discharge(sbp_mmhg=sbp) == ()) is ok

    def test_cadss_equal_to_pre_is_enough(self) -> None:
        assert discharge(cadss_latest=4, cadss_pre=4) == ()

    def test_resolution_gives_the_allowed_bp_window(self) -> None:
        (blocker,) = discharge(sbp_mmhg=150.0)
        assert blocker.resolution == "SBP between 96 and 144 mmHg on a new measurement"

    def test_advice_texts_come_from_the_protocol(self) -> None:
        driving, alcohol = discharge(advice_no_driving_given=False, advice_no_alcohol_given=False)
        assert "next day after sleep" in driving.resolution
        assert "24 h" in alcohol.resolution

    def test_everything_unmet_at_once(self) -> None:
        blockers = discharge(
            now=minute(41),
            physician_evaluation=False,
            aldrete_total=None,
            spo2_pct=None,
            sbp_mmhg=None,
            dbp_mmhg=None,
            cadss_latest=None,
            escort_present=False,
            advice_no_driving_given=False,
            advice_no_alcohol_given=False,
            uncleared_alarm_count=1,
        )
        assert len(blockers) == 11
        assert len(set(codes(blockers))) == 10  # BP missing for SBP and DBP

    def test_protocol_switches(self) -> None:
        relaxed = replace(
            PROTOCOL.discharge,
            escort_required=False,
            physician_evaluation_required=False,
            cadss_at_or_below_pre=False,
            alarms_cleared_required=False,
            bp_below_medium_alarm_limits=False,
        )
        blockers = discharge(
            criteria=relaxed,
            escort_present=False,
            physician_evaluation=False,
            cadss_latest=9,
            uncleared_alarm_count=3,
            sbp_mmhg=165.0,
            baseline_sbp_mmhg=150.0,
        )
        assert blockers == ()

    def test_no_medium_limit_means_no_limit_check(self) -> None:
        assert discharge(sbp_mmhg=165.0, baseline_sbp_mmhg=150.0, sbp_medium_limit_mmhg=None) == ()

    def test_medium_alarm_limits_from_the_protocol(self) -> None:
        assert medium_alarm_limit(PROTOCOL.alarms, Metric.SBP) == 160
        assert medium_alarm_limit(PROTOCOL.alarms, Metric.DBP) == 100
        assert medium_alarm_limit(PROTOCOL.alarms, Metric.SPO2) is None  # low-side rules only
        assert medium_alarm_limit(PROTOCOL.alarms, Metric.SBP, Phase.CHECKED_IN) is None


# Segment math (issue 5 acceptance) -----------------------------------------------------------

DOSE = calculate_dose(PROTOCOL.dosing, WeightMeasurement(D(70), T0 - timedelta(hours=1)), T0)


class TestSegmentMath:
    def test_dose_from_the_engine(self) -> None:
        assert (DOSE.dose_mg, DOSE.rate_mg_per_h, DOSE.rate_ml_per_h, DOSE.volume_ml) == (
            D("35.0"),
            D("52.5"),
            D("150.0"),
            D("100.0"),
        )

    def test_pause_5_minutes_at_minute_20_completes_at_minute_45(self) -> None:
        segments = (
            RateSegment(minute(0), DOSE.rate_mg_per_h, minute(20)),
            RateSegment(minute(20), D(0), minute(25)),
            RateSegment(minute(25), DOSE.rate_mg_per_h),
        )
        at_pause = infusion_progress(DOSE.dose_mg, DOSE.volume_ml, segments[:2], minute(22))
        assert (at_pause.delivered_mg, at_pause.remaining_mg, at_pause.remaining_minutes) == (
            D("17.5"),
            D("17.5"),
            None,
        )
        done = infusion_progress(DOSE.dose_mg, DOSE.volume_ml, segments, minute(50))
        assert done.complete
        assert done.completes_at == minute(45)
        assert (done.delivered_mg, done.remaining_mg, done.minutes_infused) == (
            D("35.0"),
            D("0.0"),
            D("40.0"),
        )
        assert (done.delivered_volume_ml, done.remaining_volume_ml) == (D("100.0"), D("0.0"))
        before = infusion_progress(DOSE.dose_mg, DOSE.volume_ml, segments, minute(44))
        assert (before.complete, before.delivered_mg, before.remaining_minutes) == (
            False,
            D("34.1"),
            D("1.0"),
        )

    def test_rate_halved_at_minute_20_gives_the_rest_over_the_longer_time(self) -> None:
        half = DOSE.rate_mg_per_h / 2
        segments = (
            RateSegment(minute(0), DOSE.rate_mg_per_h, minute(20)),
            RateSegment(minute(20), half),
        )
        assert half == D("26.25")
        at_change = infusion_progress(DOSE.dose_mg, DOSE.volume_ml, segments, minute(20))
        assert (at_change.delivered_mg, at_change.remaining_mg) == (D("17.5"), D("17.5"))
        assert (at_change.remaining_minutes, at_change.completes_at) == (D("40.0"), minute(60))
        assert at_change.delivered_volume_ml == D("50.0")
        midway = infusion_progress(DOSE.dose_mg, DOSE.volume_ml, segments, minute(40))
        assert (midway.delivered_mg, midway.remaining_mg, midway.remaining_minutes) == (
            D("26.3"),
            D("8.8"),
            D("20.0"),
        )
        done = infusion_progress(DOSE.dose_mg, DOSE.volume_ml, segments, minute(60))
        assert (done.complete, done.completes_at, done.delivered_mg, done.minutes_infused) == (
            True,
            minute(60),
            D("35.0"),
            D("60.0"),
        )


# State machine with guards -------------------------------------------------------------------


def checked_in(at: datetime = minute(-20)) -> SessionMachine:
    return SessionMachine.schedule(PROTOCOL, minute(-120)).apply(E.CHECK_IN, at)


def infusing() -> SessionMachine:
    return checked_in().apply(E.START, T0, start=start_inputs())


class TestSessionMachine:
    def test_full_lifecycle(self) -> None:
        machine = infusing()
        machine = machine.apply(E.PAUSE, minute(20)).apply(E.RESUME, minute(25))
        segments = (
            RateSegment(minute(0), D("52.5"), minute(20)),
            RateSegment(minute(25), D("52.5")),
        )
        progress = infusion_progress(D("35"), D("100"), segments, minute(45))
        machine = machine.apply(E.COMPLETE, minute(45), progress=progress)
        assert machine.recovery_started_at == minute(45)
        machine = machine.apply(E.DISCHARGE, minute(105), discharge=discharge_inputs())
        assert machine.state is S.DISCHARGED
        assert [e.event for e in machine.history] == [
            None,
            E.CHECK_IN,
            E.START,
            E.PAUSE,
            E.RESUME,
            E.COMPLETE,
            E.DISCHARGE,
        ]
        assert (machine.checked_in_at, machine.started_at) == (minute(-20), T0)

    def test_start_refused_with_every_blocker_and_state_kept(self) -> None:
        machine = checked_in()
        bad = start_inputs(screening_eligible=False, pre_vitals=(vitals(minute(-10), spo2=93),))
        with pytest.raises(TransitionRefused) as caught:
            machine.apply(E.START, T0, start=bad)
        assert codes(caught.value.blockers) == [
            BlockerCode.SCREENING_NOT_ELIGIBLE,
            BlockerCode.VITAL_GATE,
        ]
        assert "SpO2 below 95 %" in str(caught.value)
        assert machine.state is S.CHECKED_IN

    def test_start_without_inputs_is_a_programming_error(self) -> None:
        with pytest.raises(TypeError, match="StartInputs"):
            checked_in().apply(E.START, T0)

    def test_illegal_event_raises_before_guards(self) -> None:
        with pytest.raises(InvalidTransition):
            SessionMachine.schedule(PROTOCOL, T0).apply(E.START, T0, start=start_inputs())

    def test_complete_needs_the_ordered_dose(self) -> None:
        machine = infusing()
        with pytest.raises(TransitionRefused) as caught:
            machine.apply(E.COMPLETE, minute(39), progress=progress_at(T0, minute(39)))
        assert codes(caught.value.blockers) == [BlockerCode.DOSE_NOT_DELIVERED]
        assert "34.1 of 35 mg delivered" in str(caught.value)
        with pytest.raises(TypeError, match="progress"):
            machine.apply(E.COMPLETE, minute(40))
        assert (
            machine.apply(E.COMPLETE, minute(40), progress=progress_at(T0, minute(40))).state
            is S.RECOVERY
        )

    def test_complete_from_paused_when_the_dose_was_delivered(self) -> None:
        machine = infusing().apply(E.PAUSE, minute(41))
        assert (
            machine.apply(E.COMPLETE, minute(42), progress=progress_at(T0, minute(41))).state
            is S.RECOVERY
        )

    def test_stop_needs_a_reason(self) -> None:
        machine = infusing()
        for reason in (None, "", "   "):
            with pytest.raises(TransitionRefused, match="stop needs a reason"):
                machine.apply(E.STOP, minute(20), reason=reason)
        stopped = machine.apply(E.STOP, minute(20), reason="distressing dissociation")
        assert stopped.state is S.STOPPED
        assert stopped.history[-1].reason == "distressing dissociation"

    def test_cancel_needs_a_reason(self) -> None:
        with pytest.raises(TransitionRefused, match="cancel needs a reason"):
            checked_in().apply(E.CANCEL, minute(-10))
        assert (
            checked_in().apply(E.CANCEL, minute(-10), reason="patient unwell").state is S.CANCELLED
        )

    def test_discharge_waits_for_the_observation_time(self) -> None:
        machine = infusing().apply(E.COMPLETE, minute(40), progress=progress_at(T0, minute(40)))
        with pytest.raises(TransitionRefused) as caught:
            machine.apply(E.DISCHARGE, minute(99), discharge=discharge_inputs())
        assert codes(caught.value.blockers) == [BlockerCode.OBSERVATION_TIME_NOT_PASSED]
        assert caught.value.blockers[0].available_at == minute(100)
        assert (
            machine.apply(E.DISCHARGE, minute(100), discharge=discharge_inputs()).state
            is S.DISCHARGED
        )

    def test_discharge_refused_with_cadss_above_baseline(self) -> None:
        machine = infusing().apply(E.COMPLETE, minute(40), progress=progress_at(T0, minute(40)))
        with pytest.raises(TransitionRefused, match="CADSS 6 is above its pre-infusion value 2"):
            machine.apply(E.DISCHARGE, minute(120), discharge=discharge_inputs(cadss_latest=6))

    def test_stopped_session_is_observed_from_the_stop(self) -> None:
        machine = infusing().apply(E.STOP, minute(15), reason="hypertension")
        assert machine.recovery_started_at == minute(15)
        with pytest.raises(TransitionRefused):
            machine.apply(E.DISCHARGE, minute(74), discharge=discharge_inputs())
        assert (
            machine.apply(E.DISCHARGE, minute(75), discharge=discharge_inputs()).state
            is S.DISCHARGED
        )

    def test_discharge_without_inputs_is_a_programming_error(self) -> None:
        machine = infusing().apply(E.STOP, minute(15), reason="x")
        with pytest.raises(TypeError, match="DischargeInputs"):
            machine.apply(E.DISCHARGE, minute(90))

    def test_time_never_goes_backwards(self) -> None:
        with pytest.raises(ValueError, match="before the last state change"):
            infusing().apply(E.PAUSE, minute(-1))

    def test_change_rate_is_recorded_without_changing_state(self) -> None:
        machine = infusing().apply(E.CHANGE_RATE, minute(20), reason="dissociation")
        assert machine.state is S.INFUSING
        assert machine.history[-1].event is E.CHANGE_RATE

    def test_rebuilt_history_is_validated(self) -> None:
        with pytest.raises(ValueError, match="does not lead"):
            SessionMachine(
                PROTOCOL, (StateChange(S.SCHEDULED, T0), StateChange(S.RECOVERY, T0, E.COMPLETE))
            )

    def test_guard_blockers_preview_without_applying(self) -> None:
        machine = checked_in()
        assert machine.guard_blockers(E.START, T0, start=start_inputs()) == ()
        with pytest.raises(InvalidTransition):
            machine.guard_blockers(E.CHECK_IN, T0)


# Property: no path around the guards ---------------------------------------------------------

GOOD_PREVIOUS: tuple[tuple[datetime, ...], ...] = ((), (T0 - timedelta(days=30),))


def _draw_start(data: st.DataObject, at: datetime) -> StartInputs:
    if data.draw(st.booleans(), label="clean start inputs"):
        return start_inputs(at, previous_infusion_starts=data.draw(st.sampled_from(GOOD_PREVIOUS)))
    n_sets = data.draw(st.integers(0, 3))
    sets = tuple(
        VitalsSet(
            at - timedelta(minutes=data.draw(st.sampled_from([1, 3, 6, 10, 15]))),
            {
                metric: value
                for metric, value in (
                    (Metric.SBP, data.draw(st.sampled_from([120.0, 145.0, 180.0, 181.0, 185.0]))),
                    (Metric.DBP, data.draw(st.sampled_from([80.0, 91.0, 100.0, 101.0]))),
                    (Metric.HR, data.draw(st.sampled_from([None, 45.0, 70.0, 121.0]))),
                    (Metric.PR, data.draw(st.sampled_from([None, 49.0, 72.0]))),
                    (Metric.SPO2, data.draw(st.sampled_from([None, 94.0, 95.0, 98.0]))),
                    (Metric.RR, data.draw(st.sampled_from([9.0, 14.0, 31.0]))),
                )
                if value is not None
            },
        )
        for _ in range(n_sets)
    )
    return StartInputs(
        screening_eligible=data.draw(st.booleans()),
        screening_reason="drawn",
        pre_vitals=sets,
        checklist_confirmed=data.draw(st.sampled_from([CHECKLIST, CHECKLIST - {"no_driving_ack"}])),
        weight=data.draw(
            st.sampled_from(
                [
                    None,
                    WeightMeasurement(D(70), at - timedelta(hours=2)),
                    WeightMeasurement(D(70), at - timedelta(days=8)),
                    WeightMeasurement(D(29), at - timedelta(hours=2)),
                ]
            )
        ),
        pre_cadss_total=data.draw(st.sampled_from([None, 0, 4])),
        previous_infusion_starts=data.draw(
            st.sampled_from(
                [
                    (),
                    (at - timedelta(hours=47),),
                    (at - timedelta(hours=48),),
                    tuple(at - timedelta(days=3 * k) for k in range(1, 7)),
                ]
            )
        ),
        physician_ack_at=data.draw(st.sampled_from([None, at, at - timedelta(hours=1)])),
    )


def _draw_discharge(data: st.DataObject) -> DischargeInputs:
    if data.draw(st.booleans(), label="clean discharge inputs"):
        return discharge_inputs()
    return DischargeInputs(
        physician_evaluation=data.draw(st.booleans()),
        aldrete_total=data.draw(st.sampled_from([None, 8, 9, 10])),
        spo2_pct=data.draw(st.sampled_from([None, 91.0, 92.0, 97.0])),
        sbp_mmhg=data.draw(st.sampled_from([None, 95.0, 120.0, 145.0, 160.0])),
        dbp_mmhg=data.draw(st.sampled_from([None, 63.0, 80.0, 97.0, 100.0])),
        baseline_sbp_mmhg=data.draw(st.sampled_from([None, 120.0, 150.0])),
        baseline_dbp_mmhg=data.draw(st.sampled_from([None, 80.0, 90.0])),
        cadss_latest=data.draw(st.sampled_from([None, 1, 2, 7])),
        cadss_pre=data.draw(st.sampled_from([None, 2])),
        escort_present=data.draw(st.booleans()),
        advice_no_driving_given=data.draw(st.booleans()),
        advice_no_alcohol_given=data.draw(st.booleans()),
        uncleared_alarm_count=data.draw(st.sampled_from([0, 0, 1])),
    )


def _start_oracle(inputs: StartInputs, at: datetime) -> bool:
    """Independent necessary conditions for a start (DESIGN §5), written without the domain."""
    if not inputs.screening_eligible or inputs.pre_cadss_total is None or not inputs.pre_vitals:
        return False
    if not inputs.checklist_confirmed >= CHECKLIST or inputs.weight is None:
        return False
    if not 30 <= inputs.weight.weight_kg <= 250 or at - inputs.weight.measured_at > timedelta(
        days=7
    ):
        return False
    starts = inputs.previous_infusion_starts
    if len(starts) >= 6 or (starts and at < max(starts) + timedelta(hours=48)):
        return False
    ordered = sorted(inputs.pre_vitals, key=lambda v: v.taken_at)
    latest = ordered[-1].readings
    hr = latest.get(Metric.HR, latest.get(Metric.PR))
    if hr is None or not 50 <= hr <= 120:
        return False
    if latest.get(Metric.SPO2, 0) < 95 or not 10 <= latest.get(Metric.RR, 0) <= 30:
        return False
    sbp, dbp = latest.get(Metric.SBP, 999), latest.get(Metric.DBP, 999)
    if sbp > 180 or dbp > 100:
        return False
    severe = [v for v in ordered if v.readings[Metric.SBP] > 180 or v.readings[Metric.DBP] > 100]
    if severe and ordered[-1].taken_at < severe[0].taken_at + timedelta(minutes=5):
        return False
    ack = inputs.physician_ack_at
    return not ((sbp > 140 or dbp > 90) and (ack is None or ack < ordered[-1].taken_at))


def _discharge_oracle(inputs: DischargeInputs, recovery_at: datetime, at: datetime) -> bool:
    """Independent necessary conditions for a discharge (DESIGN §5, clinical.md §5, §9)."""
    if at < recovery_at + timedelta(minutes=60):
        return False
    aldrete, spo2, cadss, cadss_pre = (
        inputs.aldrete_total,
        inputs.spo2_pct,
        inputs.cadss_latest,
        inputs.cadss_pre,
    )
    sbp, dbp = inputs.sbp_mmhg, inputs.dbp_mmhg
    base_sbp, base_dbp = inputs.baseline_sbp_mmhg, inputs.baseline_dbp_mmhg
    if aldrete is None or spo2 is None or cadss is None or cadss_pre is None:
        return False
    if sbp is None or dbp is None or base_sbp is None or base_dbp is None:
        return False
    return (
        inputs.physician_evaluation
        and aldrete >= 9
        and spo2 >= 92
        and abs(sbp - base_sbp) <= 0.2 * base_sbp
        and abs(dbp - base_dbp) <= 0.2 * base_dbp
        and sbp < 160
        and dbp < 100
        and cadss <= cadss_pre
        and inputs.escort_present
        and inputs.advice_no_driving_given
        and inputs.advice_no_alcohol_given
        and inputs.uncleared_alarm_count == 0
    )


STEP_MINUTES = [0, 1, 5, 20, 39, 40, 45, 59, 60, 61, 120]


class TestNoPathAroundTheGuards:
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def test_random_event_sequences(self, data: st.DataObject) -> None:
        """No sequence reaches infusing without the gates, or discharged without recovery time."""
        at = minute(-120)
        machine = SessionMachine.schedule(PROTOCOL, at)
        for _ in range(data.draw(st.integers(1, 16), label="steps")):
            legal = allowed_events(machine.state)
            pick_legal = legal and data.draw(st.integers(0, 5)) > 0
            event = data.draw(st.sampled_from(legal if pick_legal else list(E)), label="event")
            at += timedelta(minutes=data.draw(st.sampled_from(STEP_MINUTES)))
            start = _draw_start(data, at) if event is E.START else None
            leave = _draw_discharge(data) if event is E.DISCHARGE else None
            started = machine.started_at or at
            progress = progress_at(started, at) if event is E.COMPLETE else None
            reason = data.draw(st.sampled_from([None, "", "clinical reason"]))
            try:
                after = machine.apply(
                    event, at, start=start, discharge=leave, progress=progress, reason=reason
                )
            except (InvalidTransition, TransitionRefused):
                continue
            if event is E.START:
                assert start is not None
                assert _start_oracle(start, at)
            if event is E.COMPLETE:
                assert at >= started + timedelta(minutes=40)
            if event is E.DISCHARGE:
                assert leave is not None
                assert machine.recovery_started_at is not None
                assert _discharge_oracle(leave, machine.recovery_started_at, at)
            if event in (E.STOP, E.CANCEL):
                assert reason
            machine = after

        states = [entry.state for entry in machine.history]
        hypothesis_event(f"reached {max(states, key=list(S).index)}")
        if any(s in states for s in (S.INFUSING, S.PAUSED, S.RECOVERY, S.STOPPED, S.DISCHARGED)):
            assert E.START in [entry.event for entry in machine.history]
        if S.DISCHARGED in states:
            recovery_at = machine.recovery_started_at
            assert recovery_at is not None
            assert machine.history[-1].at >= recovery_at + timedelta(minutes=60)
        if S.CANCELLED in states:
            assert S.INFUSING not in states

    def test_the_oracles_accept_the_clean_path(self) -> None:
        assert _start_oracle(start_inputs(), T0)
        assert _discharge_oracle(discharge_inputs(), minute(40), minute(100))


# Lifecycle across the Europe/Oslo DST change -------------------------------------------------

OSLO = ZoneInfo("Europe/Oslo")


class TestDaylightSavingChange:
    """Clocks in Oslo go back from 03:00 CEST to 02:00 CET at 2026-10-25 01:00 UTC."""

    def test_lifecycle_durations_are_true_elapsed_time(self) -> None:
        check_in_local = datetime(2026, 10, 25, 2, 20, tzinfo=OSLO)  # first 02:20 (CEST)
        clock = FakeClock(check_in_local.astimezone(UTC))
        assert clock.now() == datetime(2026, 10, 25, 0, 20, tzinfo=UTC)

        machine = SessionMachine.schedule(PROTOCOL, clock.now() - timedelta(days=1))
        machine = machine.apply(E.CHECK_IN, clock.now())
        clock.advance(minutes=20)
        started = clock.now()
        machine = machine.apply(E.START, started, start=start_inputs(started))
        assert started.astimezone(OSLO).strftime("%H:%M %Z") == "02:40 CEST"

        clock.advance(minutes=10)
        bp = CheckpointRecord("nibp", clock.now())
        clock.advance(minutes=11)  # 01:01 UTC, just after the change
        status = {
            s.checkpoint_id: s
            for s in due_checkpoints(
                PROTOCOL.checkpoints, history=machine.history, completed=(bp,), now=clock.now()
            )
        }
        assert status["nibp_infusing"].due_at == datetime(2026, 10, 25, 1, 0, tzinfo=UTC)
        assert status["nibp_infusing"].state is CheckpointState.DUE

        clock.set(started + timedelta(minutes=40))
        completed = clock.now()
        progress = progress_at(started, completed)
        assert progress.completes_at == completed
        machine = machine.apply(E.COMPLETE, completed, progress=progress)
        local_end = completed.astimezone(OSLO)
        assert local_end.strftime("%H:%M %Z") == "02:20 CET"
        assert local_end.fold == 1  # the second 02:20 of the night
        # Naive wall-clock subtraction would say the infusion took -20 minutes.
        naive = local_end.replace(tzinfo=None) - started.astimezone(OSLO).replace(tzinfo=None)
        assert naive == timedelta(minutes=-20)
        assert completed - started == timedelta(minutes=40)

        clock.advance(minutes=59)
        with pytest.raises(TransitionRefused) as caught:
            machine.apply(E.DISCHARGE, clock.now(), discharge=discharge_inputs())
        assert caught.value.blockers[0].available_at == datetime(2026, 10, 25, 2, 20, tzinfo=UTC)
        clock.advance(minutes=1)
        machine = machine.apply(E.DISCHARGE, clock.now(), discharge=discharge_inputs())
        assert machine.state is S.DISCHARGED
        assert clock.now().astimezone(OSLO).strftime("%H:%M %Z") == "03:20 CET"
        assert machine.history[-1].at - machine.history[1].at == timedelta(minutes=120)
