"""Staff login, tokens, browser sessions and user management."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.audit.domain import Actor
from app.auth import domain
from app.auth.domain import Principal
from app.auth.models import BrowserSession, LoginFailure, RevokedToken, StaffUser
from app.auth.repository import AuthRepository
from app.auth.schemas import UserCreate
from app.core import security
from app.core.config import Settings
from app.core.errors import (
    Conflict,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
    WrongPassword,
)
from app.core.types import Role

# A browser session's last_seen_at is written at most this often, not on every request.
_TOUCH_INTERVAL = timedelta(seconds=60)


async def login(
    db: AsyncSession,
    *,
    username: str,
    password: str,
    address: str,
    now: datetime,
    settings: Settings,
) -> StaffUser | None:
    """Check a password. A failure is recorded (throttle + audit) and returns None.

    Raises TooManyRequests once (address, username) has too many recent failures.
    """
    repo = AuthRepository(db)
    name = domain.normalize_username(username)
    window = timedelta(minutes=settings.login_failure_window_minutes)
    failures = await repo.failures_since(username=name, address=address, since=now - window)
    retry_after = domain.login_retry_after_s(
        failures, now=now, max_failures=settings.login_max_failures, window=window
    )
    if retry_after is not None:
        raise TooManyRequests(
            f"too many failed logins for this user from this address; retry in {retry_after} s",
            retry_after_s=retry_after,
        )
    user = await repo.user_by_username(name)
    # Argon2 takes ~0.1 s of CPU: off the event loop, so boards keep streaming during logins.
    ok = await asyncio.to_thread(
        security.verify_password, password, None if user is None else user.password_hash
    )
    if user is None or not ok or not user.is_active:
        await repo.prune_failures(before=now - window)
        await repo.add(LoginFailure(id=uuid.uuid4(), username=name, address=address, at=now))
        await audit_service.record(
            db,
            actor=Actor("anonymous", None, name),
            action="LOGIN_FAILED",
            entity_type="staff_user",
            entity_id=None if user is None else user.id,
            clinic_id=None if user is None else user.clinic_id,
            now=now,
            after={"address": address},
        )
        return None
    await audit_service.record(
        db,
        actor=Actor("user", str(user.id), user.username),
        action="LOGIN",
        entity_type="staff_user",
        entity_id=user.id,
        clinic_id=user.clinic_id,
        now=now,
        after={"address": address},
    )
    return user


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in_s: int


def issue_access_token(user: StaffUser, *, now: datetime, settings: Settings) -> IssuedToken:
    lifetime = timedelta(minutes=settings.access_token_minutes)
    token, _ = security.encode_access_token(
        secret=settings.secret_key.get_secret_value(),
        user_id=user.id,
        role=user.role,
        clinic_id=user.clinic_id,
        now=now,
        lifetime=lifetime,
    )
    return IssuedToken(token=token, expires_in_s=int(lifetime.total_seconds()))


@dataclass(frozen=True, slots=True)
class NewBrowserSession:
    cookie_value: str
    csrf_token: str


async def open_browser_session(
    db: AsyncSession, user: StaffUser, *, now: datetime
) -> NewBrowserSession:
    """Create a server-side session; the cookie carries a random token, the table its hash."""
    token, csrf = security.new_token(), security.new_token()
    await AuthRepository(db).add(
        BrowserSession(
            id=uuid.uuid4(),
            token_hash=security.sha256_hex(token),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            last_seen_at=now,
            revoked_at=None,
        )
    )
    return NewBrowserSession(cookie_value=token, csrf_token=csrf)


async def resolve_bearer(
    db: AsyncSession, token: str, *, now: datetime, settings: Settings
) -> Principal:
    """The staff user behind an access token; 401 when it is invalid, expired, revoked or the user inactive."""
    try:
        claims = security.decode_access_token(
            token, secret=settings.secret_key.get_secret_value(), now=now
        )
    except security.InvalidToken as exc:
        raise Unauthorized(str(exc)) from exc
    repo = AuthRepository(db)
    if await repo.is_token_revoked(claims.jti):
        raise Unauthorized("token revoked (logged out)")
    user = await repo.user_by_id(claims.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("user is not active")
    return Principal(
        role=Role(user.role),
        clinic_id=user.clinic_id,
        name=user.username,
        via="bearer",
        user_id=user.id,
        token_jti=claims.jti,
        token_expires_at=claims.expires_at,
    )


@dataclass(frozen=True, slots=True)
class CookieAuth:
    principal: Principal
    csrf_token: str


async def resolve_cookie(
    db: AsyncSession, cookie_value: str, *, now: datetime, settings: Settings
) -> CookieAuth:
    """The staff user behind a browser session; 401 when unknown, revoked or idle too long."""
    repo = AuthRepository(db)
    bs = await repo.browser_session(security.sha256_hex(cookie_value))
    if bs is None or bs.revoked_at is not None:
        raise Unauthorized("session ended; log in again")
    if now - bs.last_seen_at > timedelta(minutes=settings.browser_session_idle_minutes):
        raise Unauthorized("session expired after inactivity; log in again")
    user = await repo.user_by_id(bs.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("user is not active")
    if now - bs.last_seen_at >= _TOUCH_INTERVAL:
        bs.last_seen_at = now
    principal = Principal(
        role=Role(user.role),
        clinic_id=user.clinic_id,
        name=user.username,
        via="cookie",
        user_id=user.id,
        browser_session_id=bs.id,
    )
    return CookieAuth(principal=principal, csrf_token=bs.csrf_token)


async def logout(db: AsyncSession, principal: Principal, *, now: datetime) -> None:
    """End the caller's browser session or access token; audited (LOGOUT)."""
    repo = AuthRepository(db)
    if principal.browser_session_id is not None:
        bs = await db.get(BrowserSession, principal.browser_session_id)
        if bs is not None and bs.revoked_at is None:
            bs.revoked_at = now
    if principal.token_jti is not None and principal.token_expires_at is not None:
        await repo.prune_revoked_tokens(before=now)
        if not await repo.is_token_revoked(principal.token_jti):
            await repo.add(
                RevokedToken(jti=principal.token_jti, expires_at=principal.token_expires_at)
            )
    await audit_service.record(
        db,
        actor=principal.actor,
        action="LOGOUT",
        entity_type="staff_user",
        entity_id=principal.user_id,
        clinic_id=principal.clinic_id,
        now=now,
    )


