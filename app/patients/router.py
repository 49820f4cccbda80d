from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from app.auth.dependencies import Clinical
from app.core.db import SessionDep
from app.core.deps import ClockDep
from app.core.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable, responses
from app.core.schemas import MAX_PAGE_OFFSET
from app.patients import domain
from app.patients import service as patients_service
from app.patients.schemas import (
    PatientCreate,
    PatientList,
    PatientRead,
    PatientSummary,
    PatientUpdate,
    WeightCreate,
    WeightRead,
)

router = APIRouter(tags=["patients"])


def _read(found: patients_service.PatientWithWeights) -> PatientRead:
    p = found.patient
    return PatientRead(
        id=p.id,
        clinic_id=p.clinic_id,
        mrn=p.mrn,
        name=p.name,
        initials=domain.initials(p.name),
        birth_date=p.birth_date,
        sex=p.sex,  # type: ignore[arg-type]
        created_at=p.created_at,
        updated_at=p.updated_at,
        weights=[WeightRead.model_validate(w) for w in found.weights],
    )


@router.post(
    "/patients",
    response_model=PatientRead,
    status_code=status.HTTP_201_CREATED,
    responses=responses(Unauthorized, Forbidden, Conflict, Unprocessable),
)
async def create_patient(
    body: PatientCreate, principal: Clinical, db: SessionDep, clock: ClockDep
) -> PatientRead:
    """Register a patient in the caller's clinic (MRN unique per clinic)."""
    found = await patients_service.create_patient(
        db, clinic_id=principal.clinic_id, data=body, actor=principal.actor, now=clock.now()
    )
    return _read(found)


@router.get("/patients", response_model=PatientList, responses=responses(Unauthorized, Forbidden))
async def list_patients(
    principal: Clinical,
    db: SessionDep,
    clock: ClockDep,
    q: Annotated[
        str | None, Query(max_length=100, pattern=r"^[^\x00]*$", description="part of MRN or name")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_PAGE_OFFSET)] = 0,
) -> PatientList:
    """Patients of the caller's clinic, by MRN; the ids shown are audited."""
    patients, total = await patients_service.list_patients(
        db,
        clinic_id=principal.clinic_id,
        query=q,
        limit=limit,
        offset=offset,
        actor=principal.actor,
        now=clock.now(),
    )
    return PatientList(
        items=[
            PatientSummary.model_validate(
                {
                    "id": p.id,
                    "mrn": p.mrn,
                    "name": p.name,
                    "initials": domain.initials(p.name),
                    "sex": p.sex,
                }
            )
            for p in patients
        ],
        total=total,
    )


@router.get(
    "/patients/{patient_id}",
    response_model=PatientRead,
    responses=responses(Unauthorized, Forbidden, NotFound),
)
async def get_patient(
    patient_id: uuid.UUID, principal: Clinical, db: SessionDep, clock: ClockDep
) -> PatientRead:
    """One patient with the weight history; who looked at whom is audited."""
    found = await patients_service.get_patient(
        db,
        clinic_id=principal.clinic_id,
        patient_id=patient_id,
        actor=principal.actor,
        now=clock.now(),
    )
    return _read(found)


@router.patch(
    "/patients/{patient_id}",
    response_model=PatientRead,
    responses=responses(Unauthorized, Forbidden, NotFound, Conflict, Unprocessable),
)
async def update_patient(
    patient_id: uuid.UUID, body: PatientUpdate, principal: Clinical, db: SessionDep, clock: ClockDep
) -> PatientRead:
    """Correct MRN, name, birth date or sex."""
    found = await patients_service.update_patient(
        db,
        clinic_id=principal.clinic_id,
        patient_id=patient_id,
        data=body,
        actor=principal.actor,
        now=clock.now(),
    )
    return _read(found)


@router.post(
    "/patients/{patient_id}/weights",
    response_model=WeightRead,
    status_code=status.HTTP_201_CREATED,
    responses=responses(Unauthorized, Forbidden, NotFound, Unprocessable),
)
async def record_weight(
    patient_id: uuid.UUID, body: WeightCreate, principal: Clinical, db: SessionDep, clock: ClockDep
) -> WeightRead:
    """Record a weight (kg) with the time it was measured; the dose uses the newest in its window."""
    weight = await patients_service.record_weight(
        db,
        clinic_id=principal.clinic_id,
        patient_id=patient_id,
        data=body,
        actor=principal.actor,
        now=clock.now(),
    )
    return WeightRead.model_validate(weight)
