from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from tests.fixtures.clock import FakeClock
from tests.fixtures.factories import PASSWORD, bearer, make_clinic, make_user


async def login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )


def client_from(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


class TestLogin:
    async def test_right_password_gives_a_bearer_token(self, client, db: AsyncSession):
        clinic = await make_clinic(db)
        user = await make_user(db, clinic, "nurse")
        r = await login(client, user.username, PASSWORD)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 15 * 60
        me = await client.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
        assert me.status_code == 200
        assert me.json()["username"] == user.username
        assert me.json()["role"] == "nurse"
        assert me.json()["clinic_name"] == clinic.name

    async def test_username_is_case_insensitive(self, client, db):
        user = await make_user(db, await make_clinic(db), "nurse", username="Nurse.Kari")
        r = await login(client, "  NURSE.kari ", PASSWORD)
        assert r.status_code == 200
        assert user.username == "nurse.kari"

    async def test_wrong_password_is_401(self, client, db):
        user = await make_user(db, await make_clinic(db))
        r = await login(client, user.username, "wrong password!")
        assert r.status_code == 401
        assert r.json() == {"error": "Unauthorized", "detail": "wrong username or password"}

    async def test_unknown_user_is_401_with_the_same_message(self, client, db):
        r = await login(client, "nobody", "whatever password")
        assert r.status_code == 401
        assert r.json()["detail"] == "wrong username or password"

    async def test_sixth_failure_is_throttled_but_other_address_still_works(self, app, client, db):
        user = await make_user(db, await make_clinic(db))
        for _ in range(5):
            assert (await login(client, user.username, "wrong password!")).status_code == 401
        sixth = await login(client, user.username, "wrong password!")
        assert sixth.status_code == 429
        assert int(sixth.headers["Retry-After"]) > 0
        # Even the right password waits from this address...
        assert (await login(client, user.username, PASSWORD)).status_code == 429
        # ...while the nurse at another address is not locked out by a stranger.
        async with client_from(app, "198.51.100.7") as other:
            assert (await login(other, user.username, PASSWORD)).status_code == 200

    async def test_throttle_lifts_after_the_window(self, client, db, clock: FakeClock):
        user = await make_user(db, await make_clinic(db))
        for _ in range(5):
            await login(client, user.username, "wrong password!")
        assert (await login(client, user.username, PASSWORD)).status_code == 429
        clock.advance(minutes=15, seconds=1)
        assert (await login(client, user.username, PASSWORD)).status_code == 200

    async def test_deactivated_user_cannot_log_in(self, client, db):
        user = await make_user(db, await make_clinic(db))
        user.is_active = False
        await db.flush()
        assert (await login(client, user.username, PASSWORD)).status_code == 401


class TestTokens:
    async def test_expired_token_is_401(self, client, db, settings: Settings, clock: FakeClock):
        user = await make_user(db, await make_clinic(db))
        headers = bearer(user, settings, clock.now())
        assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 200
        clock.advance(minutes=15)
        r = await client.get("/api/v1/auth/me", headers=headers)
        assert r.status_code == 401
        assert r.json()["detail"] == "token expired"
        assert r.headers["WWW-Authenticate"] == "Bearer"

    async def test_logout_revokes_the_token(self, client, db, settings):
        user = await make_user(db, await make_clinic(db))
        headers = bearer(user, settings)
        assert (await client.post("/api/v1/auth/logout", headers=headers)).status_code == 204
        r = await client.get("/api/v1/auth/me", headers=headers)
        assert r.status_code == 401

    async def test_deactivated_users_token_stops_working(self, client, db, settings):
        clinic = await make_clinic(db)
        admin, nurse = await make_user(db, clinic, "admin"), await make_user(db, clinic, "nurse")
        headers = bearer(nurse, settings)
        r = await client.post(
            f"/api/v1/users/{nurse.id}/deactivate", headers=bearer(admin, settings)
        )
        assert r.status_code == 200
        assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401

    @pytest.mark.parametrize(
        "header",
        [
            "Bearer not-a-jwt",
            "Basic dXNlcjpwYXNz",
            "Bearer ",
            "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.",
        ],
    )
    async def test_bad_credentials_are_401(self, client, header):
        r = await client.get("/api/v1/auth/me", headers={"Authorization": header})
        assert r.status_code == 401

    async def test_token_signed_with_another_key_is_401(self, client, db, settings):
        user = await make_user(db, await make_clinic(db))
        other = settings.model_copy(
            update={
                "secret_key": settings.secret_key.__class__("another-secret-key-long-enough-123456")
            }
        )
        r = await client.get("/api/v1/auth/me", headers=bearer(user, other))
        assert r.status_code == 401

    async def test_nurse_calling_an_admin_endpoint_is_403(self, client, db, settings):
        nurse = await make_user(db, await make_clinic(db), "nurse")
        r = await client.get("/api/v1/users", headers=bearer(nurse, settings))
        assert r.status_code == 403
        assert "admin" in r.json()["detail"]
