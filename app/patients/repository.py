from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.patients.models import Patient, PatientWeight


class PatientRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def patient(self, clinic_id: uuid.UUID, patient_id: uuid.UUID) -> Patient | None:
        return await self.session.scalar(
            select(Patient).where(Patient.id == patient_id, Patient.clinic_id == clinic_id)
        )

    async def by_mrn(self, clinic_id: uuid.UUID, mrn: str) -> Patient | None:
        return await self.session.scalar(
            select(Patient).where(Patient.clinic_id == clinic_id, Patient.mrn == mrn)
        )

    async def search(
        self, clinic_id: uuid.UUID, *, query: str | None, limit: int, offset: int
    ) -> tuple[Sequence[Patient], int]:
        cond = [Patient.clinic_id == clinic_id]
        if query:
            like = f"%{query.lower()}%"
            cond.append(
                or_(func.lower(Patient.mrn).like(like), func.lower(Patient.name).like(like))
            )
        total = await self.session.scalar(select(func.count()).select_from(Patient).where(*cond))
        rows = await self.session.scalars(
            select(Patient).where(*cond).order_by(Patient.mrn).limit(limit).offset(offset)
        )
        return rows.all(), int(total or 0)

    async def weights(self, patient_id: uuid.UUID) -> Sequence[PatientWeight]:
        stmt = (
            select(PatientWeight)
            .where(PatientWeight.patient_id == patient_id)
            .order_by(PatientWeight.measured_at.desc())
        )
        return (await self.session.scalars(stmt)).all()

    async def add(self, obj: Patient | PatientWeight) -> None:
        self.session.add(obj)
        await self.session.flush()

    async def birth_date(self, clinic_id: uuid.UUID, patient_id: uuid.UUID) -> date | None:
        return await self.session.scalar(
            select(Patient.birth_date).where(
                Patient.id == patient_id, Patient.clinic_id == clinic_id
            )
        )

    async def newest_weight(
        self, patient_id: uuid.UUID, *, measured_by: datetime
    ) -> PatientWeight | None:
        return await self.session.scalar(
            select(PatientWeight)
            .where(PatientWeight.patient_id == patient_id, PatientWeight.measured_at <= measured_by)
            .order_by(PatientWeight.measured_at.desc())
            .limit(1)
        )
