from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped

from app.interop.models import DeviceProfile, Hl7Message, UnmappedCode
from app.sessions.models import InfusionSession
from app.vitals.models import VitalReading


def _one_of(column: Mapped[uuid.UUID | None], values: set[uuid.UUID | None]) -> ColumnElement[bool]:
    known = {v for v in values if v is not None}
    clauses = [column.in_(known)] if known else []
    if None in values:
        clauses.append(column.is_(None))
    return or_(*clauses)


class InteropRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def profile_for_device(self, device_id: uuid.UUID) -> DeviceProfile | None:
        return await self.session.scalar(
            select(DeviceProfile).where(DeviceProfile.device_id == device_id)
        )

    async def profile_for_sender(self, application: str, facility: str) -> DeviceProfile | None:
        return await self.session.scalar(
            select(DeviceProfile).where(
                DeviceProfile.sending_application == application,
                DeviceProfile.sending_facility == facility,
            )
        )

    async def add(self, obj: DeviceProfile | Hl7Message | UnmappedCode) -> None:
        self.session.add(obj)
        await self.session.flush()

    async def message(self, device_id: uuid.UUID, control_id: str) -> Hl7Message | None:
        return await self.session.scalar(
            select(Hl7Message).where(
                Hl7Message.device_id == device_id, Hl7Message.control_id == control_id
            )
        )

    async def count_unmapped(
        self, device_id: uuid.UUID, counts: Mapping[str, int], now: datetime
    ) -> None:
        existing = {
            row.code: row
            for row in await self.session.scalars(
                select(UnmappedCode).where(
                    UnmappedCode.device_id == device_id, UnmappedCode.code.in_(list(counts))
                )
            )
        }
        for code, n in counts.items():
            if code in existing:
                # An increment in SQL: concurrent messages of one device must not lose counts.
                await self.session.execute(
                    update(UnmappedCode)
                    .where(UnmappedCode.id == existing[code].id)
                    .values(count=UnmappedCode.count + n, last_seen_at=now)
                )
            else:
                self.session.add(
                    UnmappedCode(
                        id=uuid.uuid4(),
                        device_id=device_id,
                        code=code,
                        count=n,
                        first_seen_at=now,
                        last_seen_at=now,
                    )
                )
        await self.session.flush()

    async def unmapped(self, device_id: uuid.UUID) -> Sequence[UnmappedCode]:
        stmt = (
            select(UnmappedCode)
            .where(UnmappedCode.device_id == device_id)
            .order_by(UnmappedCode.count.desc(), UnmappedCode.code)
        )
        return (await self.session.scalars(stmt)).all()

    # Read-only joins over vital_reading and infusion_session: FHIR search needs the patient of
    # each reading, which neither domain's service exposes for a set of readings.
    async def readings_by_source(
        self, device_id: uuid.UUID, source_ids: Sequence[str]
    ) -> list[tuple[VitalReading, uuid.UUID | None]]:
        if not source_ids:
            return []
        stmt = (
            select(VitalReading, InfusionSession.patient_id)
            .outerjoin(InfusionSession, InfusionSession.id == VitalReading.session_id)
            .where(VitalReading.device_id == device_id, VitalReading.source_id.in_(source_ids))
        )
        return [(row, patient) for row, patient in (await self.session.execute(stmt)).all()]

    async def reading(
        self, clinic_id: uuid.UUID, reading_id: uuid.UUID
    ) -> tuple[VitalReading, uuid.UUID | None] | None:
        stmt = (
            select(VitalReading, InfusionSession.patient_id)
            .outerjoin(InfusionSession, InfusionSession.id == VitalReading.session_id)
            .where(VitalReading.id == reading_id, VitalReading.clinic_id == clinic_id)
        )
        found = (await self.session.execute(stmt)).first()
        return None if found is None else (found[0], found[1])

    async def patient_readings(
        self,
        clinic_id: uuid.UUID,
        patient_id: uuid.UUID,
        *,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> list[VitalReading]:
        stmt = (
            select(VitalReading)
            .join(InfusionSession, InfusionSession.id == VitalReading.session_id)
            .where(
                InfusionSession.patient_id == patient_id,
                VitalReading.clinic_id == clinic_id,
                VitalReading.excluded_at.is_(None),
            )
            .order_by(VitalReading.observed_at, VitalReading.id)
            .limit(limit)
        )
        if since is not None:
            stmt = stmt.where(VitalReading.observed_at >= since)
        if until is not None:
            stmt = stmt.where(VitalReading.observed_at < until)
        return list((await self.session.scalars(stmt)).all())

    async def nibp_candidates(
        self, clinic_id: uuid.UUID, rows: Sequence[VitalReading]
    ) -> list[tuple[VitalReading, uuid.UUID | None]]:
        """The not-excluded SBP/DBP readings that may share an NIBP measurement with ``rows``:
        same device and session, and the same measurement_id or else (both without one) the
        same observed_at. A superset: the caller matches the measurement exactly."""
        if not rows:
            return []
        measurement_ids = {r.measurement_id for r in rows if r.measurement_id is not None}
        observed = {r.observed_at for r in rows if r.measurement_id is None}
        stmt = (
            select(VitalReading, InfusionSession.patient_id)
            .outerjoin(InfusionSession, InfusionSession.id == VitalReading.session_id)
            .where(
                VitalReading.clinic_id == clinic_id,
                VitalReading.metric.in_(("sbp", "dbp")),
                VitalReading.excluded_at.is_(None),
                _one_of(VitalReading.device_id, {r.device_id for r in rows}),
                _one_of(VitalReading.session_id, {r.session_id for r in rows}),
                or_(
                    VitalReading.measurement_id.in_(measurement_ids),
                    and_(
                        VitalReading.measurement_id.is_(None),
                        VitalReading.observed_at.in_(observed),
                    ),
                ),
            )
            .order_by(VitalReading.observed_at, VitalReading.id)
        )
        return [(row, patient) for row, patient in (await self.session.execute(stmt)).all()]
