"""What every server-rendered page shares: the templates, the browser-session check (expired
→ the login page, which brings the user back), and the context each page gets."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import service as auth_service
from app.auth.dependencies import SESSION_COOKIE
from app.auth.domain import Principal
from app.core.config import Settings
from app.core.errors import Unauthorized
from app.core.types import Role

WEB_DIR = Path(__file__).parent
templates = Jinja2Templates(directory=WEB_DIR / "templates")
templates.env.filters["tojson_attr"] = lambda value: json.dumps(value, default=str)
templates.env.globals["tz"] = ZoneInfo

NAV: dict[Role, list[tuple[str, str]]] = {
    Role.NURSE: [("/board", "Board"), ("/schedule", "Schedule")],
    Role.PHYSICIAN: [
        ("/board", "Board"),
        ("/schedule", "Schedule"),
        ("/protocols", "Protocols"),
        ("/registry/report", "Report"),
    ],
    Role.ADMIN: [
        ("/board", "Board"),
        ("/admin/users", "Users"),
        ("/admin/devices", "Devices"),
        ("/admin/chairs", "Chairs"),
        ("/protocols", "Protocols"),
        ("/admin/webhooks", "Webhooks"),
        ("/registry/report", "Report"),
    ],
}


async def page_principal(
    request: Request, db: AsyncSession, now: datetime, settings: Settings
) -> tuple[Principal, str] | None:
    """The browser session's principal and CSRF token, or None (no or expired session)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    try:
        auth = await auth_service.resolve_cookie(db, cookie, now=now, settings=settings)
    except Unauthorized:
        return None
    return auth.principal, auth.csrf_token


async def page_access(
    request: Request,
    db: AsyncSession,
    now: datetime,
    settings: Settings,
    roles: Collection[Role] | None = None,
) -> tuple[Principal, str] | Response:
    """The caller's principal and CSRF token, or the response to send instead: the login page
    (no or expired session, coming back here afterwards) or "not allowed" (`roles` given and
    the caller has none of them)."""
    found = await page_principal(request, db, now, settings)
    if found is None:
        return to_login(request)
    principal, csrf = found
    if roles is not None and principal.role not in roles:
        return forbidden(request, principal, csrf, now)
    return principal, csrf


def to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


def forbidden(request: Request, principal: Principal, csrf: str, now: datetime) -> Response:
    return render(
        request,
        "message.html",
        principal,
        csrf,
        now,
        {"title": "Not allowed", "message": f"A {principal.role} cannot open this page."},
        status_code=403,
    )


def render(
    request: Request,
    name: str,
    principal: Principal,
    csrf: str,
    now: datetime,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    base = {
        "principal": principal,
        "csrf_token": csrf,
        "server_now": now.isoformat(),
        "nav": NAV.get(principal.role, []),
        "current": request.url.path,
    }
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)
