"""Pure session domain: lifecycle, start gates, checkpoints, discharge, course (DESIGN §5).

A package rather than one module to stay under the 400-line cap (STYLE §1); import from here
(`from app.sessions.domain import SessionMachine`). Stdlib and other pure domains only; time
comes in as an argument.
"""

from app.sessions.domain.blockers import Blocker, BlockerCode
from app.sessions.domain.checkpoints import (
    CheckpointRecord,
    CheckpointState,
    CheckpointStatus,
    due_checkpoints,
)
from app.sessions.domain.course import CoursePosition, course_position
from app.sessions.domain.discharge import DischargeInputs, discharge_blockers, medium_alarm_limit
from app.sessions.domain.lifecycle import (
    ACTIVE_STATES,
    FINAL_STATES,
    REASON_REQUIRED_EVENTS,
    RECOVERY_STATES,
    TRANSITIONS,
    InvalidTransition,
    SessionEvent,
    SessionState,
    StateChange,
    allowed_events,
    allowed_from,
    phase_for,
    transition,
    validate_history,
)
from app.sessions.domain.machine import SessionMachine, TransitionRefused
from app.sessions.domain.start import (
    PreVitalsAssessment,
    StartInputs,
    VitalsSet,
    assess_pre_vitals,
    gate_readings,
    start_blockers,
)

__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATES",
    "REASON_REQUIRED_EVENTS",
    "RECOVERY_STATES",
    "TRANSITIONS",
    "Blocker",
    "BlockerCode",
    "CheckpointRecord",
    "CheckpointState",
    "CheckpointStatus",
    "CoursePosition",
    "DischargeInputs",
    "InvalidTransition",
    "PreVitalsAssessment",
    "SessionEvent",
    "SessionMachine",
    "SessionState",
    "StartInputs",
    "StateChange",
    "TransitionRefused",
    "VitalsSet",
    "allowed_events",
    "allowed_from",
    "assess_pre_vitals",
    "course_position",
    "discharge_blockers",
    "due_checkpoints",
    "gate_readings",
    "medium_alarm_limit",
    "phase_for",
    "start_blockers",
    "transition",
    "validate_history",
]
