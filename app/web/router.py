"""Server-rendered pages: login and the board shell (the web issue fills the board in)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from app.auth import service as auth_service
from app.auth.dependencies import SESSION_COOKIE
from app.auth.domain import Principal
from app.clinics import service as clinics_service
from app.core import security
from app.core.db import SessionDep
from app.core.deps import ClockDep, SettingsDep
from app.core.errors import TooManyRequests
from app.web.admin import router as admin_router
from app.web.board import router as board_router
from app.web.common import WEB_DIR, page_principal, render, templates, to_login
from app.web.pages import router as pages_router
from app.web.physician import router as physician_router
from app.web.registry import router as registry_router

router = APIRouter(include_in_schema=False)

LOGIN_NONCE_COOKIE = "km_login"


def static_files() -> StaticFiles:
    return StaticFiles(directory=WEB_DIR / "static")


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect would let a phishing link bounce through us.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/board"


def _login_csrf(settings_secret: str, nonce: str) -> str:
    return security.hmac_hex(settings_secret, "login:" + nonce)


async def _page_principal(
    request: Request, db: SessionDep, clock: ClockDep, settings: SettingsDep
) -> tuple[Principal, str] | None:
    return await page_principal(request, db, clock.now(), settings)


def _to_login(request: Request) -> RedirectResponse:
    return to_login(request)


@router.get("/")
async def index() -> RedirectResponse:
    return RedirectResponse("/board", status_code=303)


def _render_login(
    request: Request,
    settings_secret: str,
    *,
    next_path: str,
    error: str | None,
    status_code: int,
    secure: bool,
) -> HTMLResponse:
    nonce = security.new_token(16)
    response = templates.TemplateResponse(
        request,
        "login.html",
        {"csrf_token": _login_csrf(settings_secret, nonce), "next": next_path, "error": error},
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_NONCE_COOKIE, nonce, httponly=True, samesite="strict", secure=secure, max_age=3600
    )
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_page(
    request: Request,
    settings: SettingsDep,
    next_path: Annotated[str | None, Query(alias="next", max_length=2000)] = None,
) -> HTMLResponse:
    return _render_login(
        request,
        settings.secret_key.get_secret_value(),
        next_path=_safe_next(next_path),
        error=None,
        status_code=200,
        secure=settings.secure_cookies,
    )


@router.post("/login", response_model=None)
async def login_submit(
    request: Request,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=256)],
    next_field: Annotated[str, Form(alias="next", max_length=2000)] = "/board",
    # Optional here so that a missing token is the same 403 as a wrong one, not a 422.
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    secret = settings.secret_key.get_secret_value()
    next_path = _safe_next(next_field)
    nonce = request.cookies.get(LOGIN_NONCE_COOKIE, "")
    if (
        not nonce
        or not csrf_token
        or not security.constant_time_equal(csrf_token, _login_csrf(secret, nonce))
    ):
        return _render_login(
            request,
            secret,
            next_path=next_path,
            status_code=403,
            secure=settings.secure_cookies,
            error="The login form expired. Please try again.",
        )
    address = request.client.host if request.client else "unknown"
    try:
        user = await auth_service.login(
            db,
            username=username,
            password=password,
            address=address,
            now=clock.now(),
            settings=settings,
        )
    except TooManyRequests as exc:
        response = _render_login(
            request,
            secret,
            next_path=next_path,
            status_code=429,
            secure=settings.secure_cookies,
            error=exc.detail,
        )
        response.headers.update(exc.headers)
        return response
    if user is None:
        return _render_login(
            request,
            secret,
            next_path=next_path,
            status_code=401,
            secure=settings.secure_cookies,
            error="Wrong username or password.",
        )
    opened = await auth_service.open_browser_session(db, user, now=clock.now())
    redirect = RedirectResponse(next_path, status_code=303)
    redirect.set_cookie(
        SESSION_COOKIE,
        opened.cookie_value,
        httponly=True,
        samesite="strict",
        secure=settings.secure_cookies,
        path="/",
    )
    redirect.delete_cookie(LOGIN_NONCE_COOKIE)
    return redirect


@router.post("/logout", response_model=None)
async def logout_submit(
    request: Request,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    found = await _page_principal(request, db, clock, settings)
    if found is not None:
        principal, expected = found
        if not csrf_token or not security.constant_time_equal(csrf_token, expected):
            return HTMLResponse("Missing or wrong CSRF token.", status_code=403)
        await auth_service.logout(db, principal, now=clock.now())
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/board", response_model=None)
async def board(
    request: Request, db: SessionDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    found = await _page_principal(request, db, clock, settings)
    if found is None:
        return _to_login(request)
    principal, csrf = found
    clinic = await clinics_service.get_clinic(db, principal.clinic_id)
    chairs = await clinics_service.list_chairs(db, principal.clinic_id)
    return render(
        request,
        "board.html",
        principal,
        csrf,
        clock.now(),
        {"clinic": clinic, "chairs": chairs, "timezone": settings.clinic_timezone},
    )


router.include_router(board_router)
router.include_router(pages_router)
router.include_router(physician_router)
router.include_router(admin_router)
router.include_router(registry_router)
