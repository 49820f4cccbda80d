from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import BrowserSession, LoginFailure, RevokedToken, StaffUser


class AuthRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def user_by_username(self, username: str) -> StaffUser | None:
        return await self.session.scalar(select(StaffUser).where(StaffUser.username == username))

    async def user_by_id(self, user_id: uuid.UUID) -> StaffUser | None:
        return await self.session.get(StaffUser, user_id)

    async def user_in_clinic(self, user_id: uuid.UUID, clinic_id: uuid.UUID) -> StaffUser | None:
        return await self.session.scalar(
            select(StaffUser).where(StaffUser.id == user_id, StaffUser.clinic_id == clinic_id)
        )

    async def users_in_clinic(self, clinic_id: uuid.UUID) -> Sequence[StaffUser]:
        stmt = (
            select(StaffUser).where(StaffUser.clinic_id == clinic_id).order_by(StaffUser.username)
        )
        return (await self.session.scalars(stmt)).all()

    async def add(self, obj: StaffUser | BrowserSession | LoginFailure | RevokedToken) -> None:
        self.session.add(obj)
        await self.session.flush()

    async def failures_since(
        self, *, username: str, address: str, since: datetime
    ) -> list[datetime]:
        stmt = select(LoginFailure.at).where(
            LoginFailure.username == username,
            LoginFailure.address == address,
            LoginFailure.at > since,
        )
        return list((await self.session.scalars(stmt)).all())

    async def prune_failures(self, before: datetime) -> None:
        await self.session.execute(delete(LoginFailure).where(LoginFailure.at <= before))

    async def browser_session(self, token_hash: str) -> BrowserSession | None:
        return await self.session.scalar(
            select(BrowserSession).where(BrowserSession.token_hash == token_hash)
        )

    async def is_token_revoked(self, jti: str) -> bool:
        return await self.session.get(RevokedToken, jti) is not None

    async def prune_revoked_tokens(self, before: datetime) -> None:
        await self.session.execute(delete(RevokedToken).where(RevokedToken.expires_at <= before))