async def get_user(db: AsyncSession, user_id: uuid.UUID) -> StaffUser:
    user = await AuthRepository(db).user_by_id(user_id)
    if user is None:
        raise NotFound("user not found")
    return user


async def create_user(
    db: AsyncSession, *, clinic_id: uuid.UUID, data: UserCreate, actor: Actor, now: datetime
) -> StaffUser:
    """Add a staff user to a clinic (password hashed with Argon2); audited (USER_CREATED)."""
    repo = AuthRepository(db)
    username = domain.normalize_username(data.username)
    problem = domain.password_problem(data.password, username)
    if problem is not None:
        raise Unprocessable(f"password: {problem}")
    if await repo.user_by_username(username) is not None:
        raise Conflict(f"username {username!r} is taken")
    user = StaffUser(
        id=uuid.uuid4(),
        clinic_id=clinic_id,
        username=username,
        display_name=data.display_name,
        role=data.role,
        password_hash=await asyncio.to_thread(security.hash_password, data.password),
        is_active=True,
        created_at=now,
        password_changed_at=now,
    )
    await repo.add(user)
    await audit_service.record(
        db,
        actor=actor,
        action="USER_CREATED",
        entity_type="staff_user",
        entity_id=user.id,
        clinic_id=clinic_id,
        now=now,
        after={"username": username, "role": data.role, "display_name": data.display_name},
    )
    return user


async def set_password(
    db: AsyncSession, user: StaffUser, *, password: str, actor: Actor, now: datetime
) -> None:
    """Replace a user's password; audited (PASSWORD_CHANGED, the hash never in the audit row)."""
    problem = domain.password_problem(password, user.username)
    if problem is not None:
        raise Unprocessable(f"password: {problem}")
    user.password_hash = await asyncio.to_thread(security.hash_password, password)
    user.password_changed_at = now
    await db.flush()
    await audit_service.record(
        db,
        actor=actor,
        action="PASSWORD_CHANGED",
        entity_type="staff_user",
        entity_id=user.id,
        clinic_id=user.clinic_id,
        now=now,
    )


async def list_users(db: AsyncSession, clinic_id: uuid.UUID) -> Sequence[StaffUser]:
    return await AuthRepository(db).users_in_clinic(clinic_id)


async def deactivate_user(
    db: AsyncSession, *, clinic_id: uuid.UUID, user_id: uuid.UUID, actor: Actor, now: datetime
) -> StaffUser:
    """Disable a user in the caller's clinic; their tokens stop working at once. Audited."""
    user = await AuthRepository(db).user_in_clinic(user_id, clinic_id)
    if user is None:
        raise NotFound("user not found")
    if actor.actor_id == str(user.id):
        raise Conflict("you cannot deactivate yourself")
    if user.is_active:
        user.is_active = False
        await db.flush()
        await audit_service.record(
            db,
            actor=actor,
            action="USER_DEACTIVATED",
            entity_type="staff_user",
            entity_id=user.id,
            clinic_id=clinic_id,
            now=now,
            before={"is_active": True},
            after={"is_active": False},
        )
    return user


async def get_user_by_username(db: AsyncSession, username: str) -> StaffUser:
    user = await AuthRepository(db).user_by_username(domain.normalize_username(username))
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


async def confirm_password(db: AsyncSession, principal: Principal, password: str) -> StaffUser:
    """Signing asks for the password again: the signer's own, checked now (401 when wrong)."""
    if principal.user_id is None:
        raise Unauthorized("only a staff user can sign")
    user = await AuthRepository(db).user_by_id(principal.user_id)
    ok = user is not None and await asyncio.to_thread(
        security.verify_password, password, user.password_hash
    )
    if user is None or not ok or not user.is_active:
        raise WrongPassword()
    return user
