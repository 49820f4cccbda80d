"""Monitor and gateway registration, API keys (hashed at rest), rotation and revocation."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.audit.domain import Actor
from app.clinics import service as clinics_service
from app.core import security
from app.core.errors import Conflict, NotFound
from app.core.throttle import report_failed_credential
from app.devices.models import Device, DeviceKey
from app.devices.repository import DeviceRepository
from app.devices.repository import IngestCounts as IngestCounts
from app.devices.schemas import DeviceCreate, DeviceStatus, DeviceUpdate, UnmappedCodeCount

KEY_PREFIX = "kmd_"
# last_seen_at is written at most this often, not on every request of a 1 Hz monitor.
_SEEN_RESOLUTION = timedelta(seconds=5)


def looks_like_device_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    device: Device
    api_key: str
    key_prefix: str
    previous_keys_expire_at: datetime | None = None


async def _new_key(repo: DeviceRepository, device: Device, now: datetime) -> tuple[str, str]:
    api_key = KEY_PREFIX + security.new_token(32)
    prefix = api_key[:12]
    await repo.add(
        DeviceKey(
            id=uuid.uuid4(),
            device_id=device.id,
            key_hash=security.sha256_hex(api_key),
            key_prefix=prefix,
            created_at=now,
            expires_at=None,
            revoked_at=None,
        )
    )
    return api_key, prefix


async def get_device(db: AsyncSession, clinic_id: uuid.UUID, device_id: uuid.UUID) -> Device:
    device = await DeviceRepository(db).device(clinic_id, device_id)
    if device is None:
        raise NotFound("device not found")
    return device


async def devices_by_id(
    db: AsyncSession, device_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Device]:
    return {d.id: d for d in await DeviceRepository(db).by_ids(device_ids)}


async def create_device(
    db: AsyncSession, *, clinic_id: uuid.UUID, data: DeviceCreate, actor: Actor, now: datetime
) -> IssuedKey:
    """Register a device and issue its first API key (returned once); audited (DEVICE_CREATED)."""
    repo = DeviceRepository(db)
    if await repo.device_by_name(clinic_id, data.name) is not None:
        raise Conflict(f"a device named {data.name!r} already exists in this clinic")
    if data.chair_id is not None:
        await clinics_service.get_chair(db, clinic_id, data.chair_id)
    device = Device(
        id=uuid.uuid4(),
        clinic_id=clinic_id,
        name=data.name,
        chair_id=data.chair_id,
        created_at=now,
        revoked_at=None,
        last_seen_at=None,
        last_reading_at=None,
        accepted_count=0,
        rejected_count=0,
        unrouted_count=0,
    )
    await repo.add(device)
    api_key, prefix = await _new_key(repo, device, now)
    await audit_service.record(
        db,
        actor=actor,
        action="DEVICE_CREATED",
        entity_type="device",
        entity_id=device.id,
        clinic_id=clinic_id,
        now=now,
        after={"name": device.name, "chair_id": device.chair_id, "key_prefix": prefix},
    )
    return IssuedKey(device=device, api_key=api_key, key_prefix=prefix)


async def update_device(
    db: AsyncSession,
    *,
    clinic_id: uuid.UUID,
    device_id: uuid.UUID,
    data: DeviceUpdate,
    actor: Actor,
    now: datetime,
) -> Device:
    """Rename a device or (re)bind it to a chair; audited with before/after (DEVICE_UPDATED)."""
    repo = DeviceRepository(db)
    device = await get_device(db, clinic_id, device_id)
    before = {"name": device.name, "chair_id": device.chair_id}
    if data.name is not None and data.name != device.name:
        if await repo.device_by_name(clinic_id, data.name) is not None:
            raise Conflict(f"a device named {data.name!r} already exists in this clinic")
        device.name = data.name
    if data.unbind_chair:
        device.chair_id = None
    elif data.chair_id is not None:
        device.chair_id = (await clinics_service.get_chair(db, clinic_id, data.chair_id)).id
    await db.flush()
    await audit_service.record(
        db,
        actor=actor,
        action="DEVICE_UPDATED",
        entity_type="device",
        entity_id=device.id,
        clinic_id=clinic_id,
        now=now,
        before=before,
        after={"name": device.name, "chair_id": device.chair_id},
    )
    return device


class _KeyDates(Protocol):
    @property
    def revoked_at(self) -> datetime | None: ...
    @property
    def expires_at(self) -> datetime | None: ...


def _key_usable(key: _KeyDates, now: datetime) -> bool:
    return key.revoked_at is None and (key.expires_at is None or key.expires_at > now)


async def rotate_key(
    db: AsyncSession,
    *,
    clinic_id: uuid.UUID,
    device_id: uuid.UUID,
    overlap: timedelta,
    actor: Actor,
    now: datetime,
) -> IssuedKey:
    """Issue a new key; the old ones keep working for ``overlap`` so the device can be updated."""
    repo = DeviceRepository(db)
    device = await get_device(db, clinic_id, device_id)
    if device.revoked_at is not None:
        raise Conflict("device is revoked; register a new device")
    expire_at = now + overlap
    for key in await repo.keys(device.id):
        if _key_usable(key, now) and (key.expires_at is None or key.expires_at > expire_at):
            key.expires_at = expire_at
    api_key, prefix = await _new_key(repo, device, now)
    await audit_service.record(
        db,
        actor=actor,
        action="DEVICE_KEY_ROTATED",
        entity_type="device",
        entity_id=device.id,
        clinic_id=clinic_id,
        now=now,
        after={"key_prefix": prefix, "previous_keys_expire_at": expire_at},
    )
    return IssuedKey(
        device=device, api_key=api_key, key_prefix=prefix, previous_keys_expire_at=expire_at
    )


async def revoke_device(
    db: AsyncSession,
    *,
    clinic_id: uuid.UUID,
    device_id: uuid.UUID,
    reason: str,
    actor: Actor,
    now: datetime,
) -> Device:
    """Revoke a device and all its keys at once; audited with the reason (DEVICE_REVOKED)."""
    repo = DeviceRepository(db)
    device = await get_device(db, clinic_id, device_id)
    if device.revoked_at is None:
        device.revoked_at = now
        for key in await repo.keys(device.id):
            if key.revoked_at is None:
                key.revoked_at = now
        await db.flush()
        await audit_service.record(
            db,
            actor=actor,
            action="DEVICE_REVOKED",
            entity_type="device",
            entity_id=device.id,
            clinic_id=clinic_id,
            now=now,
            after={"reason": reason},
        )
    return device


async def authenticate(db: AsyncSession, api_key: str, *, now: datetime) -> Device | None:
    """The device holding this key, or None when the key is unknown, expired or revoked (a
    failure counted against the caller's address by the device-key throttle)."""
    found = await DeviceRepository(db).key_with_device(security.sha256_hex(api_key))
    if found is None or found[1].revoked_at is not None or not _key_usable(found[0], now):
        report_failed_credential(api_key)
        return None
    device = found[1]
    if device.last_seen_at is None or now - device.last_seen_at >= _SEEN_RESOLUTION:
        device.last_seen_at = now
    return device


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """The device a valid key belongs to, as ingest needs it."""

    id: uuid.UUID
    clinic_id: uuid.UUID
    chair_id: uuid.UUID | None


async def authenticate_many(
    db: AsyncSession, api_keys: Sequence[str], *, now: datetime
) -> dict[str, DeviceRef | None]:
    """`authenticate` for the keys of a group commit, with one query and no ORM objects; the
    group's device counters update (`record_ingest`) marks the devices seen."""
    hashes = {key: security.sha256_hex(key) for key in api_keys}
    grants = await DeviceRepository(db).key_grants(list(hashes.values()))
    out: dict[str, DeviceRef | None] = {}
    for api_key, key_hash in hashes.items():
        grant = grants.get(key_hash)
        usable = grant is not None and grant.device_revoked_at is None and _key_usable(grant, now)
        out[api_key] = (
            DeviceRef(grant.device_id, grant.clinic_id, grant.chair_id)
            if usable and grant is not None
            else None
        )
    return out


async def list_devices(db: AsyncSession, clinic_id: uuid.UUID) -> Sequence[Device]:
    return await DeviceRepository(db).devices(clinic_id)


async def device_status(
    db: AsyncSession, *, clinic_id: uuid.UUID, device_id: uuid.UUID, now: datetime
) -> DeviceStatus:
    # Imported here: interop builds on this module (device lookup), not the other way round.
    from app.interop import profiles as interop_profiles

    device = await get_device(db, clinic_id, device_id)
    keys = await DeviceRepository(db).keys(device.id)
    unmapped = await interop_profiles.unmapped_codes(db, device.id)
    return DeviceStatus(
        id=device.id,
        name=device.name,
        chair_id=device.chair_id,
        revoked=device.revoked_at is not None,
        last_seen_at=device.last_seen_at,
        last_reading_at=device.last_reading_at,
        accepted_count=device.accepted_count,
        rejected_count=device.rejected_count,
        unrouted_count=device.unrouted_count,
        active_keys=sum(1 for k in keys if _key_usable(k, now)),
        unmapped_count=sum(u.count for u in unmapped),
        unmapped_codes=[UnmappedCodeCount(code=u.code, count=u.count) for u in unmapped],
    )


async def devices_on_chair(
    db: AsyncSession, *, clinic_id: uuid.UUID, chair_id: uuid.UUID
) -> list[Device]:
    """The clinic's unrevoked devices bound to a chair (the session's check-in confirms one)."""
    return [
        d
        for d in await DeviceRepository(db).devices(clinic_id)
        if d.chair_id == chair_id and d.revoked_at is None
    ]


async def record_ingest(db: AsyncSession, counts: Sequence[IngestCounts], *, now: datetime) -> None:
    """Count each device's readings of an ingest transaction (increments in SQL: concurrent
    transactions of one device must not lose counts) and keep its clock-skew estimate and
    flag; at most one entry per device."""
    await DeviceRepository(db).record_ingest_many(counts, now=now)


async def record_ingest_socket(
    db: AsyncSession, *, device_id: uuid.UUID, connected: bool, now: datetime
) -> None:
    """Note the device's ingest WebSocket opening (seen now) or closing: a closed connection
    with nothing seen since is the "device offline" technical alarm (issue 7 point 8)."""
    await DeviceRepository(db).record_ingest_socket(device_id, connected=connected, now=now)
