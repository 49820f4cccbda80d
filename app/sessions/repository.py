from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.core.db import UtcDateTime
from app.core.errors import Conflict
from app.sessions.models import (
    ACTIVE_STATE_VALUES,
    CheckpointNotice,
    DoseProgressMark,
    InfusionSession,
    SessionDoseOrder,
    SessionPreVitals,
    SessionRateSegment,
    SessionScaleEntry,
    SessionStateChange,
    SessionVitalsCheck,
)

_T = TypeVar("_T")


class SessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(
        self, clinic_id: uuid.UUID, session_id: uuid.UUID, *, for_update: bool = False
    ) -> InfusionSession | None:
        stmt = select(InfusionSession).where(
            InfusionSession.id == session_id, InfusionSession.clinic_id == clinic_id
        )
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def by_ids(self, session_ids: Sequence[uuid.UUID]) -> Sequence[InfusionSession]:
        if not session_ids:
            return []
        stmt = select(InfusionSession).where(InfusionSession.id.in_(sorted(set(session_ids))))
        return (await self.session.scalars(stmt)).all()

    async def in_clinic(
        self,
        clinic_id: uuid.UUID,
        *,
        start: datetime | None,
        end: datetime | None,
        state: str | None,
        patient_id: uuid.UUID | None = None,
    ) -> Sequence[InfusionSession]:
        stmt = select(InfusionSession).where(InfusionSession.clinic_id == clinic_id)
        if patient_id is not None:
            stmt = stmt.where(InfusionSession.patient_id == patient_id)
        if start is not None:
            stmt = stmt.where(InfusionSession.scheduled_for >= start)
        if end is not None:
            stmt = stmt.where(InfusionSession.scheduled_for < end)
        if state is not None:
            stmt = stmt.where(InfusionSession.state == state)
        stmt = stmt.order_by(InfusionSession.scheduled_for, InfusionSession.id).limit(500)
        return (await self.session.scalars(stmt)).all()

    async def active_on_chair(self, chair_id: uuid.UUID) -> InfusionSession | None:
        stmt = select(InfusionSession).where(
            InfusionSession.chair_id == chair_id, InfusionSession.state.in_(ACTIVE_STATE_VALUES)
        )
        return await self.session.scalar(stmt.limit(1))

    async def active_for_patient(self, patient_id: uuid.UUID) -> InfusionSession | None:
        stmt = select(InfusionSession).where(
            InfusionSession.patient_id == patient_id,
            InfusionSession.state.in_(ACTIVE_STATE_VALUES),
        )
        return await self.session.scalar(stmt.limit(1))

    async def active_with_device(
        self, device_id: uuid.UUID, *, excluding: uuid.UUID | None = None
    ) -> InfusionSession | None:
        """An active session that records `device_id` as its monitor."""
        stmt = select(InfusionSession).where(
            InfusionSession.device_id == device_id,
            InfusionSession.state.in_(ACTIVE_STATE_VALUES),
        )
        if excluding is not None:
            stmt = stmt.where(InfusionSession.id != excluding)
        return await self.session.scalar(stmt.limit(1))

    async def infusion_starts(
        self, patient_id: uuid.UUID, *, excluding: uuid.UUID | None = None
    ) -> list[tuple[uuid.UUID, datetime]]:
        """(session id, first entry into infusing) of the patient's sessions that started."""
        stmt = (
            select(SessionStateChange.session_id, func.min(SessionStateChange.at))
            .join(InfusionSession, InfusionSession.id == SessionStateChange.session_id)
            .where(InfusionSession.patient_id == patient_id, SessionStateChange.event == "start")
            .group_by(SessionStateChange.session_id)
        )
        if excluding is not None:
            stmt = stmt.where(InfusionSession.id != excluding)
        rows = (await self.session.execute(stmt)).all()
        return sorted(((sid, at) for sid, at in rows), key=lambda r: r[1])

    async def patient_scale_entries(
        self, patient_id: uuid.UUID, scale_id: str
    ) -> Sequence[SessionScaleEntry]:
        stmt = (
            select(SessionScaleEntry)
            .join(InfusionSession, InfusionSession.id == SessionScaleEntry.session_id)
            .where(InfusionSession.patient_id == patient_id, SessionScaleEntry.scale_id == scale_id)
            .order_by(SessionScaleEntry.at)
        )
        return (await self.session.scalars(stmt)).all()

    async def latest_order_mg_per_kg(self, patient_id: uuid.UUID) -> SessionDoseOrder | None:
        stmt = (
            select(SessionDoseOrder)
            .join(InfusionSession, InfusionSession.id == SessionDoseOrder.session_id)
            .where(InfusionSession.patient_id == patient_id)
            .order_by(SessionDoseOrder.ordered_at.desc(), SessionDoseOrder.version.desc())
        )
        return await self.session.scalar(stmt.limit(1))

    async def history(self, session_id: uuid.UUID) -> Sequence[SessionStateChange]:
        return (await self.history_of([session_id])).get(session_id, [])

    async def orders(self, session_id: uuid.UUID) -> Sequence[SessionDoseOrder]:
        return (await self.orders_of([session_id])).get(session_id, [])

    async def _grouped(
        self, model: type[_T], session_ids: Sequence[uuid.UUID], order: Any
    ) -> dict[uuid.UUID, list[_T]]:
        """Rows of many sessions by session id, each list in ``order`` (one query)."""
        out: dict[uuid.UUID, list[_T]] = {}
        if session_ids:
            session_col = model.session_id  # type: ignore[attr-defined]
            stmt = (
                select(model)
                .where(session_col.in_(sorted(set(session_ids))))
                .order_by(session_col, order)
            )
            for row in (await self.session.scalars(stmt)).all():
                out.setdefault(row.session_id, []).append(row)  # type: ignore[attr-defined]
        return out

    async def history_of(
        self, session_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[SessionStateChange]]:
        return await self._grouped(SessionStateChange, session_ids, SessionStateChange.seq)

    async def orders_of(
        self, session_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[SessionDoseOrder]]:
        return await self._grouped(SessionDoseOrder, session_ids, SessionDoseOrder.version)

    async def segments_of(
        self, session_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[SessionRateSegment]]:
        return await self._grouped(SessionRateSegment, session_ids, SessionRateSegment.seq)

    async def scale_entries_of(
        self, session_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[SessionScaleEntry]]:
        return await self._grouped(SessionScaleEntry, session_ids, SessionScaleEntry.at)

    async def vitals_checks_of(
        self, session_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[SessionVitalsCheck]]:
        return await self._grouped(SessionVitalsCheck, session_ids, SessionVitalsCheck.taken_at)

    async def segments(self, session_id: uuid.UUID) -> Sequence[SessionRateSegment]:
        return (await self.segments_of([session_id])).get(session_id, [])

    async def pre_vitals(self, session_id: uuid.UUID) -> Sequence[SessionPreVitals]:
        stmt = (
            select(SessionPreVitals)
            .where(SessionPreVitals.session_id == session_id)
            .order_by(SessionPreVitals.taken_at, SessionPreVitals.recorded_at)
        )
        return (await self.session.scalars(stmt)).all()

    async def scale_entries(self, session_id: uuid.UUID) -> Sequence[SessionScaleEntry]:
        return (await self.scale_entries_of([session_id])).get(session_id, [])

    async def vitals_checks(self, session_id: uuid.UUID) -> Sequence[SessionVitalsCheck]:
        return (await self.vitals_checks_of([session_id])).get(session_id, [])

    def add(self, row: object) -> None:
        self.session.add(row)

    async def flush(self) -> None:
        try:
            await self.session.flush()
        except IntegrityError as exc:
            # The partial unique indexes: another session became active on this chair or for
            # this patient at the same moment.
            raise Conflict(
                "another session is already active on this chair or for this patient"
            ) from exc


