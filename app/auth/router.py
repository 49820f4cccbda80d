from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse

from app.auth import service as auth_service
from app.auth.dependencies import Admin, AnyStaff
from app.auth.schemas import LoginRequest, MeRead, TokenRead, UserCreate, UserList, UserRead
from app.clinics import service as clinics_service
from app.core.db import SessionDep
from app.core.deps import ClockDep, SettingsDep
from app.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
    error_response,
    responses,
)

router = APIRouter(tags=["auth"])


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post(
    "/auth/login",
    response_model=TokenRead,
    responses=responses(Unauthorized, TooManyRequests),
)
async def login(
    body: LoginRequest, request: Request, db: SessionDep, clock: ClockDep, settings: SettingsDep
) -> TokenRead | JSONResponse:
    """Exchange username and password for a bearer token (JWT) for API clients.

    Failed attempts are throttled per (address, username): after 5 failures in 15 minutes the
    next try gets 429 with Retry-After, while the same user from another address is unaffected.
    """
    now = clock.now()
    user = await auth_service.login(
        db,
        username=body.username,
        password=body.password,
        address=client_address(request),
        now=now,
        settings=settings,
    )
    if user is None:
        # Returned, not raised: the failure record must commit with this request.
        return error_response(
            401, "Unauthorized", "wrong username or password", {"WWW-Authenticate": "Bearer"}
        )
    issued = auth_service.issue_access_token(user, now=now, settings=settings)
    return TokenRead(access_token=issued.token, expires_in=issued.expires_in_s)


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(Unauthorized, Forbidden),
)
async def logout(principal: AnyStaff, db: SessionDep, clock: ClockDep) -> None:
    """End the caller's token or browser session."""
    await auth_service.logout(db, principal, now=clock.now())


@router.get("/auth/me", response_model=MeRead, responses=responses(Unauthorized, Forbidden))
async def me(principal: AnyStaff, db: SessionDep) -> MeRead:
    """Who the caller is: user, role and clinic."""
    assert principal.user_id is not None
    user = await auth_service.get_user(db, principal.user_id)
    clinic = await clinics_service.get_clinic(db, user.clinic_id)
    return MeRead(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,  # type: ignore[arg-type]
        clinic_id=clinic.id,
        clinic_name=clinic.name,
        auth="cookie" if principal.via == "cookie" else "bearer",
    )


@router.get("/users", response_model=UserList, responses=responses(Unauthorized, Forbidden))
async def list_users(principal: Admin, db: SessionDep) -> UserList:
    """Staff users of the caller's clinic."""
    users = await auth_service.list_users(db, principal.clinic_id)
    return UserList(items=[UserRead.model_validate(u) for u in users])


@router.post(
    "/users",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    responses=responses(Unauthorized, Forbidden, Conflict, Unprocessable),
)
async def create_user(
    body: UserCreate, principal: Admin, db: SessionDep, clock: ClockDep
) -> UserRead:
    """Add a nurse, physician or admin to the caller's clinic."""
    user = await auth_service.create_user(
        db, clinic_id=principal.clinic_id, data=body, actor=principal.actor, now=clock.now()
    )
    return UserRead.model_validate(user)


@router.post(
    "/users/{user_id}/deactivate",
    response_model=UserRead,
    responses=responses(Unauthorized, Forbidden, NotFound, Conflict),
)
async def deactivate_user(
    user_id: uuid.UUID, principal: Admin, db: SessionDep, clock: ClockDep
) -> UserRead:
    """Disable a user; their tokens and sessions stop working at once."""
    user = await auth_service.deactivate_user(
        db, clinic_id=principal.clinic_id, user_id=user_id, actor=principal.actor, now=clock.now()
    )
    return UserRead.model_validate(user)
