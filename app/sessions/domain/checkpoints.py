"""Due and overdue checkpoints from the protocol's schedule (issue 5 point 7).

Recurring checkpoints (BP every 10 min while infusing or paused, every 15 min when stopped or
in recovery) run from the start of the phase run or the last record of their item. One-off
checkpoints are due at an anchor: before the start, a fixed time after the start, or before
discharge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from app.protocols.domain import Checkpoint, CheckpointAnchor
from app.protocols.domain.common import require_aware
from app.sessions.domain.lifecycle import (
    FINAL_STATES,
    RECOVERY_STATES,
    SessionState,
    StateChange,
    phase_for,
    validate_history,
)


@dataclass(frozen=True, slots=True)
class CheckpointRecord:
    """An observation that was done: `item` (e.g. "nibp", "cadss") at instant `at`.

    `checkpoint_id` ties a scale entry to a one-off checkpoint (e.g. "cadss_40min"); monitor
    readings leave it None. Recurring checkpoints count any record of their item; one-off
    checkpoints count only records tagged with their id.
    """

    item: str
    at: datetime
    checkpoint_id: str | None = None


class CheckpointState(StrEnum):
    """Status of a checkpoint at `now`."""

    UPCOMING = "upcoming"
    DUE = "due"
    OVERDUE = "overdue"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class CheckpointStatus:
    """One checkpoint at `now`: when it is due, when it becomes overdue, when it was last done.

    `overdue_at` is None while no deadline exists yet (before_start until the start,
    before_discharge always: it is a discharge requirement, never overdue before discharge).
    """

    checkpoint_id: str
    item: str
    state: CheckpointState
    due_at: datetime | None
    overdue_at: datetime | None
    done_at: datetime | None

    @property
    def overdue(self) -> bool:
        """True when past the due time plus grace and not done."""
        return self.state is CheckpointState.OVERDUE

    @property
    def done(self) -> bool:
        """True for a one-off checkpoint that has its record."""
        return self.state is CheckpointState.DONE


def _first_at(history: Sequence[StateChange], states: frozenset[SessionState]) -> datetime | None:
    return next((entry.at for entry in history if entry.state in states), None)


def _timed_state(due_at: datetime, overdue_at: datetime | None, now: datetime) -> CheckpointState:
    if now < due_at:
        return CheckpointState.UPCOMING
    if overdue_at is not None and now > overdue_at:
        return CheckpointState.OVERDUE
    return CheckpointState.DUE


def _recurring(
    checkpoint: Checkpoint,
    history: Sequence[StateChange],
    records: Sequence[CheckpointRecord],
    now: datetime,
) -> CheckpointStatus | None:
    assert checkpoint.interval_minutes is not None  # guaranteed by Checkpoint.is_recurring
    run_start: datetime | None = None
    for entry in reversed(history):
        if phase_for(entry.state) not in checkpoint.phases:
            break
        run_start = entry.at
    if run_start is None:
        return None
    last = max(
        (r.at for r in records if r.item == checkpoint.item and r.at >= run_start), default=None
    )
    due_at = (last or run_start) + timedelta(minutes=checkpoint.interval_minutes)
    overdue_at = due_at + timedelta(minutes=checkpoint.grace_minutes)
    return CheckpointStatus(
        checkpoint_id=checkpoint.id,
        item=checkpoint.item,
        state=_timed_state(due_at, overdue_at, now),
        due_at=due_at,
        overdue_at=overdue_at,
        done_at=last,
    )


def _one_off(
    checkpoint: Checkpoint,
    history: Sequence[StateChange],
    records: Sequence[CheckpointRecord],
    now: datetime,
) -> CheckpointStatus | None:
    checked_in_at = _first_at(history, frozenset({SessionState.CHECKED_IN}))
    started_at = _first_at(history, frozenset({SessionState.INFUSING}))
    recovery_at = _first_at(history, RECOVERY_STATES)
    grace = timedelta(minutes=checkpoint.grace_minutes)
    due_at: datetime | None
    overdue_at: datetime | None
    if checkpoint.anchor is CheckpointAnchor.BEFORE_START:
        due_at, overdue_at = checked_in_at, None if started_at is None else started_at + grace
    elif checkpoint.anchor is CheckpointAnchor.AFTER_START:
        due_at = (
            None
            if started_at is None
            else started_at + timedelta(minutes=checkpoint.offset_minutes)
        )
        overdue_at = None if due_at is None else due_at + grace
    else:
        due_at, overdue_at = recovery_at, None
    if due_at is None:
        return None
    done_at = max((r.at for r in records if r.checkpoint_id == checkpoint.id), default=None)
    state = CheckpointState.DONE if done_at is not None else _timed_state(due_at, overdue_at, now)
    return CheckpointStatus(
        checkpoint_id=checkpoint.id,
        item=checkpoint.item,
        state=state,
        due_at=due_at,
        overdue_at=overdue_at,
        done_at=done_at,
    )


def due_checkpoints(
    checkpoints: Sequence[Checkpoint],
    *,
    history: tuple[StateChange, ...],
    completed: Sequence[CheckpointRecord],
    now: datetime,
) -> tuple[CheckpointStatus, ...]:
    """Status of every checkpoint that applies to the session at `now`, in protocol order.

    Rules (protocol `[[checkpoints]]`, clinical.md §3.1, §9, issue 5 point 7):
    - Recurring (`interval_minutes`, `phases`): applies while the current state's phase is in
      `phases`. Due `interval_minutes` after the later of the start of the current run of
      those phases and the last record of the item in that run; overdue after `grace_minutes`
      more. A pause inside {infusing, paused} keeps the BP schedule; entering recovery or
      stopped starts the 15-min schedule afresh.
    - before_start: due from check-in; overdue `grace_minutes` after the start if not done.
    - after_start: due `offset_minutes` after the infusion start (wall time, e.g. CADSS at
      40 min); overdue after `grace_minutes`.
    - before_discharge: due from the start of recovery (or stop); never overdue (discharge is
      refused until the values it needs are recorded).
    A one-off is done when a record carries its id. Scheduled and final sessions have none
    due. Instants timezone-aware; records after `now` are ignored.
    """
    require_aware("now", now)
    validate_history(history)
    if now < history[-1].at:
        raise ValueError("now is before the session's last state change")
    state = history[-1].state
    if state is SessionState.SCHEDULED or state in FINAL_STATES:
        return ()
    for index, record in enumerate(completed):
        require_aware(f"completed[{index}].at", record.at)
    records = [r for r in completed if r.at <= now]
    statuses: list[CheckpointStatus] = []
    for checkpoint in checkpoints:
        status = (
            _recurring(checkpoint, history, records, now)
            if checkpoint.is_recurring
            else _one_off(checkpoint, history, records, now)
        )
        if status is not None:
            statuses.append(status)
    return tuple(statuses)