_CHECKED_IN = aliased(SessionStateChange)
_ENDED = aliased(SessionStateChange)
# Built once: constructing this aliased, grouped select cost ~10 ms per reading batch.
_WINDOWS_ON_CHAIR = (
    select(InfusionSession.chair_id, InfusionSession.id, _CHECKED_IN.at, func.min(_ENDED.at))
    .join(
        _CHECKED_IN,
        (_CHECKED_IN.session_id == InfusionSession.id) & (_CHECKED_IN.state == "checked_in"),
    )
    .outerjoin(
        _ENDED,
        (_ENDED.session_id == InfusionSession.id) & _ENDED.state.in_(("discharged", "cancelled")),
    )
    .where(
        InfusionSession.chair_id.in_(bindparam("chair_ids", expanding=True)),
        _CHECKED_IN.at <= bindparam("end", type_=UtcDateTime()),
    )
    .group_by(InfusionSession.id, InfusionSession.chair_id, _CHECKED_IN.at)
)


class MonitoringWindowQueries:
    """Check-in to discharge (or cancel) of the sessions on a chair: where readings belong."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def on_chairs(
        self, chair_ids: Sequence[uuid.UUID], *, start: datetime, end: datetime
    ) -> dict[uuid.UUID, list[tuple[uuid.UUID, datetime, datetime | None]]]:
        """Per chair, (session id, checked in at, ended at) of windows overlapping [start, end]."""
        if not chair_ids:
            return {}
        params = {"chair_ids": sorted(set(chair_ids)), "end": end}
        out: dict[uuid.UUID, list[tuple[uuid.UUID, datetime, datetime | None]]] = {}
        for chair_id, session_id, begin, until in (
            await self.session.execute(_WINDOWS_ON_CHAIR, params)
        ).all():
            if until is None or until > start:
                out.setdefault(chair_id, []).append((session_id, begin, until))
        return out


class DoseProgressMarks:
    """Once-per-interval claims of the dose-progress event, across instances."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(
        self, session_ids: Sequence[uuid.UUID], *, now: datetime, interval: timedelta
    ) -> set[uuid.UUID]:
        """The sessions whose last claim is ``interval`` old or more (or that have none), now
        claimed by this transaction. One upsert, rows in session id order: a concurrent claimer
        waits for the row and then finds it fresh."""
        if not session_ids:
            return set()
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        upsert = insert(DoseProgressMark).values(
            [{"session_id": sid, "published_at": now} for sid in sorted(set(session_ids))]
        )
        stmt = upsert.on_conflict_do_update(
            index_elements=[DoseProgressMark.session_id],
            set_={"published_at": upsert.excluded.published_at},
            where=DoseProgressMark.published_at <= now - interval,
        ).returning(DoseProgressMark.session_id)
        return set((await self.session.scalars(stmt)).all())


