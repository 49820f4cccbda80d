from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from app.auth import service as auth_service
from app.auth.dependencies import Admin, AnyStaff, ApproverRole
from app.core.db import SessionDep
from app.core.deps import ClockDep
from app.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    Unprocessable,
    WrongPassword,
    responses,
)
from app.protocols import service as protocols_service
from app.protocols.domain.diff import KeyChange
from app.protocols.schemas import (
    DosePreview,
    DosePreviewRequest,
    DoseWarningRead,
    KeyChangeRead,
    ProtocolApproval,
    ProtocolApprove,
    ProtocolDiffRead,
    ProtocolList,
    ProtocolUpload,
    ProtocolVersionDetail,
    ProtocolVersionRead,
)

router = APIRouter(tags=["protocols"])


def _changes(changes: tuple[KeyChange, ...]) -> list[KeyChangeRead]:
    return [KeyChangeRead(key=c.key, kind=c.kind, old=c.old, new=c.new) for c in changes]  # type: ignore[arg-type]


@router.get("/protocols", response_model=ProtocolList, responses=responses(Unauthorized, Forbidden))
async def list_protocols(principal: AnyStaff, db: SessionDep) -> ProtocolList:
    """Every protocol version loaded in the clinic, with its status (pending, active, retired)."""
    versions = await protocols_service.list_versions(db, principal.clinic_id)
    return ProtocolList(items=[ProtocolVersionRead.model_validate(v) for v in versions])


@router.post(
    "/protocols",
    response_model=ProtocolVersionRead,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": ProtocolVersionRead, "description": "the same file was already loaded"},
        **responses(Unauthorized, Forbidden, Conflict, Unprocessable),
    },
)
async def upload_protocol(
    body: ProtocolUpload, principal: Admin, db: SessionDep, clock: ClockDep, response: Response
) -> ProtocolVersionRead:
    """Load a protocol file (TOML text); it stays pending until a physician or admin approves it.

    A bad value is refused with 422 naming the file, the key and the reason.
    """
    loaded = await protocols_service.load_version(
        db,
        clinic_id=principal.clinic_id,
        content=body.content.encode(),
        source_name=body.filename,
        actor=principal.actor,
        now=clock.now(),
    )
    if not loaded.created:
        response.status_code = status.HTTP_200_OK
    return ProtocolVersionRead.model_validate(loaded.version)


@router.get(
    "/protocols/{protocol_id}",
    response_model=ProtocolVersionDetail,
    responses=responses(Unauthorized, Forbidden, NotFound),
)
async def get_protocol(
    protocol_id: uuid.UUID, principal: AnyStaff, db: SessionDep
) -> ProtocolVersionDetail:
    """One protocol version with its file content."""
    version = await protocols_service.get_version(db, principal.clinic_id, protocol_id)
    return ProtocolVersionDetail.model_validate(version)


@router.get(
    "/protocols/{protocol_id}/diff/{other_id}",
    response_model=ProtocolDiffRead,
    responses=responses(Unauthorized, Forbidden, NotFound),
)
async def diff_protocols(
    protocol_id: uuid.UUID, other_id: uuid.UUID, principal: AnyStaff, db: SessionDep
) -> ProtocolDiffRead:
    """Key-level differences from ``other_id`` (old) to ``protocol_id`` (new)."""
    new = await protocols_service.get_version(db, principal.clinic_id, protocol_id)
    old = await protocols_service.get_version(db, principal.clinic_id, other_id)
    return ProtocolDiffRead(
        old=ProtocolVersionRead.model_validate(old),
        new=ProtocolVersionRead.model_validate(new),
        changes=_changes(protocols_service.diff(old, new)),
    )


@router.post(
    "/protocols/{protocol_id}/approve",
    response_model=ProtocolApproval,
    responses=responses(Unauthorized, WrongPassword, Forbidden, NotFound, Conflict),
)
async def approve_protocol(
    protocol_id: uuid.UUID,
    body: ProtocolApprove,
    principal: ApproverRole,
    db: SessionDep,
    clock: ClockDep,
) -> ProtocolApproval:
    """Approve a pending version (physician or admin, password re-entered); it replaces the
    active version of the same protocol, whose diff is returned. Running sessions keep theirs."""
    user = await auth_service.confirm_password(db, principal, body.password)
    version = await protocols_service.get_version(db, principal.clinic_id, protocol_id)
    approval = await protocols_service.activate(
        db, version, approver=principal.actor, approver_id=user.id, now=clock.now()
    )
    return ProtocolApproval(
        version=ProtocolVersionRead.model_validate(approval.version),
        replaced=None
        if approval.replaced is None
        else ProtocolVersionRead.model_validate(approval.replaced),
        changes=_changes(approval.changes),
    )


@router.post(
    "/protocols/{protocol_id}/dose-preview",
    response_model=DosePreview,
    responses=responses(Unauthorized, Forbidden, NotFound, Unprocessable),
)
async def dose_preview(
    protocol_id: uuid.UUID,
    body: DosePreviewRequest,
    principal: AnyStaff,
    db: SessionDep,
    clock: ClockDep,
) -> DosePreview:
    """Dose, rates, volume and concentration for a weight, with the inputs used and any warning
    (e.g. above the warning weight, capped by a ceiling). 70 kg at 0.5 mg/kg over 40 min with a
    100 mL bag gives 35.0 mg, 52.5 mg/h, 150.0 mL/h, 0.35 mg/mL."""
    version = await protocols_service.get_version(db, principal.clinic_id, protocol_id)
    calc = protocols_service.dose_preview(
        version, weight_kg=body.weight_kg, mg_per_kg=body.mg_per_kg, now=clock.now()
    )
    return DosePreview(
        protocol_id=version.id,
        weight_kg=float(calc.weight_kg),
        mg_per_kg=float(calc.mg_per_kg),
        minutes=calc.minutes,
        preparation_mode=calc.preparation_mode.value,
        calculated_dose_mg=float(calc.calculated_dose_mg),
        capped=calc.capped,
        dose_mg=float(calc.dose_mg),
        rate_mg_per_h=float(calc.rate_mg_per_h),
        volume_ml=float(calc.volume_ml),
        rate_ml_per_h=float(calc.rate_ml_per_h),
        concentration_mg_per_ml=float(calc.concentration_mg_per_ml),
        warnings=[DoseWarningRead(code=w.code.value, message=w.message) for w in calc.warnings],
    )
