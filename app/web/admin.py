"""Admin pages: users, devices (create with the key shown once, revoke, status), chairs, and
the configured notification webhooks (read-only). Changes go through the JSON API."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.auth import service as auth_service
from app.clinics import service as clinics_service
from app.core.db import SessionDep
from app.core.deps import ClockDep, SettingsDep
from app.core.types import Role
from app.devices import service as devices_service
from app.web.common import forbidden, page_access, render

router = APIRouter(include_in_schema=False, prefix="/admin")

PAGES = ("users", "devices", "chairs", "webhooks")


def _redacted(url: str) -> str:
    # The path or query may carry the receiver's token: show scheme and host only.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…"


@router.get("/{page}", response_model=None)
async def admin_page(
    page: str, request: Request, db: SessionDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    now = clock.now()
    found = await page_access(request, db, now, settings)
    if isinstance(found, Response):
        return found
    principal, csrf = found
    if principal.role != Role.ADMIN or page not in PAGES:
        return forbidden(request, principal, csrf, now)
    chairs = await clinics_service.list_chairs(db, principal.clinic_id)
    context: dict[str, object] = {"page": page, "chairs": chairs}
    if page == "users":
        context["users"] = await auth_service.list_users(db, principal.clinic_id)
    elif page == "devices":
        devices = await devices_service.list_devices(db, principal.clinic_id)
        context["devices"] = [
            await devices_service.device_status(
                db, clinic_id=principal.clinic_id, device_id=d.id, now=now
            )
            for d in devices
        ]
        context["chair_names"] = {c.id: c.name for c in chairs}
    elif page == "webhooks":
        context["webhooks"] = [_redacted(u) for u in settings.notification_webhook_urls]
    return render(request, f"admin_{page}.html", principal, csrf, now, context)
