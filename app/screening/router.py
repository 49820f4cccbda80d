from __future__ import annotations

import uuid
from typing import Annotated, Literal, cast

from fastapi import APIRouter, Query, status
from pydantic import AwareDatetime

from app.auth import service as auth_service
from app.auth.dependencies import Clinical, Physician
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
from app.screening import service as screening_service
from app.screening.domain import Finding
from app.screening.schemas import (
    EligibilityFindingRead,
    EligibilityRead,
    FindingRead,
    ScreeningContent,
    ScreeningCreate,
    ScreeningList,
    ScreeningRead,
    ScreeningSign,
    ScreeningUpdate,
    SignatureRead,
)

router = APIRouter(tags=["screening"])

Status = Literal["ELIGIBLE", "NEEDS_REVIEW", "INELIGIBLE"]
DecisionValue = Literal["eligible", "not_eligible"]


def _finding(f: Finding) -> FindingRead:
    return FindingRead(
        rule_id=f.rule_id,
        severity=f.severity,
        message=f.message,
        protocol_key=f.protocol_key,
        data=dict(f.data),
    )


def _read(view: screening_service.ScreeningView) -> ScreeningRead:
    row = view.screening
    signature = None
    if row.decision is not None and row.signed_by is not None and row.signed_at is not None:
        signature = SignatureRead(
            decision=cast(DecisionValue, row.decision),
            signed_by=row.signed_by,
            signed_at=row.signed_at,
            content_sha256=row.signed_sha256 or "",
            justifications=row.justifications or {},
            note=row.note,
            expires_at=row.expires_at,
        )
    return ScreeningRead(
        id=row.id,
        patient_id=row.patient_id,
        version=row.version,
        superseded=view.superseded,
        protocol_version_id=row.protocol_version_id,
        content=ScreeningContent.model_validate(row.content),
        status=cast(Status, row.evaluation["status"]),
        evaluated_at=row.evaluation["evaluated_at"],
        findings=[_finding(f) for f in screening_service.stored_findings(row)],
        content_sha256=row.content_sha256,
        created_at=row.created_at,
        created_by=row.created_by,
        signature=signature,
    )


@router.post(
    "/patients/{patient_id}/screenings",
    response_model=ScreeningRead,
    status_code=status.HTTP_201_CREATED,
    responses=responses(Unauthorized, Forbidden, NotFound, Conflict, Unprocessable),
)
async def create_screening(
    patient_id: uuid.UUID,
    body: ScreeningCreate,
    principal: Clinical,
    db: SessionDep,
    clock: ClockDep,
) -> ScreeningRead:
    """Record a screening; the clinic's approved protocol evaluates it (409 if none is approved).

    The answer lists every finding with its rule id, severity and the data that triggered it.
    A physician signs it next. If the patient has a screening already, this is its next version.
    """
    view = await screening_service.create_screening(
        db,
        clinic_id=principal.clinic_id,
        patient_id=patient_id,
        data=body,
        actor=principal.actor,
        now=clock.now(),
    )
    return _read(view)


@router.get(
    "/patients/{patient_id}/screenings",
    response_model=ScreeningList,
    responses=responses(Unauthorized, Forbidden, NotFound),
)
async def list_screenings(
    patient_id: uuid.UUID, principal: Clinical, db: SessionDep
) -> ScreeningList:
    """Every version of the patient's screening, newest first, with signatures."""
    views = await screening_service.list_screenings(
        db, clinic_id=principal.clinic_id, patient_id=patient_id
    )
    return ScreeningList(items=[_read(v) for v in views])


@router.get(
    "/screenings/{screening_id}",
    response_model=ScreeningRead,
    responses=responses(Unauthorized, Forbidden, NotFound),
)
async def get_screening(
    screening_id: uuid.UUID, principal: Clinical, db: SessionDep
) -> ScreeningRead:
    """One screening version (superseded ones stay readable)."""
    view = await screening_service.get_screening(
        db, clinic_id=principal.clinic_id, screening_id=screening_id
    )
    return _read(view)


@router.put(
    "/screenings/{screening_id}",
    response_model=ScreeningRead,
    status_code=status.HTTP_201_CREATED,
    responses=responses(Unauthorized, Forbidden, NotFound, Conflict, Unprocessable),
)
async def edit_screening(
    screening_id: uuid.UUID,
    body: ScreeningUpdate,
    principal: Clinical,
    db: SessionDep,
    clock: ClockDep,
) -> ScreeningRead:
    """Correct the newest version with the whole screening: this creates the next version,
    unsigned and re-evaluated, and returns it. A signature never carries over."""
    view = await screening_service.edit_screening(
        db,
        clinic_id=principal.clinic_id,
        screening_id=screening_id,
        data=body,
        actor=principal.actor,
        now=clock.now(),
    )
    return _read(view)


@router.post(
    "/screenings/{screening_id}/sign",
    response_model=ScreeningRead,
    responses=responses(Unauthorized, WrongPassword, Forbidden, NotFound, Conflict, Unprocessable),
)
async def sign_screening(
    screening_id: uuid.UUID,
    body: ScreeningSign,
    principal: Physician,
    db: SessionDep,
    clock: ClockDep,
) -> ScreeningRead:
    """Sign the newest version (physician, password re-entered): ``eligible`` with a written
    justification per relative finding, or ``not_eligible`` with a note.

    409 for an absolute finding (record ``not_eligible`` instead), for missing, stale or
    implausible data (complete it in an edit first), for a superseded or already signed version,
    or when the stored content no longer matches its hash. 422 names the rule ids that lack a
    justification. An eligible signature expires after the protocol's screening validity.
    """
    user = await auth_service.confirm_password(db, principal, body.password)
    view = await screening_service.sign_screening(
        db,
        clinic_id=principal.clinic_id,
        screening_id=screening_id,
        signer_id=user.id,
        decision=body.decision,
        note=body.note,
        justifications=body.justifications,
        actor=principal.actor,
        now=clock.now(),
    )
    return _read(view)


@router.get(
    "/patients/{patient_id}/eligibility",
    response_model=EligibilityRead,
    responses=responses(Unauthorized, Forbidden, NotFound),
)
async def get_eligibility(
    patient_id: uuid.UUID,
    principal: Clinical,
    db: SessionDep,
    clock: ClockDep,
    at: Annotated[
        AwareDatetime | None,
        Query(description="the planned session start, with a UTC offset; default now"),
    ] = None,
) -> EligibilityRead:
    """May a session start for this patient at ``at``? Only with the newest screening signed
    eligible, unexpired, unaltered, and no finding at ``at`` beyond those the signature justified;
    otherwise ``reasons`` says why and what would lift it."""
    answer = await screening_service.eligibility(
        db,
        clinic_id=principal.clinic_id,
        patient_id=patient_id,
        at=clock.now() if at is None else at,
    )
    return EligibilityRead(
        eligible=answer.eligible,
        reasons=list(answer.reasons),
        at=answer.at,
        screening_id=answer.screening_id,
        version=answer.version,
        decision=answer.decision,
        signed_at=answer.signed_at,
        expires_at=answer.expires_at,
        status=None if answer.status is None else answer.status.value,
        findings=[
            EligibilityFindingRead(
                rule_id=f.rule_id,
                severity=f.severity,
                message=f.message,
                protocol_key=f.protocol_key,
                data=dict(f.data),
                justified=answer.is_justified(f),
            )
            for f in answer.findings
        ],
    )
