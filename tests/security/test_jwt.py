"""Forged and stale staff access tokens: ``alg: none``, a wrong key, another HMAC algorithm, an
expired time and a tampered payload are refused with 401 on every staff API route and on
/ws/board (closed with 1008 before accept, which uvicorn answers as HTTP 403), never a 500."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from app.core.config import Settings
from app.main import create_app
from app.realtime import ws as board_ws
from tests.fixtures.clock import FakeClock
from tests.fixtures.factories import bearer, make_clinic, make_user
from tests.fixtures.server import serving
from tests.realtime.conftest import SECRET, Seeded, seed
from tests.security.conftest import api_routes, record_figures
from tests.test_role_matrix import MATRIX, PATH_PARAMS, STAFF

OTHER_SECRET = "another-secret-key-that-is-also-long-enough-9876543210"


def _b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
        signature,
    )


def _hs512(claims: dict[str, Any], secret: str) -> str:
    signing_input = f"{_b64({'alg': 'HS512', 'typ': 'JWT'})}.{_b64(claims)}"
    digest = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha512).digest()
    return f"{signing_input}.{_b64(digest)}"


def forged_tokens(valid: str, expired: str, admin_id: str) -> dict[str, str]:
    """Each way of getting a token past the check without the server's key or in time."""
    header, claims, signature = _parts(valid)
    tampered_claims = {**claims, "sub": admin_id, "role": "admin"}
    longer = {**claims, "exp": claims["exp"] + 24 * 3600}
    return {
        "alg_none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        "alg_none_with_signature": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.{signature}",
        "alg_None_capitalised": f"{_b64({'alg': 'None', 'typ': 'JWT'})}.{_b64(claims)}.",
        "wrong_key": jwt.encode(claims, OTHER_SECRET, algorithm="HS256"),
        "right_key_other_algorithm": _hs512(claims, SECRET),
        "expired": expired,
        "tampered_subject_and_role": f"{_b64(header)}.{_b64(tampered_claims)}.{signature}",
        "tampered_expiry": f"{_b64(header)}.{_b64(longer)}.{signature}",
        "signature_stripped": f"{_b64(header)}.{_b64(claims)}.",
        "not_a_jwt": "eyJub3QiOiJhIHRva2VuIn0",
    }


def staff_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Routes a staff token may call: all whose matrix entry names a staff role and which do
    not also take anonymous callers (the login, health and FHIR metadata routes)."""
    return [
        route
        for route in api_routes(app)
        if MATRIX[route] & STAFF and "anonymous" not in MATRIX[route]
    ]


async def test_forged_and_expired_tokens_get_401_on_every_staff_route(
    app: FastAPI, client: httpx.AsyncClient, db, clock: FakeClock, settings: Settings
) -> None:
    clinic = await make_clinic(db)
    nurse = await make_user(db, clinic, "nurse")
    admin = await make_user(db, clinic, "admin")
    valid = bearer(nurse, settings, now=clock.now())["Authorization"].removeprefix("Bearer ")
    expired = bearer(nurse, settings, now=clock.now() - timedelta(minutes=16))
    tokens = forged_tokens(valid, expired["Authorization"].removeprefix("Bearer "), str(admin.id))

    # The valid token is accepted, so every 401 below is the forgery's doing.
    me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {valid}"})
    assert me.status_code == 200, me.text
    assert me.json()["username"] == nurse.username

    routes = staff_routes(app)
    assert len(routes) > 60, "the OpenAPI document should list the whole API"
    ids = dict.fromkeys(PATH_PARAMS, "00000000-0000-4000-8000-000000000001")
    wrong: list[str] = []
    requests = 0
    for method, path in routes:
        url = path.format(**ids)
        for name, token in tokens.items():
            kwargs: dict[str, Any] = {"json": {}} if method in {"POST", "PUT", "PATCH"} else {}
            r = await client.request(
                method, url, headers={"Authorization": f"Bearer {token}"}, **kwargs
            )
            requests += 1
            if r.status_code != 401 or r.json().get("error") != "Unauthorized":
                wrong.append(f"{method} {path} with {name}: {r.status_code} {r.text[:100]}")
            elif r.headers.get("www-authenticate") != "Bearer":
                wrong.append(f"{method} {path} with {name}: 401 without WWW-Authenticate")
    assert not wrong, "\n".join(wrong)

    # Nothing the forgeries sent was taken as the admin they claimed to be.
    r = await client.get(
        "/api/v1/users", headers={"Authorization": f"Bearer {tokens['tampered_subject_and_role']}"}
    )
    assert r.status_code == 401
    record_figures(
        "jwt_api",
        {"routes": len(routes), "forgeries": len(tokens), "requests_refused_401": requests},
    )


async def _board_handshake(app: FastAPI, token: str) -> list[dict[str, Any]]:
    """The messages the app sends for a /ws/board handshake with this token (ASGI level)."""
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": board_ws.PATH,
        "raw_path": board_ws.PATH.encode(),
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("203.0.113.20", 50000),
        "server": ("testserver", 80),
        "subprotocols": [],
        "extensions": {},
    }
    incoming = [{"type": "websocket.connect"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(30)
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    await asyncio.wait_for(app(scope, receive, send), timeout=10)
    return sent


@pytest.fixture
async def seeded(migrated_url: str) -> Seeded:
    return await seed(migrated_url, patients=0)


@pytest.fixture
async def board_server(migrated_url: str, seeded: Seeded) -> AsyncIterator[tuple[str, FastAPI]]:
    settings = Settings(
        env="test", database_url=migrated_url, secret_key=SECRET, scheduler_enabled=False
    )
    app = create_app(settings, clock=FakeClock())
    async with serving(app) as host:
        yield host, app


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_forged_and_expired_tokens_are_refused_on_the_board_socket(
    board_server: tuple[str, FastAPI], seeded: Seeded
) -> None:
    host, app = board_server
    settings: Settings = app.state.settings
    clock: FakeClock = app.state.clock
    valid = bearer(seeded.nurse, settings, now=clock.now())["Authorization"].removeprefix("Bearer ")
    expired = bearer(seeded.nurse, settings, now=clock.now() - timedelta(minutes=16))
    tokens = forged_tokens(
        valid, expired["Authorization"].removeprefix("Bearer "), str(seeded.physician.id)
    )
    url = f"ws://{host}{board_ws.PATH}"

    # The valid token opens the board: the refusals below are about the token alone.
    async with connect(url, additional_headers={"Authorization": f"Bearer {valid}"}) as ws:
        await ws.send(json.dumps({"subscribe": {"clinic": True}}))
        first = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        assert first["type"] == "snapshot"

    for name, token in tokens.items():
        # The app closes with the policy code before accepting ...
        sent = await _board_handshake(app, token)
        assert [m["type"] for m in sent] == ["websocket.close"], (name, sent)
        assert sent[0]["code"] == board_ws.POLICY_VIOLATION, (name, sent)
        # ... which a real client sees as the handshake refused (HTTP 403), never a 500.
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}):
                pass
        assert refused.value.response.status_code == 403, name
    record_figures("jwt_board_socket", {"forgeries": len(tokens), "refused_1008": len(tokens)})
