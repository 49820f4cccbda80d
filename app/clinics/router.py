from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from app.auth.dependencies import Admin, AnyStaff
from app.clinics import service as clinics_service
from app.clinics.schemas import ChairCreate, ChairList, ChairRead, ChairUpdate, ClinicRead
from app.core.db import SessionDep
from app.core.deps import ClockDep, SettingsDep
from app.core.errors import Conflict, Forbidden, NotFound, Unauthorized, responses

router = APIRouter(tags=["clinics"])


@router.get("/clinic", response_model=ClinicRead, responses=responses(Unauthorized, Forbidden))
async def get_clinic(principal: AnyStaff, db: SessionDep, settings: SettingsDep) -> ClinicRead:
    """The caller's clinic and the time zone used for display."""
    clinic = await clinics_service.get_clinic(db, principal.clinic_id)
    return ClinicRead(id=clinic.id, name=clinic.name, timezone=settings.clinic_timezone)


@router.get("/chairs", response_model=ChairList, responses=responses(Unauthorized, Forbidden))
async def list_chairs(principal: AnyStaff, db: SessionDep) -> ChairList:
    """Chairs of the caller's clinic."""
    chairs = await clinics_service.list_chairs(db, principal.clinic_id)
    return ChairList(items=[ChairRead.model_validate(c) for c in chairs])


@router.post(
    "/chairs",
    response_model=ChairRead,
    status_code=status.HTTP_201_CREATED,
    responses=responses(Unauthorized, Forbidden, Conflict),
)
async def create_chair(
    body: ChairCreate, principal: Admin, db: SessionDep, clock: ClockDep
) -> ChairRead:
    """Add a treatment chair."""
    chair = await clinics_service.create_chair(
        db, clinic_id=principal.clinic_id, data=body, actor=principal.actor, now=clock.now()
    )
    return ChairRead.model_validate(chair)


@router.patch(
    "/chairs/{chair_id}",
    response_model=ChairRead,
    responses=responses(Unauthorized, Forbidden, NotFound, Conflict),
)
async def update_chair(
    chair_id: uuid.UUID, body: ChairUpdate, principal: Admin, db: SessionDep, clock: ClockDep
) -> ChairRead:
    """Rename or (de)activate a chair."""
    chair = await clinics_service.update_chair(
        db,
        clinic_id=principal.clinic_id,
        chair_id=chair_id,
        data=body,
        actor=principal.actor,
        now=clock.now(),
    )
    return ChairRead.model_validate(chair)
