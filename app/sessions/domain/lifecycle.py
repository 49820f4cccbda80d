"""Session states, events and the transition table (DESIGN §5, issue 5 point 1, STYLE §6.7).

`transition()` only checks that a move is legal. The guards that need data (gates before the
start, dose delivered before completion, discharge criteria) live in `SessionMachine`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from app.protocols.domain import Phase
from app.protocols.domain.common import require_aware


class SessionState(StrEnum):
    """Where an infusion session is in its lifecycle."""

    SCHEDULED = "scheduled"
    """Booked for a patient on a chair with a protocol version; nothing measured yet."""
    CHECKED_IN = "checked_in"
    """Patient in the chair, monitor bound; checklist, weight and baseline being recorded."""
    INFUSING = "infusing"
    """The pump runs at the rate of the current segment."""
    PAUSED = "paused"
    """Infusion paused (rate 0); the intra-infusion monitoring schedule continues."""
    RECOVERY = "recovery"
    """The ordered dose is delivered; minimum observation before discharge."""
    STOPPED = "stopped"
    """Infusion ended early. The patient is observed exactly as in recovery and discharged
    from here; the state keeps the fact that the dose was not completed."""
    DISCHARGED = "discharged"
    """Final: a physician judged the discharge criteria met."""
    CANCELLED = "cancelled"
    """Final: the session ended before any drug was given."""


class SessionEvent(StrEnum):
    """Commands that move a session; each is audited with actor, time and reason."""

    CHECK_IN = "check_in"
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    CHANGE_RATE = "change_rate"
    STOP = "stop"
    COMPLETE = "complete"
    DISCHARGE = "discharge"
    CANCEL = "cancel"


_S = SessionState
_E = SessionEvent

TRANSITIONS: Final = MappingProxyType(
    {
        (_S.SCHEDULED, _E.CHECK_IN): _S.CHECKED_IN,
        (_S.SCHEDULED, _E.CANCEL): _S.CANCELLED,
        (_S.CHECKED_IN, _E.START): _S.INFUSING,
        (_S.CHECKED_IN, _E.CANCEL): _S.CANCELLED,
        (_S.INFUSING, _E.PAUSE): _S.PAUSED,
        (_S.INFUSING, _E.CHANGE_RATE): _S.INFUSING,
        (_S.INFUSING, _E.STOP): _S.STOPPED,
        (_S.INFUSING, _E.COMPLETE): _S.RECOVERY,
        (_S.PAUSED, _E.RESUME): _S.INFUSING,
        (_S.PAUSED, _E.STOP): _S.STOPPED,
        (_S.PAUSED, _E.COMPLETE): _S.RECOVERY,
        (_S.RECOVERY, _E.DISCHARGE): _S.DISCHARGED,
        (_S.STOPPED, _E.DISCHARGE): _S.DISCHARGED,
    }
)
"""Every legal (state, event) → next state. Anything not listed is refused.

