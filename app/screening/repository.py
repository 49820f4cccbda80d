from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict
from app.screening.models import ScreeningVersion


class ScreeningRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(
        self, clinic_id: uuid.UUID, screening_id: uuid.UUID, *, for_update: bool = False
    ) -> ScreeningVersion | None:
        stmt = select(ScreeningVersion).where(
            ScreeningVersion.id == screening_id, ScreeningVersion.clinic_id == clinic_id
        )
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def versions(
        self, clinic_id: uuid.UUID, patient_id: uuid.UUID
    ) -> Sequence[ScreeningVersion]:
        stmt = (
            select(ScreeningVersion)
            .where(
                ScreeningVersion.clinic_id == clinic_id, ScreeningVersion.patient_id == patient_id
            )
            .order_by(ScreeningVersion.version.desc())
        )
        return (await self.session.scalars(stmt)).all()

    async def latest(self, clinic_id: uuid.UUID, patient_id: uuid.UUID) -> ScreeningVersion | None:
        stmt = (
            select(ScreeningVersion)
            .where(
                ScreeningVersion.clinic_id == clinic_id, ScreeningVersion.patient_id == patient_id
            )
            .order_by(ScreeningVersion.version.desc())
            .limit(1)
        )
        return await self.session.scalar(stmt)

    async def latest_version_number(self, patient_id: uuid.UUID) -> int:
        found = await self.session.scalar(
            select(func.max(ScreeningVersion.version)).where(
                ScreeningVersion.patient_id == patient_id
            )
        )
        return int(found or 0)

    async def add(self, row: ScreeningVersion) -> None:
        self.session.add(row)
        try:
            await self.session.flush()
        except IntegrityError as exc:
            # Two edits of the same version raced for the same version number.
            raise Conflict(
                f"screening version {row.version} was written by someone else at the same time; "
                "reload the screening and edit the newest version"
            ) from exc

    async def flush(self) -> None:
        await self.session.flush()
