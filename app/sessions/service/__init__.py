"""Infusion session use cases (DESIGN §5, issue 5), one module per use case.

Every transition goes through `SessionMachine` (legality and guards), stores a state change row
and an audit row in the caller's transaction; services never commit.
"""

from app.sessions.service.active import active_sessions
from app.sessions.service.checkin import add_pre_vitals, check_in, physician_ack
from app.sessions.service.discharge import discharge_session
from app.sessions.service.infusion import (
    change_rate,
    complete_infusion,
    pause_infusion,
    resume_infusion,
    start_infusion,
    stop_infusion,
)
from app.sessions.service.monitor import swap_monitor
from app.sessions.service.overdue import publish_overdue_checkpoints
from app.sessions.service.reads import session_ids
from app.sessions.service.records import record_drug, record_scale_entry, record_vitals_check
from app.sessions.service.scheduling import cancel_session, list_sessions, schedule_session
from app.sessions.service.views import board_rows, get_session, read_loaded

__all__ = [
    "active_sessions",
    "add_pre_vitals",
    "board_rows",
    "cancel_session",
    "change_rate",
    "check_in",
    "complete_infusion",
    "discharge_session",
    "get_session",
    "list_sessions",
    "pause_infusion",
    "physician_ack",
    "publish_overdue_checkpoints",
    "read_loaded",
    "record_drug",
    "record_scale_entry",
    "record_vitals_check",
    "resume_infusion",
    "schedule_session",
    "session_ids",
    "start_infusion",
    "stop_infusion",
    "swap_monitor",
]
