"""The session state machine with its data guards (issue 5 point 1, acceptance property test).

`transition()` checks legality only. `SessionMachine.apply` also checks the guards, so that no
sequence of events reaches `infusing` without the start gates passing, `recovery` without the
dose delivered, or `discharged` without the minimum observation time and the criteria. The
end of infusion and the event time come from the machine's own history, not from the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.protocols.domain import InfusionProgress, Metric, ProtocolDefinition
from app.protocols.domain.common import require_aware
from app.sessions.domain.blockers import Blocker, BlockerCode
from app.sessions.domain.discharge import DischargeInputs, discharge_blockers, medium_alarm_limit
from app.sessions.domain.lifecycle import (
    REASON_REQUIRED_EVENTS,
    RECOVERY_STATES,
    SessionEvent,
    SessionState,
    StateChange,
    transition,
    validate_history,
)
from app.sessions.domain.start import StartInputs, start_blockers


class TransitionRefused(ValueError):
    """A legal event whose guard is not met; `blockers` name every unmet condition."""

    def __init__(
        self, state: SessionState, event: SessionEvent, blockers: tuple[Blocker, ...]
    ) -> None:
        self.state = state
        self.event = event
        self.blockers = blockers
        self.message = f"cannot {event} the session ({state}): " + "; ".join(
            b.message for b in blockers
        )
        super().__init__(self.message)


@dataclass(frozen=True, slots=True)
class SessionMachine:
    """A session's pinned protocol and its history of state changes (oldest first).

    Rebuild it from stored rows (`SessionMachine(protocol, history)`, the history is validated)
    or begin with `SessionMachine.schedule`.
    """

    protocol: ProtocolDefinition
    history: tuple[StateChange, ...]

    def __post_init__(self) -> None:
        validate_history(self.history)

    @classmethod
    def schedule(cls, protocol: ProtocolDefinition, at: datetime) -> SessionMachine:
        """A new session in state `scheduled` at instant `at` (timezone-aware)."""
        return cls(protocol, (StateChange(SessionState.SCHEDULED, at),))

    @property
    def state(self) -> SessionState:
        """The current state (last history entry)."""
        return self.history[-1].state

    def _first_entry_at(self, states: frozenset[SessionState]) -> datetime | None:
        return next((e.at for e in self.history if e.state in states), None)

    @property
    def checked_in_at(self) -> datetime | None:
        """When the patient was checked in, if they were."""
        return self._first_entry_at(frozenset({SessionState.CHECKED_IN}))

    @property
    def started_at(self) -> datetime | None:
        """When the infusion started (first entry into infusing), if it did."""
        return self._first_entry_at(frozenset({SessionState.INFUSING}))

    @property
    def recovery_started_at(self) -> datetime | None:
        """End of infusion: when the session entered recovery or stopped; the observation clock."""
        return self._first_entry_at(RECOVERY_STATES)

    def guard_blockers(
        self,
        event: SessionEvent,
        at: datetime,
        *,
        start: StartInputs | None = None,
        discharge: DischargeInputs | None = None,
        progress: InfusionProgress | None = None,
        reason: str | None = None,
    ) -> tuple[Blocker, ...]:
        """Unmet guard conditions for `event` at `at` (empty when it may be applied).

        Rules: start → `start_blockers` (gates, checklist, weight, CADSS, course); complete →
        the ordered dose delivered by `at` (`infusion_progress(...).complete`, DESIGN §3);
        discharge → `discharge_blockers` with the end of infusion from the history and the
        medium SBP/DBP alarm limits of the pinned protocol; stop and cancel → a reason.
        Raises InvalidTransition when the event is not legal in the current state and
        TypeError when the event's inputs are not given.
        """
        require_aware("at", at)
        transition(self.state, event)
        if event is SessionEvent.START:
            if start is None:
                raise TypeError("start needs start=StartInputs(...)")
            return start_blockers(self.protocol, start, now=at)
        if event is SessionEvent.COMPLETE:
            if progress is None:
                raise TypeError("complete needs progress=infusion_progress(...)")
            if (
                progress.complete
                and progress.completes_at is not None
                and progress.completes_at <= at
            ):
                return ()
            return (
                Blocker(
                    BlockerCode.DOSE_NOT_DELIVERED,
                    f"{progress.delivered_mg} of {progress.ordered_dose_mg} mg delivered",
                    "resume until the ordered dose is delivered, or stop the infusion with a reason",
                ),
            )
        if event is SessionEvent.DISCHARGE:
            if discharge is None:
                raise TypeError("discharge needs discharge=DischargeInputs(...)")
            recovery_started_at = self.recovery_started_at
            assert recovery_started_at is not None  # discharge is only legal from recovery states
            return discharge_blockers(
                self.protocol.discharge,
                recovery_started_at=recovery_started_at,
                now=at,
                physician_evaluation=discharge.physician_evaluation,
                aldrete_total=discharge.aldrete_total,
                spo2_pct=discharge.spo2_pct,
                sbp_mmhg=discharge.sbp_mmhg,
                dbp_mmhg=discharge.dbp_mmhg,
                baseline_sbp_mmhg=discharge.baseline_sbp_mmhg,
                baseline_dbp_mmhg=discharge.baseline_dbp_mmhg,
                sbp_medium_limit_mmhg=medium_alarm_limit(self.protocol.alarms, Metric.SBP),
                dbp_medium_limit_mmhg=medium_alarm_limit(self.protocol.alarms, Metric.DBP),
                cadss_latest=discharge.cadss_latest,
                cadss_pre=discharge.cadss_pre,
                escort_present=discharge.escort_present,
                advice_no_driving_given=discharge.advice_no_driving_given,
                advice_no_alcohol_given=discharge.advice_no_alcohol_given,
                uncleared_alarm_count=discharge.uncleared_alarm_count,
            )
        if event in REASON_REQUIRED_EVENTS and not (reason and reason.strip()):
            return (
                Blocker(
                    BlockerCode.REASON_REQUIRED,
                    f"{event} needs a reason",
                    f"give the reason for the {event}",
                ),
            )
        return ()

    def apply(
        self,
        event: SessionEvent,
        at: datetime,
        *,
        start: StartInputs | None = None,
        discharge: DischargeInputs | None = None,
        progress: InfusionProgress | None = None,
        reason: str | None = None,
    ) -> SessionMachine:
        """The machine after `event` at instant `at`, or raise.

        Rule (DESIGN §5, issue 5): the event must be legal (`transition`, else
        InvalidTransition), `at` must not precede the last state change (ValueError), and its
        guard must hold (`guard_blockers`, else TransitionRefused with every blocker).
        """
        require_aware("at", at)
        if at < self.history[-1].at:
            raise ValueError(
                f"{event} at {at.isoformat()} is before the last state change at "
                f"{self.history[-1].at.isoformat()}"
            )
        blockers = self.guard_blockers(
            event, at, start=start, discharge=discharge, progress=progress, reason=reason
        )
        if blockers:
            raise TransitionRefused(self.state, event, blockers)
        entry = StateChange(transition(self.state, event), at, event, reason)
        return SessionMachine(self.protocol, (*self.history, entry))
