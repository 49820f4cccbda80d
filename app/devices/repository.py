from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Boolean, Float, Table, bindparam, case, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import UtcDateTime
from app.devices.models import Device, DeviceKey


@dataclass(frozen=True, slots=True)
class IngestCounts:
    """What one ingest transaction adds to a device's counters."""

    device_id: uuid.UUID
    accepted: int
    rejected: int
    unrouted: int
    last_reading_at: datetime | None
    skew_s: float | None
    skewed: bool


@dataclass(frozen=True, slots=True)
class KeyGrant:
    """A key's own dates (as on `DeviceKey`) and the device it opens."""

    revoked_at: datetime | None
    expires_at: datetime | None
    device_id: uuid.UUID
    clinic_id: uuid.UUID
    chair_id: uuid.UUID | None
    device_revoked_at: datetime | None


_DEVICES = cast(Table, Device.__table__)
# One cached statement for every device of a group commit (executemany). A NULL newest
# reading or skew leaves the stored value as it is.
_RECORD_INGEST = (
    update(_DEVICES)
    .where(_DEVICES.c.id == bindparam("b_id"))
    .values(
        accepted_count=_DEVICES.c.accepted_count + bindparam("b_accepted"),
        rejected_count=_DEVICES.c.rejected_count + bindparam("b_rejected"),
        unrouted_count=_DEVICES.c.unrouted_count + bindparam("b_unrouted"),
        last_seen_at=bindparam("b_now", type_=UtcDateTime()),
        last_reading_at=case(
            (bindparam("b_newest", type_=UtcDateTime()).is_(None), _DEVICES.c.last_reading_at),
            (_DEVICES.c.last_reading_at.is_(None), bindparam("b_newest", type_=UtcDateTime())),
            (
                _DEVICES.c.last_reading_at < bindparam("b_newest", type_=UtcDateTime()),
                bindparam("b_newest", type_=UtcDateTime()),
            ),
            else_=_DEVICES.c.last_reading_at,
        ),
        clock_skew_s=case(
            (bindparam("b_skew", type_=Float()).is_(None), _DEVICES.c.clock_skew_s),
            else_=bindparam("b_skew", type_=Float()),
        ),
        clock_skewed_since=case(
            (bindparam("b_skew", type_=Float()).is_(None), _DEVICES.c.clock_skewed_since),
            (
                bindparam("b_skewed", type_=Boolean()),
                case(
                    (
                        _DEVICES.c.clock_skewed_since.is_(None),
                        bindparam("b_now", type_=UtcDateTime()),
                    ),
                    else_=_DEVICES.c.clock_skewed_since,
                ),
            ),
            else_=None,
        ),
    )
)


class DeviceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def device(self, clinic_id: uuid.UUID, device_id: uuid.UUID) -> Device | None:
        return await self.session.scalar(
            select(Device).where(Device.id == device_id, Device.clinic_id == clinic_id)
        )

    async def by_ids(self, device_ids: Sequence[uuid.UUID]) -> Sequence[Device]:
        if not device_ids:
            return []
        return (
            await self.session.scalars(select(Device).where(Device.id.in_(sorted(set(device_ids)))))
        ).all()

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

    async def key_grants(self, key_hashes: Sequence[str]) -> dict[str, KeyGrant]:
        """What each key hash grants, as plain rows (no ORM objects: a group commit checks
        hundreds of keys a second)."""
        if not key_hashes:
            return {}
        keys, devices = cast(Table, DeviceKey.__table__), _DEVICES
        stmt = (
            select(
                keys.c.key_hash,
                keys.c.revoked_at,
                keys.c.expires_at,
                devices.c.id,
                devices.c.clinic_id,
                devices.c.chair_id,
                devices.c.revoked_at,
            )
            .join(devices, devices.c.id == keys.c.device_id)
            .where(keys.c.key_hash.in_(sorted(set(key_hashes))))
        )
        return {row[0]: KeyGrant(*row[1:]) for row in (await self.session.execute(stmt)).all()}

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

    async def record_ingest_many(self, counts: Sequence[IngestCounts], *, now: datetime) -> None:
        """Add each device's counts in one executemany UPDATE, in device id order (the lock
        order of concurrent group commits)."""
        if not counts:
            return
        await self.session.execute(
            _RECORD_INGEST,
            [
                {
                    "b_id": c.device_id,
                    "b_accepted": c.accepted,
                    "b_rejected": c.rejected,
                    "b_unrouted": c.unrouted,
                    "b_now": now,
                    "b_newest": c.last_reading_at,
                    "b_skew": c.skew_s,
                    "b_skewed": c.skewed,
                }
                for c in sorted(counts, key=lambda c: c.device_id)
            ],
        )
