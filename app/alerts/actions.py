"""What staff do to an alarm: acknowledge and silence (issue 7 point 6). Services never commit."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.domain import Clear, UnknownAlarm, acknowledge
from app.alerts.domain.codec import episode_from_name, state_to_json
from app.alerts.engine import lock_state
from app.alerts.models import Alarm
from app.alerts.records import alarm_event, clear, history_entry
from app.alerts.repository import ACTIVE, AlarmRepository
from app.audit import service as audit_service
from app.auth.domain import Principal
from app.core.errors import Conflict, NotFound
from app.realtime import service as realtime_service
from app.realtime.service import NewEvent
from app.sessions.service.common import Loaded, load


async def _active(
    db: AsyncSession, principal: Principal, alarm_id: uuid.UUID
) -> tuple[Alarm, Loaded]:
    alarm = await AlarmRepository(db).get_in_clinic(principal.clinic_id, alarm_id)
    if alarm is None:
        raise NotFound("alarm not found")
    loaded = await load(db, clinic_id=principal.clinic_id, session_id=alarm.session_id)
    if alarm.state != ACTIVE:
        raise Conflict(f"alarm {alarm.id} is already cleared; nothing to do")
    return alarm, loaded


async def _audit(
    db: AsyncSession,
    principal: Principal,
    alarm: Alarm,
    action: str,
    now: datetime,
    **after: object,
) -> None:
    await audit_service.record(
        db,
        actor=principal.actor,
        action=action,
        entity_type="alarm",
        entity_id=alarm.id,
        clinic_id=alarm.clinic_id,
        now=now,
        after={"session_id": str(alarm.session_id), "priority": alarm.priority, **after},
    )


async def acknowledge_alarm(
    db: AsyncSession, *, principal: Principal, alarm_id: uuid.UUID, note: str | None, now: datetime
) -> Alarm:
    """Record who acknowledged, when and why (nurse or physician).

    Rule (DESIGN §7, IEC 60601-1-8): a latching alarm whose condition already ended clears on
    acknowledgement; any other alarm stays active until its condition clears, and sounds again
    after the re-annunciation time if the condition persists. Acknowledging an alarm that is
    already acknowledged at its current priority changes nothing; a cleared alarm is 409.
    """
    alarm, loaded = await _active(db, principal, alarm_id)
    if alarm.acknowledged_at is not None:
        return alarm
    clears = False
    if alarm.kind == "physiological":
        engine_row, state = await lock_state(db, loaded, now)
        try:
            decision = acknowledge(state, episode_from_name(alarm.episode), now)
        except UnknownAlarm:
            decision = None  # the engine no longer tracks it (e.g. phase ended): record only
        if decision is not None:
            engine_row.state = state_to_json(decision.state)
            engine_row.updated_at = now
            clears = any(isinstance(a, Clear) for a in decision.actions)
    alarm.acknowledged_at = now
    alarm.acknowledged_by = principal.user_id
    alarm.acknowledged_by_name = principal.name
    alarm.acknowledge_note = note
    entry = history_entry("acknowledged", now, by=principal.name, note=note)
    alarm.history = [*alarm.history, entry]
    events: list[NewEvent] = [alarm_event("alarm_acknowledged", alarm, now)]
    if clears:
        reason = "acknowledged after its condition ended"
        clear(alarm, now, reason)
        events.append(alarm_event("alarm_cleared", alarm, now))
    # Audit before events: the audit chain lock is always taken before stream locks.
    await _audit(db, principal, alarm, "ALARM_ACKNOWLEDGED", now, note=note, cleared=clears)
    await realtime_service.append(db, clinic_id=alarm.clinic_id, events=events, now=now)
    return alarm


async def silence_alarm(
    db: AsyncSession,
    *,
    principal: Principal,
    alarm_id: uuid.UUID,
    reason: str | None,
    now: datetime,
) -> Alarm:
    """Pause the sound of one alarm on every board of the clinic for the protocol's silence time
    (2 min by default); a priority rise cancels it (DESIGN §7). The alarm stays active and
    visible, and escalation is not stopped: only acknowledgement does that."""
    alarm, loaded = await _active(db, principal, alarm_id)
    until = now + timedelta(seconds=loaded.protocol.alarms.escalation.silence_s)
    alarm.silenced_until = until
    alarm.silenced_by_name = principal.name
    alarm.silence_reason = reason
    entry = history_entry(
        "silenced", now, by=principal.name, reason=reason, until=until.isoformat()
    )
    alarm.history = [*alarm.history, entry]
    await _audit(
        db, principal, alarm, "ALARM_SILENCED", now, reason=reason, until=until.isoformat()
    )
    await realtime_service.append(
        db, clinic_id=alarm.clinic_id, events=[alarm_event("alarm_silenced", alarm, now)], now=now
    )
    return alarm
