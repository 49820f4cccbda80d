"""The scheduler's jobs (`app.core.scheduler`): each domain's timed work, registered here so
that `core` knows no domain. Jobs that need configuration (webhook URLs, ...) are built from
the settings."""

from __future__ import annotations

from app.core.config import Settings
from app.core.scheduler import Job
from app.sessions import service as sessions_service


def jobs(settings: Settings) -> tuple[Job, ...]:
    """Every periodic job of the app, in the order one scheduler run executes them."""
    del settings  # no job needs configuration yet
    return (Job("publish_overdue_checkpoints", sessions_service.publish_overdue_checkpoints),)
