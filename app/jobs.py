"""The scheduler's jobs (`app.core.scheduler`): each domain's timed work, registered here so
that `core` knows no domain."""

from __future__ import annotations

from app.core.scheduler import Job
from app.sessions import service as sessions_service

JOBS: tuple[Job, ...] = (
    Job("publish_overdue_checkpoints", sessions_service.publish_overdue_checkpoints),
)
