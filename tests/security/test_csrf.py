"""Writes authenticated by the browser-session cookie need the session's CSRF token: without it
or with a wrong one every unsafe route (taken from the OpenAPI document and the app's form
routes) answers 403 naming the problem and changes nothing; with it the write goes through."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import CSRF_HEADER, authenticate
from app.patients.models import Patient
from tests.fixtures.factories import make_clinic, make_user
from tests.security.conftest import UNSAFE, api_routes, calls, record_figures, route_contexts
from tests.test_role_matrix import MATRIX, PATH_PARAMS
from tests.web.test_pages import browser_login

META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
ROLES = ("nurse", "physician", "admin")


@asynccontextmanager
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.30", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def logged_in(client: httpx.AsyncClient, username: str) -> str:
    """Log in through the form; the page's CSRF token (what the board's scripts send)."""
    r = await browser_login(client, username)
    assert r.status_code == 303, r.text
    assert "km_session" in client.cookies
    board = await client.get("/board")
    match = META.search(board.text)
    assert match, "the page carries no CSRF token"
    return match.group(1)


def is_csrf_refusal(r: httpx.Response) -> bool:
    return (
        r.status_code == 403
        and r.json().get("error") == "Forbidden"
        and "CSRF" in r.json().get("detail", "")
    )


def cookie_write_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Unsafe routes of the OpenAPI document that resolve the caller with ``authenticate``
    (bearer, cookie or device key): the ones a session cookie can reach. The rest (the API
    login) authenticate nobody."""
    contexts = route_contexts(app)
    return [
        (method, path)
        for method, path in api_routes(app)
        if method in UNSAFE and calls(contexts[(method, path)].dependant, authenticate)
    ]


def unsafe_form_routes(app: FastAPI) -> list[tuple[str, str]]:
    """The server-rendered forms' unsafe routes (not in the OpenAPI document)."""
    return sorted(
        key
        for key, context in route_contexts(app).items()
        if key[0] in UNSAFE and not context.include_in_schema
    )


async def test_cookie_writes_need_the_csrf_token_on_every_unsafe_route(
    app: FastAPI, db: AsyncSession
) -> None:
    clinic = await make_clinic(db)
    users = {role: await make_user(db, clinic, role) for role in ROLES}
    routes = cookie_write_routes(app)
    assert len(routes) > 40
    assert ("POST", "/api/v1/auth/login") not in routes
    # Logout is checked last: it would end the session the other checks use.
    routes.remove(("POST", "/api/v1/auth/logout"))
    routes.append(("POST", "/api/v1/auth/logout"))
    ids = {name: str(uuid.uuid4()) for name in PATH_PARAMS}
    wrong: list[str] = []
    checked = 0
    async with browser(app) as nurse, browser(app) as physician, browser(app) as admin:
        clients = {"nurse": nurse, "physician": physician, "admin": admin}
        tokens = {role: await logged_in(clients[role], users[role].username) for role in ROLES}
        for method, path in routes:
            url = path.format(**ids)
            # As a role the route allows where there is one, so the token check is the only bar.
            role = next((r for r in ROLES if r in MATRIX[(method, path)]), "nurse")
            client = clients[role]
            for label, headers in (
                ("no token", {}),
                ("wrong token", {CSRF_HEADER: "forged-" + tokens[role][:10]}),
                (
                    "another user's token",
                    {CSRF_HEADER: tokens["admin" if role != "admin" else "nurse"]},
                ),
            ):
                r = await client.request(method, url, json={}, headers=headers)
                checked += 1
                if not is_csrf_refusal(r):
                    wrong.append(
                        f"{method} {path} as {role} with {label}: {r.status_code} {r.text[:100]}"
                    )
            r = await client.request(method, url, json={}, headers={CSRF_HEADER: tokens[role]})
            if is_csrf_refusal(r) or r.status_code in (401, 500):
                wrong.append(
                    f"{method} {path} as {role} with the token: {r.status_code} {r.text[:100]}"
                )
        assert not wrong, "\n".join(wrong)
        # The last check, logout with the token, ended the nurse's session: log in again.
        assert (await nurse.get("/board")).status_code == 303
        tokens["nurse"] = await logged_in(nurse, users["nurse"].username)

        # A real write: refused without the token (nothing stored), done with it.
        body: dict[str, Any] = {
            "mrn": "CSRF-1",
            "name": "Csrf Test",
            "birth_date": "1970-01-01",
            "sex": "female",
        }
        before = await db.scalar(select(func.count()).select_from(Patient))
        refused = await nurse.post("/api/v1/patients", json=body)
        assert refused.status_code == 403
        assert refused.json()["detail"] == (
            "missing or wrong CSRF token (send the X-CSRF-Token header)"
        )
        assert await db.scalar(select(func.count()).select_from(Patient)) == before
        created = await nurse.post(
            "/api/v1/patients", json=body, headers={CSRF_HEADER: tokens["nurse"]}
        )
        assert created.status_code == 201, created.text
        patient_id = created.json()["id"]
        r = await nurse.patch(f"/api/v1/patients/{patient_id}", json={"name": "Changed"})
        assert r.status_code == 403
        r = await nurse.patch(
            f"/api/v1/patients/{patient_id}",
            json={"name": "Changed"},
            headers={CSRF_HEADER: tokens["nurse"]},
        )
        assert r.status_code == 200, r.text
        r = await admin.post("/api/v1/chairs", json={"name": "CSRF chair"})
        assert is_csrf_refusal(r)
        r = await admin.post(
            "/api/v1/chairs", json={"name": "CSRF chair"}, headers={CSRF_HEADER: tokens["admin"]}
        )
        assert r.status_code == 201, r.text

        # The forms: logout without or with a wrong token is refused and the session lives on.
        form_routes = unsafe_form_routes(app)
        assert ("POST", "/logout") in form_routes
        assert ("POST", "/login") in form_routes
        for data in ({}, {"csrf_token": "forged"}, {"csrf_token": tokens["admin"]}):
            r = await nurse.post("/logout", data=data)
            assert r.status_code == 403, (data, r.status_code)
            assert "CSRF" in r.text
            assert (await nurse.get("/board")).status_code == 200
        for data in ({}, {"csrf_token": "forged"}):
            await nurse.get("/login")
            r = await nurse.post(
                "/login",
                data={"username": users["nurse"].username, "password": "x", **data},
            )
            assert r.status_code == 403, (data, r.status_code)
            assert "login form expired" in r.text
        r = await nurse.post("/logout", data={"csrf_token": tokens["nurse"]})
        assert r.status_code == 303
        assert (await nurse.get("/board")).status_code == 303  # session ended
    record_figures(
        "csrf",
        {
            "unsafe_api_routes": len(routes),
            "form_routes": len(form_routes),
            "refused_requests_checked": checked,
            "forgery_kinds": 3,
        },
    )


async def test_bearer_writes_need_no_csrf_token(client: httpx.AsyncClient, db, settings) -> None:
    """The token is for the cookie only: a bearer token is never sent by a browser on its own."""
    from tests.fixtures.factories import bearer

    nurse = await make_user(db, await make_clinic(db), "nurse")
    r = await client.post(
        "/api/v1/patients",
        json={"mrn": "B-1", "name": "Bearer Test", "birth_date": "1970-01-01", "sex": "male"},
        headers=bearer(nurse, settings),
    )
    assert r.status_code == 201, r.text