`complete` is allowed from `paused` because the pump may finish the bag just before a nurse
pauses; the machine still checks that the ordered dose was delivered.
"""

FINAL_STATES: Final = frozenset({_S.DISCHARGED, _S.CANCELLED})
"""No event leaves these states."""

ACTIVE_STATES: Final = frozenset({_S.CHECKED_IN, _S.INFUSING, _S.PAUSED, _S.STOPPED, _S.RECOVERY})
"""States in which the session occupies its chair and patient (one active session each, DESIGN §5)."""

RECOVERY_STATES: Final = frozenset({_S.RECOVERY, _S.STOPPED})
"""States observed as recovery: minimum observation time, BP every 15 min, discharge."""

REASON_REQUIRED_EVENTS: Final = frozenset({_E.STOP, _E.CANCEL})
"""Events refused without a reason (issue 5 point 4 "stop (reason required)"; cancel too)."""

_PHASES: Final = MappingProxyType(
    {
        _S.CHECKED_IN: Phase.CHECKED_IN,
        _S.INFUSING: Phase.INFUSING,
        _S.PAUSED: Phase.PAUSED,
        _S.STOPPED: Phase.STOPPED,
        _S.RECOVERY: Phase.RECOVERY,
    }
)

_VERBS: Final = MappingProxyType(
    {
        _E.CHECK_IN: "check in",
        _E.START: "start",
        _E.PAUSE: "pause",
        _E.RESUME: "resume",
        _E.CHANGE_RATE: "change the rate of",
        _E.STOP: "stop",
        _E.COMPLETE: "complete",
        _E.DISCHARGE: "discharge",
        _E.CANCEL: "cancel",
    }
)


class InvalidTransition(ValueError):
    """An event that is not legal in the session's current state (the API answers 409)."""

    def __init__(self, state: SessionState, event: SessionEvent) -> None:
        self.state = state
        self.event = event
        self.allowed_from = allowed_from(event)
        allowed = ", ".join(self.allowed_from)
        final = f"; {state} is final" if state in FINAL_STATES else ""
        self.message = (
            f"cannot {_VERBS[event]} a session that is {state} (allowed from: {allowed}){final}"
        )
        super().__init__(self.message)


def allowed_from(event: SessionEvent) -> tuple[SessionState, ...]:
    """States in which `event` is legal, in lifecycle order (TRANSITIONS)."""
    return tuple(state for state in SessionState if (state, event) in TRANSITIONS)


def allowed_events(state: SessionState) -> tuple[SessionEvent, ...]:
    """Events legal in `state`, e.g. to show only the buttons that can work (TRANSITIONS)."""
    return tuple(event for event in SessionEvent if (state, event) in TRANSITIONS)


def transition(state: SessionState, event: SessionEvent) -> SessionState:
    """Next state for `event` in `state`, or raise InvalidTransition naming both.

    Rule (DESIGN §5, issue 5 point 1): scheduled → checked_in → infusing ⇄ paused → recovery →
    discharged; stop from infusing/paused → stopped, which is observed as recovery and
    discharged from there; cancel only before the infusion (scheduled, checked_in).
    Legality only: the data guards are in `SessionMachine.apply`.
    """
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTransition(state, event) from None


def phase_for(state: SessionState) -> Phase | None:
    """Protocol phase of a state for alarm rules and checkpoints (protocol `phases` lists).

    Rule: the phases are checked_in, infusing, paused, stopped and recovery; scheduled and the
    final states have no phase, so no alarm rule or checkpoint applies to them (issue 7 point 1).
    """
    return _PHASES.get(state)


@dataclass(frozen=True, slots=True)
class StateChange:
    """One entry of a session's history: the state entered, when (aware UTC), by which event.

    The first entry is the scheduling (`state=scheduled`, `event=None`). `change_rate` adds an
    entry whose state equals the previous one.
    """

    state: SessionState
    at: datetime
    event: SessionEvent | None = None
    reason: str | None = None


def validate_history(history: tuple[StateChange, ...]) -> None:
    """Raise ValueError unless `history` is a possible session history.

    Rule: starts with `scheduled` and no event; every later entry names the event that led to it,
    that event is legal in the previous state and leads to the entry's state; instants are
    timezone-aware and never go backwards.
    """
    if not history:
        raise ValueError("a session history needs at least the scheduling entry")
    first = history[0]
    if first.state is not SessionState.SCHEDULED or first.event is not None:
        raise ValueError("a session history starts with state 'scheduled' and no event")
    for index, entry in enumerate(history):
        require_aware(f"history[{index}].at", entry.at)
        if index == 0:
            continue
        previous = history[index - 1]
        if entry.at < previous.at:
            raise ValueError(f"history[{index}] is earlier than the entry before it")
        if entry.event is None or TRANSITIONS.get((previous.state, entry.event)) != entry.state:
            raise ValueError(
                f"history[{index}]: {entry.event} does not lead from {previous.state} "
                f"to {entry.state}"
            )
