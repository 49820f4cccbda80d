"""Clinics and chairs. Every read is scoped to the caller's clinic."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.audit.domain import Actor
from app.clinics.models import Chair, Clinic
from app.clinics.repository import ClinicRepository
from app.clinics.schemas import ChairCreate, ChairUpdate
from app.core.errors import Conflict, NotFound


async def get_or_create_clinic(
    db: AsyncSession, *, name: str, actor: Actor, now: datetime
) -> Clinic:
    """The clinic called ``name``, created (and audited) if it does not exist yet."""
    repo = ClinicRepository(db)
    clinic = await repo.clinic_by_name(name)
    if clinic is not None:
        return clinic
    clinic = Clinic(id=uuid.uuid4(), name=name, created_at=now)
    await repo.add(clinic)
    await audit_service.record(
        db,
        actor=actor,
        action="CLINIC_CREATED",
        entity_type="clinic",
        entity_id=clinic.id,
        clinic_id=clinic.id,
        now=now,
        after={"name": name},
    )
    return clinic


async def get_clinic(db: AsyncSession, clinic_id: uuid.UUID) -> Clinic:
    clinic = await ClinicRepository(db).clinic(clinic_id)
    if clinic is None:
        raise NotFound("clinic not found")
    return clinic


async def get_clinic_by_name(db: AsyncSession, name: str) -> Clinic:
    clinic = await ClinicRepository(db).clinic_by_name(name)
    if clinic is None:
        raise NotFound(f"no clinic named {name!r}")
    return clinic


async def list_chairs(db: AsyncSession, clinic_id: uuid.UUID) -> Sequence[Chair]:
    return await ClinicRepository(db).chairs(clinic_id)


async def get_chair(db: AsyncSession, clinic_id: uuid.UUID, chair_id: uuid.UUID) -> Chair:
    chair = await ClinicRepository(db).chair(clinic_id, chair_id)
    if chair is None:
        raise NotFound("chair not found")
    return chair


async def create_chair(
    db: AsyncSession, *, clinic_id: uuid.UUID, data: ChairCreate, actor: Actor, now: datetime
) -> Chair:
    """Add a chair to the clinic; audited (CHAIR_CREATED)."""
    repo = ClinicRepository(db)
    if await repo.chair_by_name(clinic_id, data.name) is not None:
        raise Conflict(f"a chair named {data.name!r} already exists in this clinic")
    chair = Chair(
        id=uuid.uuid4(), clinic_id=clinic_id, name=data.name, is_active=True, created_at=now
    )
    await repo.add(chair)
    await audit_service.record(
        db,
        actor=actor,
        action="CHAIR_CREATED",
        entity_type="chair",
        entity_id=chair.id,
        clinic_id=clinic_id,
        now=now,
        after={"name": chair.name, "is_active": True},
    )
    return chair


async def get_or_create_chair(
    db: AsyncSession, *, clinic_id: uuid.UUID, name: str, actor: Actor, now: datetime
) -> Chair:
    chair = await ClinicRepository(db).chair_by_name(clinic_id, name)
    if chair is not None:
        return chair
    return await create_chair(
        db, clinic_id=clinic_id, data=ChairCreate(name=name), actor=actor, now=now
    )


async def update_chair(
    db: AsyncSession,
    *,
    clinic_id: uuid.UUID,
    chair_id: uuid.UUID,
    data: ChairUpdate,
    actor: Actor,
    now: datetime,
) -> Chair:
    """Rename or (de)activate a chair; audited with before/after (CHAIR_UPDATED)."""
    repo = ClinicRepository(db)
    chair = await get_chair(db, clinic_id, chair_id)
    before = {"name": chair.name, "is_active": chair.is_active}
    if data.name is not None and data.name != chair.name:
        if await repo.chair_by_name(clinic_id, data.name) is not None:
            raise Conflict(f"a chair named {data.name!r} already exists in this clinic")
        chair.name = data.name
    if data.is_active is not None:
        chair.is_active = data.is_active
    await db.flush()
    await audit_service.record(
        db,
        actor=actor,
        action="CHAIR_UPDATED",
        entity_type="chair",
        entity_id=chair.id,
        clinic_id=clinic_id,
        now=now,
        before=before,
        after={"name": chair.name, "is_active": chair.is_active},
    )
    return chair
