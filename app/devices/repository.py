from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import case, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import UtcDateTime
from app.devices.models import Device, DeviceKey


class DeviceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def device(self, clinic_id: uuid.UUID, device_id: uuid.UUID) -> Device | None:
        return await self.session.scalar(
            select(Device).where(Device.id == device_id, Device.clinic_id == clinic_id)
        )

    async def device_by_name(self, clinic_id: uuid.UUID, name: str) -> Device | None:
        return await self.session.scalar(
            select(Device).where(Device.clinic_id == clinic_id, Device.name == name)
        )

    async def devices(self, clinic_id: uuid.UUID) -> Sequence[Device]:
        stmt = select(Device).where(Device.clinic_id == clinic_id).order_by(Device.name)
        return (await self.session.scalars(stmt)).all()

    async def key_with_device(self, key_hash: str) -> tuple[DeviceKey, Device] | None:
        row = (
            await self.session.execute(
                select(DeviceKey, Device)
                .join(Device, Device.id == DeviceKey.device_id)
                .where(DeviceKey.key_hash == key_hash)
            )
        ).first()
        return None if row is None else (row[0], row[1])

    async def keys(self, device_id: uuid.UUID) -> Sequence[DeviceKey]:
        stmt = (
            select(DeviceKey).where(DeviceKey.device_id == device_id).order_by(DeviceKey.created_at)
        )
        return (await self.session.scalars(stmt)).all()

    async def add(self, obj: Device | DeviceKey) -> None:
        self.session.add(obj)
        await self.session.flush()

    async def record_ingest_socket(
        self, device_id: uuid.UUID, *, connected: bool, now: datetime
    ) -> None:
        values: dict[str, object] = (
            {"ingest_socket_closed_at": None, "last_seen_at": now}
            if connected
            else {"ingest_socket_closed_at": now}
        )
        await self.session.execute(update(Device).where(Device.id == device_id).values(values))

    async def record_ingest(
        self,
        device_id: uuid.UUID,
        *,
        accepted: int,
        rejected: int,
        unrouted: int,
        last_reading_at: datetime | None,
        skew_s: float | None,
        skewed: bool,
        now: datetime,
    ) -> None:
        values: dict[str, object] = {
            "accepted_count": Device.accepted_count + accepted,
            "rejected_count": Device.rejected_count + rejected,
            "unrouted_count": Device.unrouted_count + unrouted,
            "last_seen_at": now,
        }
        if last_reading_at is not None:
            newest = literal(last_reading_at, UtcDateTime())
            values["last_reading_at"] = case(
                (Device.last_reading_at.is_(None), newest),
                (Device.last_reading_at < newest, newest),
                else_=Device.last_reading_at,
            )
        if skew_s is not None:
            values["clock_skew_s"] = skew_s
            values["clock_skewed_since"] = (
                case(
                    (Device.clock_skewed_since.is_(None), literal(now, UtcDateTime())),
                    else_=Device.clock_skewed_since,
                )
                if skewed
                else None
            )
        await self.session.execute(update(Device).where(Device.id == device_id).values(values))
