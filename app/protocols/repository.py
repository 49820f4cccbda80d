from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.protocols.models import ProtocolVersion


class ProtocolRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, clinic_id: uuid.UUID, version_id: uuid.UUID) -> ProtocolVersion | None:
        return await self.session.scalar(
            select(ProtocolVersion).where(
                ProtocolVersion.id == version_id, ProtocolVersion.clinic_id == clinic_id
            )
        )

    async def by_ids(self, version_ids: Sequence[uuid.UUID]) -> Sequence[ProtocolVersion]:
        if not version_ids:
            return []
        stmt = select(ProtocolVersion).where(ProtocolVersion.id.in_(list(version_ids)))
        return (await self.session.scalars(stmt)).all()

    async def by_sha(self, clinic_id: uuid.UUID, sha256: str) -> ProtocolVersion | None:
        return await self.session.scalar(
            select(ProtocolVersion).where(
                ProtocolVersion.clinic_id == clinic_id, ProtocolVersion.sha256 == sha256
            )
        )

    async def by_key_version(
        self, clinic_id: uuid.UUID, protocol_key: str, version: str
    ) -> ProtocolVersion | None:
        return await self.session.scalar(
            select(ProtocolVersion).where(
                ProtocolVersion.clinic_id == clinic_id,
                ProtocolVersion.protocol_key == protocol_key,
                ProtocolVersion.version == version,
            )
        )

    async def active(
        self, clinic_id: uuid.UUID, protocol_key: str | None = None
    ) -> Sequence[ProtocolVersion]:
        stmt = select(ProtocolVersion).where(
            ProtocolVersion.clinic_id == clinic_id, ProtocolVersion.status == "active"
        )
        if protocol_key is not None:
            stmt = stmt.where(ProtocolVersion.protocol_key == protocol_key)
        return (await self.session.scalars(stmt.order_by(ProtocolVersion.approved_at.desc()))).all()

    async def all(self, clinic_id: uuid.UUID) -> Sequence[ProtocolVersion]:
        stmt = (
            select(ProtocolVersion)
            .where(ProtocolVersion.clinic_id == clinic_id)
            .order_by(ProtocolVersion.protocol_key, ProtocolVersion.loaded_at.desc())
        )
        return (await self.session.scalars(stmt)).all()

    async def add(self, version: ProtocolVersion) -> None:
        self.session.add(version)
        await self.session.flush()
