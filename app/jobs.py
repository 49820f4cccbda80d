"""The scheduler's jobs (`app.core.scheduler`): each domain's timed work, registered here so
that `core` knows no domain. Jobs that need configuration (webhook URLs, ...) are built from
the settings."""

from __future__ import annotations

from app.alerts import jobs as alerts_jobs
from app.core.config import Settings
from app.core.scheduler import Job
from app.notifications import service as notifications_service
from app.sessions import service as sessions_service
from app.sessions.service.progress import publish_dose_progress


def jobs(settings: Settings) -> tuple[Job, ...]:
    """Every periodic job of the app, in the order one scheduler run executes them. Technical
    alarms, alarm timers and webhooks run every tick (5 s by default); checkpoints, minutes
    apart, are announced within three ticks, and dose progress is shown every 10 s anyway."""
    return (
        Job("publish_overdue_checkpoints", sessions_service.publish_overdue_checkpoints, every=3),
        Job("publish_dose_progress", publish_dose_progress, every=2),
        Job("technical_alarms", alerts_jobs.run_technical_alarms),
        Job("alarm_timers", alerts_jobs.alarm_timers_job(settings)),
        Job("deliver_notifications", notifications_service.delivery_job(settings)),
    )