class CheckpointNoticeRepository:
    """Active sessions of every clinic and the once-only claim of an overdue announcement."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def active_sessions(self) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(clinic id, session id) of every active session, in id order (a stable lock order)."""
        stmt = (
            select(InfusionSession.clinic_id, InfusionSession.id)
            .where(InfusionSession.state.in_(ACTIVE_STATE_VALUES))
            .order_by(InfusionSession.id)
        )
        return [(r[0], r[1]) for r in (await self.session.execute(stmt)).all()]

    async def claim(
        self, session_id: uuid.UUID, checkpoint_id: str, due_at: datetime, *, now: datetime
    ) -> bool:
        """Record the announcement; False when one exists for (session, checkpoint, due time).

        ON CONFLICT DO NOTHING: of concurrent claimers, one inserts; on PostgreSQL the others
        wait for its commit and then insert nothing (or insert if it rolled back).
        """
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = (
            insert(CheckpointNotice)
            .values(
                id=uuid.uuid4(),
                session_id=session_id,
                checkpoint_id=checkpoint_id,
                due_at=due_at,
                announced_at=now,
            )
            .on_conflict_do_nothing(index_elements=["session_id", "checkpoint_id", "due_at"])
            .returning(CheckpointNotice.id)
        )
        return (await self.session.scalar(stmt)) is not None
