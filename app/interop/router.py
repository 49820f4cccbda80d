"""HL7 v2 over HTTP and the admin API for device profiles."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from app.auth.dependencies import Admin, AdminOrNurse, DeviceCaller
from app.core.db import SessionDep
from app.core.deps import ClockDep
from app.core.errors import (
    AppError,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unprocessable,
    responses,
)
from app.devices import service as devices_service
from app.interop import hl7_service, profiles
from app.interop.schemas import DeviceProfileRead, DeviceProfileUpdate, UnmappedCodeRead

router = APIRouter(tags=["interop"])

HL7_MEDIA_TYPE = "x-application/hl7-v2+er7"
MAX_HL7_BYTES = 1024 * 1024


class UnsupportedMediaType(AppError):
    status_code = 415


@router.post(
    "/hl7",
    response_class=Response,
    responses={
        200: {"content": {HL7_MEDIA_TYPE: {}}, "description": "the HL7 ACK (AA, AE or AR)"},
        **responses(Unauthorized, Forbidden, PayloadTooLarge, UnsupportedMediaType),
    },
)
async def receive_hl7(
    request: Request, principal: DeviceCaller, db: SessionDep, clock: ClockDep
) -> Response:
    """Send one HL7 v2 ORU^R01 (device key; `Content-Type: x-application/hl7-v2+er7`).

    The body is the ER7 message; the answer is its ACK in the same type, sent after the
    readings are committed: `AA` stored (with an `ERR` row of severity W per rejected or
    unmapped OBX), `AE` nothing usable or malformed (reason in MSA-3/ERR), `AR` not an ORU^R01,
    unsupported version, or MSH-3/4 other than the device's profile. Resending the same MSH-10
    returns the same ACK and stores nothing. Over 1 MB: 413.
    """
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != HL7_MEDIA_TYPE:
        raise UnsupportedMediaType(f"send the message as Content-Type: {HL7_MEDIA_TYPE}")
    body = await request.body()
    if len(body) > MAX_HL7_BYTES:
        raise PayloadTooLarge("an HL7 message may be at most 1 MB")
    assert principal.device_id is not None
    device = await devices_service.get_device(db, principal.clinic_id, principal.device_id)
    reply = await hl7_service.receive(
        db,
        text=decode(body),
        transport="http",
        peer=request.client.host if request.client else None,
        now=clock.now(),
        device=device,
    )
    return Response(reply.ack, media_type=HL7_MEDIA_TYPE)


def decode(body: bytes) -> str:
    """ER7 bytes as text: UTF-8, else Latin-1 (older monitors' default)."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("latin-1")


@router.get(
    "/devices/{device_id}/profile",
    response_model=DeviceProfileRead,
    responses=responses(Unauthorized, Forbidden, NotFound),
)
async def get_device_profile(
    device_id: uuid.UUID, principal: AdminOrNurse, db: SessionDep
) -> DeviceProfileRead:
    """A device's interop profile (format, code and unit maps, time zone, HL7 sender)."""
    profile = await profiles.get_profile(db, clinic_id=principal.clinic_id, device_id=device_id)
    return DeviceProfileRead.model_validate(profile)


@router.put(
    "/devices/{device_id}/profile",
    response_model=DeviceProfileRead,
    responses=responses(Unauthorized, Forbidden, NotFound, Conflict, Unprocessable),
)
async def put_device_profile(
    device_id: uuid.UUID,
    body: DeviceProfileUpdate,
    principal: Admin,
    db: SessionDep,
    clock: ClockDep,
) -> DeviceProfileRead:
    """Create or replace a device's interop profile (admin), so a new monitor model needs no
    code: its codes and units are mapped here. Audited (DEVICE_PROFILE_SET); 409 when another
    device already uses the MSH-3/MSH-4."""
    profile = await profiles.put_profile(
        db,
        clinic_id=principal.clinic_id,
        device_id=device_id,
        data=body,
        actor=principal.actor,
        now=clock.now(),
    )
    return DeviceProfileRead.model_validate(profile)


@router.get(
    "/devices/{device_id}/unmapped-codes",
    response_model=list[UnmappedCodeRead],
    responses=responses(Unauthorized, Forbidden, NotFound),
)
async def list_unmapped_codes(
    device_id: uuid.UUID, principal: AdminOrNurse, db: SessionDep
) -> list[UnmappedCodeRead]:
    """Observation codes this device sent that no map knows, with counts (map them in the
    profile)."""
    await devices_service.get_device(db, principal.clinic_id, device_id)
    rows = await profiles.unmapped_codes(db, device_id)
    return [UnmappedCodeRead.model_validate(r) for r in rows]
