"""Device profiles (format, code and unit maps, time zone, HL7 sender) and their checks."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.audit.domain import Actor
from app.core.errors import Conflict, NotFound, Unprocessable
from app.devices import service as devices_service
from app.devices.models import Device
from app.interop.domain import codes, oru
from app.interop.domain.defaults import DEFAULT_SENTINELS
from app.interop.models import DeviceProfile, UnmappedCode
from app.interop.repository import InteropRepository
from app.interop.schemas import DeviceProfileUpdate
from app.patients import service as patients_service
from app.sessions.service.common import load as load_session
from app.sessions.service.windows import monitoring_windows
from app.vitals.domain import route


def tables_of(profile: DeviceProfile | None) -> codes.Tables:
    """The defaults overlaid with the profile's maps and sentinels."""
    if profile is None:
        return codes.tables(None, None, DEFAULT_SENTINELS)
    sentinels = DEFAULT_SENTINELS if profile.sentinels is None else frozenset(profile.sentinels)
    return codes.tables(profile.code_map, profile.unit_map, sentinels)


async def get_profile(
    db: AsyncSession, *, clinic_id: uuid.UUID, device_id: uuid.UUID
) -> DeviceProfile:
    await devices_service.get_device(db, clinic_id, device_id)
    profile = await InteropRepository(db).profile_for_device(device_id)
    if profile is None:
        raise NotFound("this device has no profile yet; PUT one")
    return profile


async def put_profile(
    db: AsyncSession,
    *,
    clinic_id: uuid.UUID,
    device_id: uuid.UUID,
    data: DeviceProfileUpdate,
    actor: Actor,
    now: datetime,
) -> DeviceProfile:
    """Create or replace a device's profile; audited with before/after (DEVICE_PROFILE_SET)."""
    device = await devices_service.get_device(db, clinic_id, device_id)
    for entry in data.allowed_addresses:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError as exc:
            raise Unprocessable(
                f"allowed_addresses: {entry!r} is not an IP address or network"
            ) from exc
    repo = InteropRepository(db)
    if data.sending_application is not None:
        other = await repo.profile_for_sender(data.sending_application, data.sending_facility or "")
        if other is not None and other.device_id != device.id:
            raise Conflict("another device is registered with this MSH-3/MSH-4")
    profile = await repo.profile_for_device(device.id)
    values = data.model_dump()
    values["sending_facility"] = (
        None if data.sending_application is None else (data.sending_facility or "")
    )
    before = None
    if profile is None:
        profile = DeviceProfile(
            id=uuid.uuid4(), device_id=device.id, clinic_id=clinic_id, updated_at=now, **values
        )
        await repo.add(profile)
    else:
        before = {k: getattr(profile, k) for k in values}
        for key, value in values.items():
            setattr(profile, key, value)
        profile.updated_at = now
        await db.flush()
    await audit_service.record(
        db,
        actor=actor,
        action="DEVICE_PROFILE_SET",
        entity_type="device",
        entity_id=device.id,
        clinic_id=clinic_id,
        now=now,
        before=before,
        after=values,
    )
    return profile


async def unmapped_codes(db: AsyncSession, device_id: uuid.UUID) -> Sequence[UnmappedCode]:
    """Codes this device sent that no map knows, most frequent first (device status)."""
    return await InteropRepository(db).unmapped(device_id)


async def patient_mismatch(db: AsyncSession, device: Device, content: oru.OruContent) -> str | None:
    """When PID-3 is present, the session each reading routes to must be that patient's
    (issue 10 point 1): a mismatch is refused, never stored under the wrong patient."""
    times = [r.observed_at for r in content.readings]
    if not content.patient_ids or device.chair_id is None or not times:
        return None
    chair_id = device.chair_id
    on_chairs = await monitoring_windows(db, chair_ids=[chair_id], start=min(times), end=max(times))
    windows = on_chairs.get(chair_id, [])
    sessions = {route(windows, t) for t in times} - {None}
    for session_id in sessions:
        assert session_id is not None
        loaded = await load_session(
            db, clinic_id=device.clinic_id, session_id=uuid.UUID(session_id)
        )
        mrn = await patients_service.mrn_of(
            db, clinic_id=device.clinic_id, patient_id=loaded.row.patient_id
        )
        if mrn not in content.patient_ids:
            return "PID-3 does not match the patient of the session on this monitor's chair"
    return None
