"""Receive one HL7 v2 ORU^R01 (MLLP or HTTP): check the sender, map its OBX rows, ingest them
through the vitals path (same validation, idempotency, routing and alarms), log the message and
build the ACK. The caller commits, then sends the ACK (AA only after the commit)."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.devices import service as devices_service
from app.devices.models import Device
from app.interop import profiles
from app.interop.domain import er7, oru
from app.interop.domain.ack import AckCode, AckError, Severity, build_ack
from app.interop.domain.senders import address_allowed
from app.interop.models import DeviceProfile, Hl7Message
from app.interop.repository import InteropRepository
from app.vitals import service as vitals_service

Transport = Literal["mllp", "http"]


@dataclass(frozen=True, slots=True)
class Hl7Reply:
    ack: str
    code: AckCode
    repeated: bool = False
    created: int = 0


def _control_id() -> str:
    return uuid.uuid4().hex[:20]


def _refuse(
    head: oru.Header | None, code: AckCode, hl7_code: str, app_code: str, text: str, now: datetime
) -> Hl7Reply:
    errors = [AckError(hl7_code, Severity.ERROR, app_code, text)]
    ack = build_ack(head, code, control_id=_control_id(), now=now, text=text, errors=errors)
    return Hl7Reply(ack, code)


def not_hl7(reason: str, now: datetime) -> Hl7Reply:
    """AR for a frame that is not an HL7 message at all (garbage, too large)."""
    return _refuse(None, AckCode.AR, "207", "not_hl7", reason, now)


async def _sender(
    db: AsyncSession,
    head: oru.Header,
    *,
    device: Device | None,
    peer: str | None,
    transport: Transport,
) -> tuple[Device, DeviceProfile | None] | str:
    repo = InteropRepository(db)
    if device is not None:  # HTTP: the device key names the device
        profile = await repo.profile_for_device(device.id)
        if profile is not None and profile.sending_application is not None:
            expected = (profile.sending_application, profile.sending_facility or "")
            if (head.sending_application, head.sending_facility) != expected:
                return f"MSH-3/4 {head.sender} is not the one registered for this device"
        return device, profile
    profile = await repo.profile_for_sender(head.sending_application, head.sending_facility)
    if profile is None:
        return f"unknown sender {head.sender} (MSH-3/MSH-4): register it in a device profile"
    found = await devices_service.get_device(db, profile.clinic_id, profile.device_id)
    if found.revoked_at is not None:
        return f"sender {head.sender} belongs to a revoked device"
    if transport == "mllp" and not address_allowed(peer, profile.allowed_addresses):
        return f"address {peer} is not registered for sender {head.sender}"
    return found, profile


def _row_errors(content: oru.OruContent) -> list[AckError]:
    errors: list[AckError] = []
    for row in content.rows:
        if row.kind is oru.RowKind.UNMAPPED:
            errors.append(
                AckError(
                    "103",
                    Severity.WARNING,
                    "unmapped_code",
                    f"OBX-3 {row.code.label()} is not mapped; kept raw (add it to the profile)",
                    "OBX",
                    row.segment,
                    3,
                )
            )
        elif row.kind is oru.RowKind.REJECTED:
            errors.append(
                AckError(
                    "102",
                    Severity.WARNING,
                    row.reject_code or "rejected",
                    row.message or "rejected",
                    "OBX",
                    row.segment,
                    5,
                )
            )
    return errors


async def receive(
    db: AsyncSession,
    *,
    text: str,
    transport: Transport,
    peer: str | None,
    now: datetime,
    device: Device | None = None,
) -> Hl7Reply:
    """Answer one HL7 message; a repeated MSH-10 from the same device gets the stored ACK and
    stores nothing. Side effects: readings and their events (vitals ingest), the message log,
    per-device unmapped-code counts. AR and unparseable messages store nothing."""
    try:
        message = er7.parse(text)
    except er7.Er7Error as exc:
        return not_hl7(str(exc), now)
    head = oru.header(message)
    refusal = oru.check_header(head)
    if refusal is not None and refusal[0] is not oru.Refusal.MISSING_CONTROL_ID:
        hl7_code = "200" if refusal[0] is oru.Refusal.UNSUPPORTED_TYPE else "203"
        return _refuse(head, AckCode.AR, hl7_code, refusal[0].value, refusal[1], now)
    sender = await _sender(db, head, device=device, peer=peer, transport=transport)
    if isinstance(sender, str):
        return _refuse(head, AckCode.AR, "204", "unknown_sender", sender, now)
    device, profile = sender
    if refusal is not None:
        return _refuse(head, AckCode.AE, "101", refusal[0].value, refusal[1], now)
    repo = InteropRepository(db)
    logged = await repo.message(device.id, head.control_id)
    if logged is not None:
        return Hl7Reply(logged.ack, AckCode(logged.ack_code), repeated=True)

    content = oru.observations(
        message,
        control_id=head.control_id,
        tables=profiles.tables_of(profile),
        assume_tz=ZoneInfo(profile.time_zone) if profile and profile.time_zone else None,
    )
    errors = _row_errors(content)
    created = 0
    usable = 0
    mismatch = await profiles.patient_mismatch(db, device, content)
    if mismatch is not None:
        errors.append(AckError("204", Severity.ERROR, "patient_mismatch", mismatch, "PID", None, 3))
    elif content.readings:
        outcome = await vitals_service.ingest(
            db, device=device, raws=content.readings, sent_at=None, received_at=now, source="hl7"
        )
        by_id = {r.reading.source_id: r for r in content.rows if r.reading is not None}
        for result in outcome.results:
            if result.status in ("created", "duplicate"):
                usable += 1
                created += result.status == "created"
                continue
            row = by_id[result.source_id]
            errors.append(
                AckError(
                    "102",
                    Severity.WARNING,
                    result.code or result.status,
                    result.message or result.status,
                    "OBX",
                    row.segment,
                    5,
                )
            )
    local_rejects = len(content.of_kind(oru.RowKind.REJECTED))
    if local_rejects:
        await devices_service.record_ingest(
            db,
            [devices_service.IngestCounts(device.id, 0, local_rejects, 0, None, None, False)],
            now=now,
        )
    code = AckCode.AA if usable else AckCode.AE
    summary = (
        f"{created} reading(s) stored"
        if usable
        else (mismatch or "nothing usable in the message: no mapped OBX row with a valid value")
    )
    ack = build_ack(head, code, control_id=_control_id(), now=now, text=summary, errors=errors)
    unmapped = content.of_kind(oru.RowKind.UNMAPPED)
    if unmapped:
        await repo.count_unmapped(device.id, Counter(r.code.label() for r in unmapped), now)
    await repo.add(
        Hl7Message(
            id=uuid.uuid4(),
            device_id=device.id,
            clinic_id=device.clinic_id,
            control_id=head.control_id,
            sender=head.sender[:500],
            peer=peer,
            transport=transport,
            ack_code=code.value,
            ack=ack,
            readings_created=created,
            unmapped_rows=[{"segment": r.segment, "obx": r.raw} for r in unmapped],
            received_at=now,
        )
    )
    return Hl7Reply(ack, code, created=created)
