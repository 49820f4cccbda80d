"""The alarm engine's timed work (issue 7 points 7-9), run by the one scheduler in `core`.

Every write is conditional (an UPDATE whose WHERE re-checks the state it acts on) or
unique-keyed (one active alarm per session episode), so any number of app instances can run
these jobs at once without doubling an escalation, a re-annunciation or a technical alarm, and
a restart loses nothing: the state lives in the alarm rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.domain import (
    TechnicalChange,
    TechnicalInputs,
    TechnicalKind,
    escalation_due,
    reannunciation_due,
    reconcile,
    technical_conditions,
)
from app.alerts.engine import monitored_phase
from app.alerts.models import Alarm
from app.alerts.records import alarm_event, cleared_values, new_alarm_values, risen_values
from app.alerts.repository import AlarmRepository
from app.alerts.views import timing_of
from app.clinics import service as clinics_service
from app.core.config import Settings
from app.core.errors import AppError
from app.core.scheduler import JobFn
from app.devices import service as devices_service
from app.devices.models import Device
from app.notifications import service as notifications_service
from app.patients import service as patients_service
from app.protocols.domain import Metric, Phase, Priority
from app.realtime import service as realtime_service
from app.realtime.service import NewEvent
from app.sessions import service as sessions_service
from app.sessions.service.common import Loaded, load_many
from app.vitals import service as vitals_service

log = structlog.get_logger(__name__)

TECHNICAL = "technical"
ESCALATED = "alarm_escalated"


async def _notification(
    db: AsyncSession, loaded: Loaded, alarm: Alarm, base_url: str | None
) -> dict[str, Any]:
    """What a pager or SMS gateway needs, and no more PHI than initials (issue 7 point 7)."""
    row = loaded.row
    clinic = await clinics_service.get_clinic(db, row.clinic_id)
    chair = await clinics_service.get_chair(db, row.clinic_id, row.chair_id)
    initials = await patients_service.initials_of(
        db, clinic_id=row.clinic_id, patient_id=row.patient_id
    )
    return {
        "clinic": {"id": str(clinic.id), "name": clinic.name},
        "chair": {"id": str(chair.id), "name": chair.name},
        "patient_initials": initials,
        "session_id": str(row.id),
        "priority": alarm.priority,
        "alarm": {
            "id": str(alarm.id),
            "kind": alarm.kind,
            "episode": alarm.episode,
            "message": alarm.message,
            "action": alarm.action,
            "raised_at": alarm.raised_at.isoformat(),
            "priority_since": alarm.priority_since.isoformat(),
        },
        "link": f"{(base_url or '').rstrip('/')}/sessions/{row.id}",
    }


async def run_alarm_timers(
    db: AsyncSession, now: datetime, *, webhook_urls: Sequence[str], base_url: str | None
) -> int:
    """Escalate unacknowledged alarms and re-annunciate acknowledged ones whose condition
    persists (DESIGN §7); each escalation queues one signed webhook POST per configured URL.
    Returns how many escalations and re-annunciations it recorded."""
    repo = AlarmRepository(db)
    done = 0
    active = await repo.all_active()
    sessions = await load_many(db, sorted({a.session_id for a in active}))
    for alarm in active:
        loaded = sessions.get(alarm.session_id)
        if not isinstance(loaded, Loaded):
            log.warning(
                "alarm_timers_skipped_session",
                session_id=str(alarm.session_id),
                error="session not found" if loaded is None else str(loaded),
            )
            continue
        settings = loaded.protocol.alarms.escalation
        timing = timing_of(alarm)
        event: NewEvent | None = None
        if escalation_due(timing, settings, now):
            if await repo.update_if(
                alarm.id,
                [
                    Alarm.escalated_at.is_(None),
                    Alarm.acknowledged_at.is_(None),
                    Alarm.priority == alarm.priority,
                ],
                {"escalated_at": now},
            ):
                alarm = await repo.reload(alarm.id)
                event = alarm_event(ESCALATED, alarm, now)
                await notifications_service.enqueue(
                    db,
                    urls=webhook_urls,
                    clinic_id=alarm.clinic_id,
                    subject_id=alarm.id,
                    kind=ESCALATED,
                    dedupe_key=f"{alarm.id}:{alarm.priority}:{alarm.priority_since.isoformat()}",
                    payload=await _notification(db, loaded, alarm, base_url),
                    now=now,
                )
        elif reannunciation_due(timing, settings, now) and await repo.update_if(
            alarm.id,
            [
                Alarm.last_annunciated_at == alarm.last_annunciated_at,
                Alarm.acknowledged_at.is_not(None),
            ],
            {"last_annunciated_at": now},
        ):
            alarm = await repo.reload(alarm.id)
            event = alarm_event("alarm_reannunciated", alarm, now)
        if event is not None:
            await realtime_service.append(db, clinic_id=alarm.clinic_id, events=[event], now=now)
            done += 1
    return done


def alarm_timers_job(settings: Settings) -> JobFn:
    """The scheduler job for escalation and re-annunciation, with the configured webhooks."""

    async def job(db: AsyncSession, now: datetime) -> int:
        return await run_alarm_timers(
            db, now, webhook_urls=settings.notification_webhook_urls, base_url=settings.base_url
        )

    return job


def _entered(loaded: Loaded, phases: frozenset[Phase]) -> datetime:
    """When the session entered the current unbroken run of `phases` (pause/resume stay in)."""
    entered = loaded.history[-1].at
    for change in reversed(loaded.history):
        if change.state not in phases:
            break
        entered = change.at
    return entered


@dataclass(frozen=True, slots=True)
class _Context:
    """What the technical-alarm rules read besides the session, fetched for all sessions at
    once: a fixed number of queries per run, not per session."""

    devices: dict[uuid.UUID, Device]
    received: dict[uuid.UUID, dict[Metric, datetime]]
    boards: dict[uuid.UUID, bool]  # per clinic


async def _context(db: AsyncSession, loaded: Sequence[Loaded], now: datetime) -> _Context:
    clinics = sorted({one.row.clinic_id for one in loaded})
    return _Context(
        devices=await devices_service.devices_by_id(
            db, [one.row.device_id for one in loaded if one.row.device_id is not None]
        ),
        received=await vitals_service.latest_received_many(db, [one.row.id for one in loaded]),
        boards={c: await realtime_service.boards_connected(db, c, now) for c in clinics},
    )


def _inputs(loaded: Loaded, phase: Phase, context: _Context) -> TechnicalInputs:
    row = loaded.row
    checked_in_at = next(
        (h.at for h in loaded.history if h.state == Phase.CHECKED_IN.value), loaded.history[-1].at
    )
    device = None if row.device_id is None else context.devices.get(row.device_id)
    received = context.received.get(row.id, {})
    nibp = next(
        (
            c
            for c in loaded.protocol.checkpoints
            if c.item == "nibp" and c.interval_minutes is not None and phase in c.phases
        ),
        None,
    )
    # The NIBP interval runs from the last BP, or from when the session entered the
    # checkpoint's phases (start of infusion, of recovery): the checkpoint schedule's clock.
    bp_times = [received[m] for m in (Metric.SBP, Metric.DBP) if m in received]
    if nibp is not None:
        bp_times.append(_entered(loaded, nibp.phases))
    return TechnicalInputs(
        monitoring_since=checked_in_at,
        infusing=phase is Phase.INFUSING,
        device_name=None if device is None else device.name,
        last_received=received,
        last_bp_at=max(bp_times, default=None),
        nibp_interval_s=None
        if nibp is None or nibp.interval_minutes is None
        else nibp.interval_minutes * 60,
        device_last_seen_at=None if device is None else device.last_seen_at,
        device_connection_closed_at=None if device is None else device.ingest_socket_closed_at,
        device_clock_skewed=device is not None and device.clock_skewed_since is not None,
        boards_connected=context.boards.get(row.clinic_id, False),
    )


async def _apply_technical(
    repo: AlarmRepository,
    loaded: Loaded,
    phase: Phase,
    active: dict[TechnicalKind, Alarm],
    change: TechnicalChange,
    now: datetime,
) -> Alarm | None:
    row = loaded.row
    name = f"{TECHNICAL}:{change.kind.value}"
    if change.change == "raise":
        return await repo.insert_if_episode_free(
            new_alarm_values(
                clinic_id=row.clinic_id,
                session_id=row.id,
                protocol_version_id=loaded.version.id,
                protocol_sha256=row.protocol_sha256,
                phase=phase.value,
                kind=TECHNICAL,
                episode=name,
                rule_id=change.kind.value,
                priority=change.priority.value,
                message=change.message,
                now=now,
            )
        )
    alarm = active[change.kind]
    if change.change == "rise":
        values = risen_values(alarm, change.priority.value, change.message, now)
        where = [Alarm.priority == alarm.priority]
    else:
        reason = "cause gone"
        values = cleared_values(alarm, now, reason)
        where = []
    if not await repo.update_if(alarm.id, where, values):
        return None
    return await repo.reload(alarm.id)


async def run_technical_alarms(db: AsyncSession, now: datetime) -> int:
    """Raise, raise higher and clear technical alarms of every monitored session (issue 7
    point 8), and clear what is left on sessions no longer monitored. Returns the changes."""
    repo = AlarmRepository(db)
    done = 0
    monitored: set[uuid.UUID] = set()
    # One read of every active alarm per run, not one per session.
    by_session: dict[uuid.UUID, list[Alarm]] = {}
    for existing in await repo.all_active():
        by_session.setdefault(existing.session_id, []).append(existing)
    active = [sid for _, sid in await sessions_service.active_sessions(db)]
    sessions: list[tuple[Loaded, Phase]] = []
    for session_id, found in (await load_many(db, active)).items():
        if isinstance(found, AppError):
            log.warning(
                "technical_alarms_skipped_session", session_id=str(session_id), error=str(found)
            )
            monitored.add(session_id)  # unknown state: leave its alarms as they are
            continue
        phase = monitored_phase(found.row.state)
        if phase is not None:
            monitored.add(session_id)
            sessions.append((found, phase))
    context = await _context(db, [loaded for loaded, _ in sessions], now)
    events: list[tuple[uuid.UUID, NewEvent]] = []
    for loaded, phase in sessions:
        session_id = loaded.row.id
        alarms = loaded.protocol.alarms
        wanted = technical_conditions(
            _inputs(loaded, phase, context),
            alarms.technical,
            heart_rate_sources=alarms.heart_rate_sources,
            now=now,
        )
        active_alarms = {
            TechnicalKind(a.rule_id): a
            for a in by_session.get(session_id, ())
            if a.kind == TECHNICAL
        }
        current = {kind: Priority(a.priority) for kind, a in active_alarms.items()}
        for change in reconcile(current, wanted):
            alarm = await _apply_technical(repo, loaded, phase, active_alarms, change, now)
            if alarm is not None:
                kind = {"raise": "alarm_raised", "rise": "alarm_priority_raised"}
                event = alarm_event(kind.get(change.change, "alarm_cleared"), alarm, now)
                events.append((loaded.row.clinic_id, event))
    await realtime_service.append_many(db, events, now=now)
    done += len(events)
    ended = [a for sid, alarms in by_session.items() if sid not in monitored for a in alarms]
    return done + await _clear_ended(repo, ended, now)


async def _clear_ended(repo: AlarmRepository, ended: list[Alarm], now: datetime) -> int:
    """Alarms left active on a session that is no longer monitored (e.g. cancelled after
    check-in) are cleared: nobody can act on them any more."""
    done = 0
    reason = "session no longer monitored"
    for alarm in ended:
        if await repo.update_if(alarm.id, [], cleared_values(alarm, now, reason)):
            alarm = await repo.reload(alarm.id)
            await realtime_service.append(
                db=repo.session,
                clinic_id=alarm.clinic_id,
                events=[alarm_event("alarm_cleared", alarm, now)],
                now=now,
            )
            done += 1
    return done
