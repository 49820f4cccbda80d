"""Who is calling: bearer token, browser session cookie (with CSRF) or device key; role checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from app.auth import service as auth_service
from app.auth.domain import Principal
from app.core.db import SessionDep
from app.core.deps import ClockDep, SettingsDep
from app.core.errors import Forbidden, Unauthorized
from app.core.security import constant_time_equal
from app.core.types import Role
from app.devices import service as devices_service

SESSION_COOKIE = "km_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <token>'")
    return token.strip()


async def authenticate(
    request: Request, db: SessionDep, clock: ClockDep, settings: SettingsDep
) -> Principal:
    """Resolve the caller; 401 when no valid credential is presented."""
    now = clock.now()
    token = bearer_token(request)
    if token is not None:
        if devices_service.looks_like_device_key(token):
            device = await devices_service.authenticate(db, token, now=now)
            if device is None:
                raise Unauthorized("unknown, expired or revoked device key")
            return Principal(
                role=Role.DEVICE,
                clinic_id=device.clinic_id,
                name=device.name,
                via="device_key",
                device_id=device.id,
            )
        return await auth_service.resolve_bearer(db, token, now=now, settings=settings)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        auth = await auth_service.resolve_cookie(db, cookie, now=now, settings=settings)
        if request.method not in SAFE_METHODS and not _csrf_ok(request, auth.csrf_token):
            raise Forbidden(f"missing or wrong CSRF token (send the {CSRF_HEADER} header)")
        request.state.csrf_token = auth.csrf_token
        return auth.principal
    raise Unauthorized()


def _csrf_ok(request: Request, expected: str) -> bool:
    sent = request.headers.get(CSRF_HEADER, "")
    return bool(sent) and constant_time_equal(sent, expected)


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require_roles(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    allowed = frozenset(roles)

    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.role in allowed:
            return principal
        if principal.role is Role.DEVICE:
            raise Forbidden("device keys may only call the ingest endpoints")
        if Role.DEVICE in allowed and len(allowed) == 1:
            raise Forbidden("only devices (monitors, gateways) may call this endpoint")
        names = ", ".join(sorted(allowed))
        raise Forbidden(f"this action needs the role {names}; you are {principal.role}")

    return check


AnyStaff = Annotated[Principal, Depends(require_roles(Role.NURSE, Role.PHYSICIAN, Role.ADMIN))]
Clinical = Annotated[Principal, Depends(require_roles(Role.NURSE, Role.PHYSICIAN))]
AdminOrNurse = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.NURSE))]
Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
Physician = Annotated[Principal, Depends(require_roles(Role.PHYSICIAN))]
ApproverRole = Annotated[Principal, Depends(require_roles(Role.PHYSICIAN, Role.ADMIN))]
DeviceCaller = Annotated[Principal, Depends(require_roles(Role.DEVICE))]
