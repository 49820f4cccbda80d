from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, status

from app.auth.dependencies import Admin, AdminOrNurse, DeviceCaller
from app.core.db import SessionDep
from app.core.deps import ClockDep, SettingsDep
from app.core.errors import Conflict, Forbidden, NotFound, Unauthorized, responses
from app.devices import service as devices_service
from app.devices.schemas import (
    DeviceCreate,
    DeviceKeyIssued,
    DeviceList,
    DeviceRead,
    DeviceRevoke,
    DeviceRotate,
    DeviceStatus,
    DeviceUpdate,
    DeviceWhoAmI,
)

router = APIRouter(tags=["devices"])


def _issued(issued: devices_service.IssuedKey) -> DeviceKeyIssued:
    return DeviceKeyIssued(
        device=DeviceRead.model_validate(issued.device),
        api_key=issued.api_key,
        key_prefix=issued.key_prefix,
        previous_keys_expire_at=issued.previous_keys_expire_at,
    )


@router.get(
    "/devices/me", response_model=DeviceWhoAmI, responses=responses(Unauthorized, Forbidden)
)
async def device_whoami(principal: DeviceCaller, db: SessionDep) -> DeviceWhoAmI:
    """For integrators: check a device key and see which clinic and chair it is bound to."""
    assert principal.device_id is not None
    device = await devices_service.get_device(db, principal.clinic_id, principal.device_id)
    return DeviceWhoAmI(
        id=device.id, name=device.name, clinic_id=device.clinic_id, chair_id=device.chair_id
    )


@router.get("/devices", response_model=DeviceList, responses=responses(Unauthorized, Forbidden))
async def list_devices(principal: AdminOrNurse, db: SessionDep) -> DeviceList:
    """Monitors and gateways of the caller's clinic."""
    devices = await devices_service.list_devices(db, principal.clinic_id)
    return DeviceList(items=[DeviceRead.model_validate(d) for d in devices])


@router.post(
    "/devices",
    response_model=DeviceKeyIssued,
    status_code=status.HTTP_201_CREATED,
    responses=responses(Unauthorized, Forbidden, NotFound, Conflict),
)
async def create_device(
    body: DeviceCreate, principal: Admin, db: SessionDep, clock: ClockDep
) -> DeviceKeyIssued:
    """Register a monitor or gateway; the API key is in this response only (stored as a hash)."""
    issued = await devices_service.create_device(
        db, clinic_id=principal.clinic_id, data=body, actor=principal.actor, now=clock.now()
    )
    return _issued(issued)


@router.patch(
    "/devices/{device_id}",
    response_model=DeviceRead,
    responses=responses(Unauthorized, Forbidden, NotFound, Conflict),
)
async def update_device(
    device_id: uuid.UUID, body: DeviceUpdate, principal: Admin, db: SessionDep, clock: ClockDep
) -> DeviceRead:
    """Rename a device or bind it to a chair."""
    device = await devices_service.update_device(
        db,
        clinic_id=principal.clinic_id,
        device_id=device_id,
        data=body,
        actor=principal.actor,
        now=clock.now(),
    )
    return DeviceRead.model_validate(device)


@router.post(
    "/devices/{device_id}/rotate",
    response_model=DeviceKeyIssued,
    responses=responses(Unauthorized, Forbidden, NotFound, Conflict),
)
async def rotate_device_key(
    device_id: uuid.UUID,
    body: DeviceRotate,
    principal: Admin,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> DeviceKeyIssued:
    """Issue a new key; the previous keys keep working for the overlap period, then stop."""
    minutes = (
        settings.device_key_overlap_minutes
        if body.overlap_minutes is None
        else body.overlap_minutes
    )
    issued = await devices_service.rotate_key(
        db,
        clinic_id=principal.clinic_id,
        device_id=device_id,
        overlap=timedelta(minutes=minutes),
        actor=principal.actor,
        now=clock.now(),
    )
    return _issued(issued)


@router.post(
    "/devices/{device_id}/revoke",
    response_model=DeviceRead,
    responses=responses(Unauthorized, Forbidden, NotFound),
)
async def revoke_device(
    device_id: uuid.UUID, body: DeviceRevoke, principal: Admin, db: SessionDep, clock: ClockDep
) -> DeviceRead:
    """Revoke a device and every key it has, at once."""
    device = await devices_service.revoke_device(
        db,
        clinic_id=principal.clinic_id,
        device_id=device_id,
        reason=body.reason,
        actor=principal.actor,
        now=clock.now(),
    )
    return DeviceRead.model_validate(device)


@router.get(
    "/devices/{device_id}/status",
    response_model=DeviceStatus,
    responses=responses(Unauthorized, Forbidden, NotFound),
)
async def get_device_status(
    device_id: uuid.UUID, principal: AdminOrNurse, db: SessionDep, clock: ClockDep
) -> DeviceStatus:
    """Last seen, last reading and counts of accepted, rejected and unrouted readings."""
    return await devices_service.device_status(
        db, clinic_id=principal.clinic_id, device_id=device_id, now=clock.now()
    )
