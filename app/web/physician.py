"""Physician pages: screening review and sign, protocol versions with their diff and approval.
(The discharge evaluation is a form on the session page.)"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.core.db import SessionDep
from app.core.deps import ClockDep, SettingsDep
from app.core.types import Role
from app.patients import service as patients_service
from app.protocols import service as protocols_service
from app.screening import service as screening_service
from app.web.common import page_access, render

router = APIRouter(include_in_schema=False)


@router.get("/screenings/{screening_id}", response_model=None)
async def screening_page(
    screening_id: uuid.UUID,
    request: Request,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> Response:
    now = clock.now()
    found = await page_access(request, db, now, settings, (Role.NURSE, Role.PHYSICIAN))
    if isinstance(found, Response):
        return found
    principal, csrf = found
    view = await screening_service.get_screening(
        db, clinic_id=principal.clinic_id, screening_id=screening_id
    )
    row = view.screening
    findings = screening_service.stored_findings(row)
    initials = await patients_service.initials_of(
        db, clinic_id=principal.clinic_id, patient_id=row.patient_id
    )
    return render(
        request,
        "screening.html",
        principal,
        csrf,
        now,
        {
            "row": row,
            "superseded": view.superseded,
            "status": row.evaluation["status"],
            "findings": findings,
            "relative": [f for f in findings if f.severity.value == "relative"],
            "initials": initials,
            "can_sign": principal.role == Role.PHYSICIAN
            and not view.superseded
            and row.decision is None,
            "timezone": settings.clinic_timezone,
        },
    )


@router.get("/protocols", response_model=None)
async def protocols_page(
    request: Request, db: SessionDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    now = clock.now()
    found = await page_access(request, db, now, settings)
    if isinstance(found, Response):
        return found
    principal, csrf = found
    versions = await protocols_service.list_versions(db, principal.clinic_id)
    return render(
        request,
        "protocols.html",
        principal,
        csrf,
        now,
        {"versions": versions, "timezone": settings.clinic_timezone},
    )


@router.get("/protocols/{protocol_id}", response_model=None)
async def protocol_page(
    protocol_id: uuid.UUID,
    request: Request,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> Response:
    now = clock.now()
    found = await page_access(request, db, now, settings)
    if isinstance(found, Response):
        return found
    principal, csrf = found
    version = await protocols_service.get_version(db, principal.clinic_id, protocol_id)
    versions = await protocols_service.list_versions(db, principal.clinic_id)
    active = next(
        (
            v
            for v in versions
            if v.protocol_key == version.protocol_key
            and v.status == "active"
            and v.id != version.id
        ),
        None,
    )
    changes = () if active is None else protocols_service.diff(active, version)
    return render(
        request,
        "protocol.html",
        principal,
        csrf,
        now,
        {
            "version": version,
            "active": active,
            "changes": changes,
            "can_approve": principal.role in (Role.PHYSICIAN, Role.ADMIN)
            and version.status == "pending",
            "timezone": settings.clinic_timezone,
        },
    )
