from __future__ import annotations

import re

import httpx

from tests.fixtures.clock import FakeClock
from tests.fixtures.factories import PASSWORD, make_chair, make_clinic, make_user


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the form"
    return match.group(1)


async def browser_login(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD, next_path: str = "/board"
):
    page = await client.get(f"/login?next={next_path}")
    assert page.status_code == 200
    return await client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": csrf_from(page.text),
            "next": next_path,
        },
    )


class TestBrowserLogin:
    async def test_board_redirects_to_login_and_back(self, client, db):
        clinic = await make_clinic(db)
        await make_chair(db, clinic, "Chair A")
        nurse = await make_user(db, clinic, "nurse")
        r = await client.get("/board")
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=/board"
        r = await browser_login(client, nurse.username)
        assert r.status_code == 303
        assert r.headers["location"] == "/board"
        cookie = r.headers["set-cookie"]
        assert "km_session=" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        board = await client.get("/board")
        assert board.status_code == 200
        assert "Chair A" in board.text
        assert nurse.username in board.text

    async def test_wrong_password_shows_the_form_again(self, client, db):
        nurse = await make_user(db, await make_clinic(db))
        r = await browser_login(client, nurse.username, "wrong password!")
        assert r.status_code == 401
        assert "Wrong username or password" in r.text
        assert "km_session" not in r.headers.get("set-cookie", "")

    async def test_login_form_without_its_csrf_token_is_refused(self, client, db):
        nurse = await make_user(db, await make_clinic(db))
        await client.get("/login")
        r = await client.post(
            "/login",
            data={"username": nurse.username, "password": PASSWORD, "csrf_token": "forged"},
        )
        assert r.status_code == 403
        assert "km_session" not in r.headers.get("set-cookie", "")

    async def test_next_cannot_redirect_off_site(self, client, db):
        nurse = await make_user(db, await make_clinic(db))
        r = await browser_login(client, nurse.username, next_path="//evil.example/steal")
        assert r.headers["location"] == "/board"

    async def test_idle_session_expires_and_returns_to_login(self, client, db, clock: FakeClock):
        nurse = await make_user(db, await make_clinic(db))
        await browser_login(client, nurse.username)
        clock.advance(minutes=29)
        assert (await client.get("/board")).status_code == 200
        clock.advance(minutes=29)  # activity at 29 min kept it alive
        assert (await client.get("/board")).status_code == 200
        clock.advance(minutes=31)
        r = await client.get("/board")
        assert r.status_code == 303
        assert r.headers["location"].startswith("/login")
        assert (await client.get("/api/v1/auth/me")).status_code == 401

    async def test_logout_needs_the_csrf_token_and_ends_the_session(self, client, db):
        nurse = await make_user(db, await make_clinic(db))
        await browser_login(client, nurse.username)
        board = await client.get("/board")
        assert (await client.post("/logout", data={"csrf_token": "forged"})).status_code == 403
        assert (await client.get("/board")).status_code == 200
        r = await client.post("/logout", data={"csrf_token": csrf_from(board.text)})
        assert r.status_code == 303
        assert (await client.get("/api/v1/auth/me")).status_code == 401


class TestCookieOnTheApi:
    async def test_reads_work_and_writes_need_the_csrf_header(self, client, db):
        clinic = await make_clinic(db)
        admin = await make_user(db, clinic, "admin")
        await browser_login(client, admin.username)
        me = await client.get("/api/v1/auth/me")
        assert me.status_code == 200
        assert me.json()["auth"] == "cookie"
        r = await client.post("/api/v1/chairs", json={"name": "Chair X"})
        assert r.status_code == 403
        assert "CSRF" in r.json()["detail"]
        token = csrf_from((await client.get("/board")).text)
        r = await client.post(
            "/api/v1/chairs", json={"name": "Chair X"}, headers={"X-CSRF-Token": token}
        )
        assert r.status_code == 201


async def test_pages_carry_the_security_headers(client):
    r = await client.get("/login")
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "<script>" not in r.text


async def test_health_and_metrics(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).status_code == 200
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert 'http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in metrics.text


class TestClinicReportPage:
    async def test_admin_opens_it_and_a_reversed_range_is_refused(self, client, db):
        admin = await make_user(db, await make_clinic(db), "admin")
        r = await browser_login(client, admin.username, next_path="/registry/report")
        assert r.headers["location"] == "/registry/report"
        page = await client.get("/registry/report")
        assert page.status_code == 200
        assert 'href="/registry/report" aria-current="page"' in page.text
        assert 'data-key="sessions_started">0<' in page.text
        bad = await client.get("/registry/report?from=2026-02-01&to=2026-01-01")
        assert bad.status_code == 422
        assert "To: is before From" in bad.text
        assert (await client.get("/registry/report?from=nope")).status_code == 422
