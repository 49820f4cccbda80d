"""The security headers are on every server-rendered page (each GET page route of the app,
rendered for a logged-in user and as the anonymous redirect) and on API responses, errors
included: Content-Security-Policy without inline scripts and with frame-ancestors 'none',
X-Content-Type-Options, X-Frame-Options, Referrer-Policy, and Strict-Transport-Security over
HTTPS or when the deployment says it sits behind TLS."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.main import create_app
from app.web.admin import PAGES as ADMIN_PAGES
from tests.fixtures.factories import make_user
from tests.fixtures.sessions import Flow
from tests.security.conftest import fill, page_routes, record_figures
from tests.web.test_pages import browser_login

REFERRER_POLICIES = {
    "no-referrer",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
}


def header_problems(r: httpx.Response, *, hsts: bool) -> list[str]:
    h = r.headers
    problems: list[str] = []
    csp = h.get("content-security-policy", "")
    directives = {d.split()[0]: d for d in (p.strip() for p in csp.split(";")) if d}
    if directives.get("default-src") != "default-src 'self'":
        problems.append(f"CSP default-src: {csp!r}")
    script = directives.get("script-src", directives.get("default-src", ""))
    if "'unsafe-inline'" in script or "'unsafe-eval'" in script or "*" in script:
        problems.append(f"CSP allows inline or foreign scripts: {script!r}")
    if directives.get("object-src") != "object-src 'none'":
        problems.append("CSP object-src is not 'none'")
    framing = directives.get("frame-ancestors") == "frame-ancestors 'none'"
    if not framing and h.get("x-frame-options", "").upper() not in ("DENY", "SAMEORIGIN"):
        problems.append("framing not forbidden (frame-ancestors / X-Frame-Options)")
    if h.get("x-frame-options", "").upper() != "DENY":
        problems.append(f"X-Frame-Options: {h.get('x-frame-options')!r}")
    if h.get("x-content-type-options") != "nosniff":
        problems.append(f"X-Content-Type-Options: {h.get('x-content-type-options')!r}")
    if h.get("referrer-policy") not in REFERRER_POLICIES:
        problems.append(f"Referrer-Policy: {h.get('referrer-policy')!r}")
    sts = h.get("strict-transport-security", "")
    if hsts:
        max_age = int(sts.partition("max-age=")[2].split(";")[0] or 0)
        if max_age < 180 * 24 * 3600:
            problems.append(f"Strict-Transport-Security: {sts!r}")
    return [f"{r.request.method} {r.request.url.path} ({r.status_code}): {p}" for p in problems]


@asynccontextmanager
async def https_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.40", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        yield c


async def page_ids(flow: Flow, patient, chair, client: httpx.AsyncClient) -> dict[str, Any]:
    session_id = await flow.schedule(patient, chair)
    screenings = await client.get(f"/api/v1/patients/{patient.id}/screenings", headers=flow.nurse)
    assert screenings.status_code == 200, screenings.text
    return {
        "session_id": session_id,
        "patient_id": str(patient.id),
        "screening_id": screenings.json()["items"][0]["id"],
        "protocol_id": str(flow.protocol.id),
    }


async def test_every_page_and_api_response_carries_the_security_headers(
    app: FastAPI, db: AsyncSession, flow: Flow, patient, chair, clinic
) -> None:
    admin = await make_user(db, clinic, "admin")
    async with (
        https_client(app) as anonymous,
        https_client(app) as physician_browser,
        https_client(app) as admin_browser,
    ):
        ids = await page_ids(flow, patient, chair, anonymous)
        assert (
            await browser_login(physician_browser, flow.physician_user.username)
        ).status_code == 303
        assert (await browser_login(admin_browser, admin.username)).status_code == 303
        pages = page_routes(app)
        assert len(pages) >= 10, pages
        responses: list[httpx.Response] = []
        for path in pages:
            urls = (
                [f"/admin/{p}" for p in ADMIN_PAGES]
                if path == "/admin/{page}"
                else [fill(path, ids)]
            )
            for url in urls:
                browser = admin_browser if url.startswith("/admin/") else physician_browser
                page = await browser.get(url)
                assert page.status_code == 200, (url, page.status_code, page.text[:200])
                assert page.headers["content-type"].startswith("text/html"), url
                responses.append(page)
                if path != "/login":
                    redirect = await anonymous.get(url)
                    assert redirect.status_code == 303, url
                    responses.append(redirect)
        # A page the role may not open, and an unknown page.
        responses.append(await physician_browser.get("/admin/users"))
        assert responses[-1].status_code == 403
        responses.append(await physician_browser.get("/no-such-page"))
        assert responses[-1].status_code == 404

        nurse = flow.nurse
        api: list[tuple[str, str, dict[str, Any], int]] = [
            ("GET", "/api/v1/auth/me", {"headers": nurse}, 200),
            ("GET", f"/api/v1/sessions/{ids['session_id']}", {"headers": nurse}, 200),
            ("GET", "/api/v1/patients", {}, 401),
            ("GET", "/api/v1/patients", {"headers": {"Authorization": "Bearer x.y.z"}}, 401),
            ("GET", f"/api/v1/patients/{uuid.uuid4()}", {"headers": nurse}, 404),
            ("GET", "/api/v1/no-such-route", {}, 404),
            ("POST", "/api/v1/patients", {"headers": nurse, "json": {"name": 1}}, 422),
            ("GET", "/api/v1/patients/not-a-uuid", {"headers": nurse}, 422),
            ("DELETE", "/api/v1/patients", {"headers": nurse}, 405),
            ("GET", "/api/v1/users", {"headers": nurse}, 403),
            ("POST", "/api/v1/auth/login", {"content": b"x" * (3 * 1024 * 1024)}, 413),
            ("GET", "/openapi.json", {}, 200),
            ("GET", "/healthz", {}, 200),
            ("GET", "/fhir/metadata", {}, 200),
            ("GET", "/static/app.css", {}, 200),
            ("GET", "/metrics", {}, 200),
        ]
        for method, url, kwargs, expected in api:
            r = await anonymous.request(method, url, **kwargs)
            assert r.status_code == expected, (method, url, r.status_code, r.text[:200])
            responses.append(r)
    problems = [p for r in responses for p in header_problems(r, hsts=True)]
    assert not problems, "\n".join(problems)
    record_figures(
        "security_headers",
        {
            "page_routes": len(pages),
            "page_responses_checked": len(responses) - len(api),
            "api_responses_checked": len(api),
            "statuses": sorted({r.status_code for r in responses}),
        },
    )


async def test_hsts_when_the_deployment_is_behind_tls(database_url: str) -> None:
    """Plain HTTP from a TLS-terminating proxy: secure cookies on means HSTS on; a development
    server on plain HTTP does not send it (browsers would ignore it there anyway)."""
    for cookie_secure, expected in ((True, True), (False, False)):
        app = create_app(
            Settings(env="test", database_url=database_url, cookie_secure=cookie_secure)
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            for url in ("/login", "/api/v1/auth/me", "/healthz"):
                r = await c.get(url)
                assert ("strict-transport-security" in r.headers) is expected, (url, cookie_secure)
                assert not header_problems(r, hsts=expected)
        await app.state.engine.dispose()
