"""SQL of the registry tables only; other domains are read through their services."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.registry.models import (
    CourseEvaluation,
    CourseLiverTest,
    CourseScaleEntry,
    SessionAdverseEvent,
    SessionSideEffects,
)


class RegistryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: object) -> None:
        self.session.add(row)

    async def flush(self) -> None:
        await self.session.flush()

    async def side_effects(
        self, session_id: uuid.UUID, *, for_update: bool = False
    ) -> SessionSideEffects | None:
        stmt = select(SessionSideEffects).where(SessionSideEffects.session_id == session_id)
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def side_effects_of(
        self, session_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, SessionSideEffects]:
        if not session_ids:
            return {}
        stmt = select(SessionSideEffects).where(
            SessionSideEffects.session_id.in_(list(session_ids))
        )
        return {row.session_id: row for row in await self.session.scalars(stmt)}

    async def adverse_events(
        self, session_ids: Sequence[uuid.UUID]
    ) -> Sequence[SessionAdverseEvent]:
        if not session_ids:
            return []
        stmt = (
            select(SessionAdverseEvent)
            .where(SessionAdverseEvent.session_id.in_(list(session_ids)))
            .order_by(SessionAdverseEvent.onset_at, SessionAdverseEvent.id)
        )
        return (await self.session.scalars(stmt)).all()

    async def course_scales(self, patient_id: uuid.UUID) -> Sequence[CourseScaleEntry]:
        stmt = (
            select(CourseScaleEntry)
            .where(CourseScaleEntry.patient_id == patient_id)
            .order_by(CourseScaleEntry.taken_date, CourseScaleEntry.recorded_at)
        )
        return (await self.session.scalars(stmt)).all()

    async def liver_tests(self, patient_id: uuid.UUID) -> Sequence[CourseLiverTest]:
        stmt = (
            select(CourseLiverTest)
            .where(CourseLiverTest.patient_id == patient_id)
            .order_by(CourseLiverTest.sample_date, CourseLiverTest.recorded_at)
        )
        return (await self.session.scalars(stmt)).all()

    async def evaluations(self, patient_id: uuid.UUID) -> Sequence[CourseEvaluation]:
        stmt = (
            select(CourseEvaluation)
            .where(CourseEvaluation.patient_id == patient_id)
            .order_by(CourseEvaluation.evaluation_date, CourseEvaluation.recorded_at)
        )
        return (await self.session.scalars(stmt)).all()
