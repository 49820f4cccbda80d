from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.clinics.models import Chair, Clinic


class ClinicRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def clinic_by_name(self, name: str) -> Clinic | None:
        return await self.session.scalar(select(Clinic).where(Clinic.name == name))

    async def clinic(self, clinic_id: uuid.UUID) -> Clinic | None:
        return await self.session.get(Clinic, clinic_id)

    async def chair(self, clinic_id: uuid.UUID, chair_id: uuid.UUID) -> Chair | None:
        return await self.session.scalar(
            select(Chair).where(Chair.id == chair_id, Chair.clinic_id == clinic_id)
        )

    async def chair_by_name(self, clinic_id: uuid.UUID, name: str) -> Chair | None:
        return await self.session.scalar(
            select(Chair).where(Chair.clinic_id == clinic_id, Chair.name == name)
        )

    async def chairs(self, clinic_id: uuid.UUID) -> Sequence[Chair]:
        stmt = select(Chair).where(Chair.clinic_id == clinic_id).order_by(Chair.name)
        return (await self.session.scalars(stmt)).all()

    async def add(self, obj: Clinic | Chair) -> None:
        self.session.add(obj)
        await self.session.flush()
