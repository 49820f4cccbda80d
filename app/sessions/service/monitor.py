"""Monitor swap during a session: another monitor of the clinic takes over the chair's feed."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.auth.domain import Principal
from app.core.errors import Conflict
from app.devices import service as devices_service
from app.devices.schemas import DeviceUpdate
from app.sessions.domain import ACTIVE_STATES
from app.sessions.repository import SessionRepository
from app.sessions.service.common import Loaded, load


async def swap_monitor(
    db: AsyncSession,
    *,
    principal: Principal,
    session_id: uuid.UUID,
    device_id: uuid.UUID,
    reason: str,
    now: datetime,
) -> Loaded:
    """Record another monitor on an active session (checked in until recovery ends).

    The device must be an unrevoked device of the clinic (404 otherwise, 409 when revoked). One
    bound to the session's chair is taken as is; an unbound one, or one bound to a chair whose
    active session does not use it, is bound to this chair (DEVICE_UPDATED by the devices
    service). 409 when the session is not active, the device is already its monitor, or another
    active session uses it. Audited as SESSION_MONITOR_SWAPPED with both device ids and the
    reason.
    """
    loaded = await load(db, clinic_id=principal.clinic_id, session_id=session_id, for_update=True)
    row = loaded.row
    if loaded.state not in ACTIVE_STATES:
        raise Conflict(
            f"the monitor is swapped while the session is active (checked in until discharge), "
            f"not when {loaded.state}"
        )
    if row.device_id == device_id:
        raise Conflict(f"device {device_id} is already the monitor of this session")
    device = await devices_service.get_device(db, principal.clinic_id, device_id)
    if device.revoked_at is not None:
        raise Conflict(f"device {device_id} is revoked; choose a monitor in service")
    repo = SessionRepository(db)
    user = await repo.active_with_device(device_id, excluding=row.id)
    if user is not None:
        raise Conflict(
            f"device {device_id} is the monitor of session {user.id} ({user.state}) on another "
            "chair; swap that session's monitor first"
        )
    bound_from = device.chair_id
    if device.chair_id != row.chair_id:
        await devices_service.update_device(
            db,
            clinic_id=principal.clinic_id,
            device_id=device_id,
            data=DeviceUpdate(chair_id=row.chair_id),
            actor=principal.actor,
            now=now,
        )
    before = row.device_id
    row.device_id = device_id
    await repo.flush()
    await audit_service.record(
        db,
        actor=principal.actor,
        action="SESSION_MONITOR_SWAPPED",
        entity_type="infusion_session",
        entity_id=row.id,
        clinic_id=row.clinic_id,
        now=now,
        before={"device_id": before},
        after={
            "device_id": device_id,
            "reason": reason,
            "state": str(loaded.state),
            "bound_to_chair": bound_from != row.chair_id,
        },
    )
    return loaded
