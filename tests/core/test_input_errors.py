"""No input of any shape produces a 500: bad bodies, paths, methods and sizes get a 4xx with a message."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.fixtures.factories import bearer, make_clinic, make_user

LOGIN = "/api/v1/auth/login"
PATIENTS = "/api/v1/patients"
DEVICES = "/api/v1/devices"
JSON = {"Content-Type": "application/json"}
MiB = 1024 * 1024


@pytest.fixture
async def raw(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client that receives a 500 as a response (the default client re-raises app errors)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("203.0.113.20", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def clinic(db):
    return await make_clinic(db)


@pytest.fixture
async def nurse_headers(db, clinic, settings) -> dict[str, str]:
    return bearer(await make_user(db, clinic, "nurse"), settings)


@pytest.fixture
async def admin_headers(db, clinic, settings) -> dict[str, str]:
    return bearer(await make_user(db, clinic, "admin"), settings)


def assert_error(r: httpx.Response, status: int, error: str | None = None) -> dict:
    assert r.status_code == status, r.text[:500]
    assert r.headers.get("content-type", "").startswith("application/json"), (
        f"not a JSON error body: {r.headers.get('content-type')!r} {r.text[:200]!r}"
    )
    body = r.json()
    assert isinstance(body.get("detail"), str)
    assert body["detail"]
    if error is not None:
        assert body["error"] == error
    return body


class TestMalformedBodies:
    @pytest.mark.parametrize(
        "content",
        [
            b'{"username": "nurse",',
            b"not json at all",
            b"{'username': 'nurse'}",
            b"",
            b"\xff\xfe\x00garbage",
            b'{"username": "a", "password": "b"}{"again": 1}',
        ],
    )
    async def test_malformed_json_is_422(self, raw, content):
        r = await raw.post(LOGIN, content=content, headers=JSON)
        assert_error(r, 422, "ValidationError")

    async def test_a_body_that_is_not_utf8_is_400(self, raw):
        # FastAPI cannot read it at all (the 422s above are read, then refused).
        r = await raw.post(LOGIN, content=b'{"username": "\xe9t\xe9"}', headers=JSON)
        assert_error(r, 400, "BadRequest")

    async def test_deeply_nested_json_is_4xx(self, raw):
        r = await raw.post(LOGIN, content=b"[" * 100_000 + b"]" * 100_000, headers=JSON)
        assert 400 <= r.status_code < 500, r.status_code

    @pytest.mark.parametrize("username", [["nurse"], 123, None, {"a": 1}, True])
    async def test_wrong_type_is_422_naming_the_field(self, raw, username):
        r = await raw.post(LOGIN, json={"username": username, "password": "a password"})
        body = assert_error(r, 422, "ValidationError")
        assert "body.username" in body["detail"]
        assert "body.username" in [e["field"] for e in body["errors"]]

    async def test_unknown_field_is_422_naming_the_field(self, raw):
        r = await raw.post(LOGIN, json={"username": "n", "password": "p", "is_admin": True})
        body = assert_error(r, 422, "ValidationError")
        assert "body.is_admin" in body["detail"]

    async def test_a_1_mb_string_is_422_and_not_echoed(self, raw):
        huge = "A" * 1_000_000
        r = await raw.post(LOGIN, json={"username": huge, "password": "a password"})
        body = assert_error(r, 422, "ValidationError")
        assert "body.username" in body["detail"]
        assert len(r.content) < 2_000
        assert "AAAAAAAAAA" not in r.text

    async def test_a_1_mb_string_in_a_patient_is_422_and_not_echoed(self, raw, nurse_headers):
        body = {"mrn": "M1", "name": "B" * 1_000_000, "birth_date": "1980-01-01", "sex": "male"}
        r = await raw.post(PATIENTS, json=body, headers=nurse_headers)
        assert_error(r, 422, "ValidationError")
        assert len(r.content) < 2_000

    async def test_a_1_mb_unknown_field_name_is_422_and_not_echoed(self, raw):
        r = await raw.post(LOGIN, json={"username": "n", "password": "p", "K" * 1_000_000: 1})
        assert_error(r, 422, "ValidationError")
        assert len(r.content) < 2_000

    async def test_a_body_over_2_mib_is_413(self, raw):
        payload = json.dumps({"username": "n", "password": "x" * (2 * MiB + 10)})
        r = await raw.post(LOGIN, content=payload, headers=JSON)
        assert_error(r, 413, "PayloadTooLarge")
        assert len(r.content) < 2_000

    async def test_a_streamed_body_over_2_mib_is_413(self, raw):
        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"username": "n", "password": "'
            for _ in range(3):
                yield b"x" * MiB
            yield b'"}'

        r = await raw.post(LOGIN, content=chunks(), headers=JSON)
        assert_error(r, 413, "PayloadTooLarge")

    async def test_form_encoded_body_on_a_json_endpoint_is_422(self, raw):
        r = await raw.post(LOGIN, data={"username": "n", "password": "p"})
        assert_error(r, 422, "ValidationError")


class TestStringsTheDatabaseRefuses:
    """NUL and lone surrogates: PostgreSQL cannot store them; refuse them, never crash (no 5xx)."""

    @pytest.mark.parametrize("text", ["nu\u0000rse", "\ud800", "nurse\udfff"])
    async def test_login_username(self, raw, text):
        r = await raw.post(
            LOGIN,
            content=json.dumps({"username": text, "password": "a password"}),
            headers=JSON,
        )
        assert r.status_code < 500, r.status_code

    @pytest.mark.parametrize("text", ["Kari\u0000Nordmann", "Kari \ud800"])
    async def test_patient_name(self, raw, nurse_headers, text):
        body = {"mrn": "M1", "name": text, "birth_date": "1980-01-01", "sex": "female"}
        r = await raw.post(PATIENTS, content=json.dumps(body), headers={**JSON, **nurse_headers})
        assert r.status_code < 500, r.status_code

    @pytest.mark.parametrize("text", ["Monitor\u00001", "Monitor \udc80"])
    async def test_device_name(self, raw, admin_headers, text):
        r = await raw.post(
            DEVICES, content=json.dumps({"name": text}), headers={**JSON, **admin_headers}
        )
        assert r.status_code < 500, r.status_code

    async def test_patient_search_text(self, raw, nurse_headers):
        r = await raw.get(PATIENTS, params={"q": "Ka\u0000ri"}, headers=nurse_headers)
        assert r.status_code < 500, r.status_code


class TestNumbersTheDatabaseRefuses:
    async def test_huge_patient_list_offset(self, raw, nurse_headers):
        r = await raw.get(PATIENTS, params={"offset": str(10**20)}, headers=nurse_headers)
        assert r.status_code < 500, r.status_code

    async def test_huge_audit_cursor(self, raw, admin_headers):
        r = await raw.get("/api/v1/audit", params={"after_seq": str(10**20)}, headers=admin_headers)
        assert r.status_code < 500, r.status_code

    @pytest.mark.parametrize(
        "measured_at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"]
    )
    async def test_measured_at_at_the_edge_of_the_calendar(self, raw, nurse_headers, measured_at):
        body = {
            "mrn": "M1",
            "name": "Kari Nordmann",
            "birth_date": "1980-01-01",
            "sex": "female",
            "weight": {"weight_kg": "70.0", "measured_at": measured_at},
        }
        r = await raw.post(PATIENTS, json=body, headers=nurse_headers)
        assert 400 <= r.status_code < 500, r.status_code


class TestDaysInQueries:
    """A clinic day is YYYY-MM-DD between 1900 and 2200: its bounds in the clinic's time zone
    must still be datetimes (0001-01-01 overflowed into a 500), and a number of seconds is not
    a day (pydantic would read "0.0" as 1970-01-01)."""

    @pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "0.0", "1700000000", "1899-12-31"])
    @pytest.mark.parametrize("path", ["/api/v1/sessions", "/api/v1/registry/reminders"])
    async def test_refused_naming_the_parameter(self, raw, nurse_headers, path, day):
        r = await raw.get(path, params={"day": day}, headers=nurse_headers)
        body = assert_error(r, 422, "ValidationError")
        assert [e["field"] for e in body["errors"]] == ["query.day"]

    @pytest.mark.parametrize("path", ["/api/v1/sessions", "/api/v1/registry/reminders"])
    async def test_a_plain_day_is_taken(self, raw, nurse_headers, path):
        r = await raw.get(path, params={"day": "2026-11-23"}, headers=nurse_headers)
        assert r.status_code == 200, r.text


class TestRoutingErrors:
    @pytest.mark.parametrize("path", ["/api/v1/nope", "/nope", "/api/v2/patients"])
    async def test_unknown_route_is_404_json(self, raw, path):
        r = await raw.get(path)
        assert_error(r, 404, "NotFound")

    @pytest.mark.parametrize(
        ("method", "path"), [("DELETE", LOGIN), ("GET", LOGIN), ("PUT", "/healthz")]
    )
    async def test_wrong_method_is_405(self, raw, method, path):
        r = await raw.request(method, path)
        assert_error(r, 405, "MethodNotAllowed")

    async def test_non_uuid_patient_id_is_422_naming_it(self, raw, nurse_headers):
        r = await raw.get(f"{PATIENTS}/not-a-uuid", headers=nurse_headers)
        body = assert_error(r, 422, "ValidationError")
        assert "path.patient_id" in body["detail"]

    async def test_non_uuid_device_id_is_422_naming_it(self, raw, admin_headers):
        r = await raw.get(f"{DEVICES}/123/status", headers=admin_headers)
        body = assert_error(r, 422, "ValidationError")
        assert "path.device_id" in body["detail"]


def _security_headers_ok(r: httpx.Response) -> None:
    csp = r.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "script-src" in csp or "default-src" in csp
    assert r.headers.get("X-Content-Type-Options") == "nosniff"
    assert r.headers.get("Referrer-Policy")
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", r.headers.get("X-Request-ID", ""))


class TestHeadersOnEveryResponse:
    @pytest.mark.parametrize(
        ("method", "path", "content", "status"),
        [
            ("GET", "/healthz", None, 200),
            ("GET", "/api/v1/nope", None, 404),
            ("DELETE", LOGIN, None, 405),
            ("POST", LOGIN, b"{", 422),
            ("GET", "/api/v1/auth/me", None, 401),
            ("POST", LOGIN, b"x" * (2 * MiB + 1), 413),
        ],
    )
    async def test_security_headers_and_request_id(self, raw, method, path, content, status):
        r = await raw.request(method, path, content=content, headers=JSON)
        assert r.status_code == status
        _security_headers_ok(r)

    async def test_an_unexpected_error_has_them_and_does_not_leak_the_exception(self, app, raw):
        async def broken() -> None:
            raise RuntimeError("secret internals: Kari Nordmann")

        app.add_api_route("/test-only/broken", broken)
        r = await raw.get("/test-only/broken")
        assert r.status_code == 500
        _security_headers_ok(r)
        assert "secret internals" not in r.text
        assert "Kari" not in r.text

    async def test_forbidden_response_has_them_too(self, raw, nurse_headers):
        r = await raw.get("/api/v1/users", headers=nurse_headers)
        assert r.status_code == 403
        _security_headers_ok(r)

    async def test_a_valid_client_request_id_is_echoed(self, raw):
        r = await raw.get("/healthz", headers={"X-Request-ID": "gw-1234.abc_DEF"})
        assert r.headers["X-Request-ID"] == "gw-1234.abc_DEF"

    @pytest.mark.parametrize("sent", ["has spaces in it", "x" * 65, "<script>", "a;b"])
    async def test_an_invalid_client_request_id_is_replaced(self, raw, sent):
        r = await raw.get("/healthz", headers={"X-Request-ID": sent})
        assert r.headers["X-Request-ID"] != sent
        assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", r.headers["X-Request-ID"])

    async def test_each_request_gets_its_own_id(self, raw):
        ids = {(await raw.get("/healthz")).headers["X-Request-ID"] for _ in range(3)}
        assert len(ids) == 3


# --- Property: whatever JSON arrives, the answer is never a 5xx. ----------------------------------

# Characters that trip databases and parsers up (PostgreSQL refuses NUL; a lone surrogate cannot be
# encoded as UTF-8), mixed into a third of the generated strings.
awkward_chars = st.characters() | st.sampled_from(
    ["\x00", "\x1f", "\x7f", "\ud800", "\udfff", "\u2028", "\ufeff"]
)


def texts(min_size: int = 0, max_size: int = 30) -> st.SearchStrategy[str]:
    plain = st.text(min_size=min_size, max_size=max_size)
    # Joined lists, not st.text(awkward_chars): st.text drops surrogates and flattens the mix.
    awkward = st.lists(awkward_chars, min_size=min_size, max_size=max_size).map("".join)
    return st.sampled_from([plain, plain, awkward]).flatmap(lambda strategy: strategy)


def mostly(
    plausible: st.SearchStrategy[object], odd: st.SearchStrategy[object]
) -> st.SearchStrategy[object]:
    """Seven in eight draws plausible, so whole bodies pass validation and reach the database."""
    # Not st.one_of(*[plausible] * 7, odd): hypothesis collapses the repeated branch.
    return st.sampled_from([*[plausible] * 7, odd]).flatmap(lambda strategy: strategy)


json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and ±Infinity too: json.dumps writes them and the server's parser reads them
    | texts()
)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(texts(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
offsets = st.sampled_from(
    [
        UTC,
        timezone(timedelta(hours=14)),
        timezone(timedelta(hours=-12)),
        timezone(timedelta(hours=5, minutes=30)),
    ]
)
measured_ats = mostly(
    # Hypothesis takes naive bounds and attaches the time zone itself.
    st.datetimes(datetime(2025, 1, 1), datetime(2026, 11, 23, 8), timezones=offsets),  # noqa: DTZ001
    # Any year, naive, and the ends of the calendar (where converting to UTC overflows).
    st.datetimes(timezones=offsets)
    | st.datetimes()
    | st.sampled_from(
        [
            datetime.min.replace(tzinfo=timezone(timedelta(hours=14))),
            datetime.max.replace(tzinfo=timezone(timedelta(hours=-12))),
        ]
    ),
).map(datetime.isoformat)
birth_dates = mostly(st.dates(date(1907, 1, 1), date(2026, 11, 23)), st.dates()).map(date.isoformat)
weights_kg = mostly(
    st.decimals(Decimal("0.1"), Decimal(500), places=1).map(str),
    st.decimals().map(str) | st.floats() | st.integers(),
)


def objects(fields: dict[str, st.SearchStrategy[object]]) -> st.SearchStrategy[object]:
    """Bodies for an endpoint: well-typed (every field, so the service and database are reached),
    loosely typed (any subset of the fields, any JSON values), with extra fields, or any JSON."""
    typed = st.fixed_dictionaries(fields)
    loose = st.fixed_dictionaries(
        {}, optional={name: strategy | json_values for name, strategy in fields.items()}
    )
    extra = st.dictionaries(texts(max_size=12), json_values, min_size=1, max_size=2)
    with_extra = st.builds(lambda a, b: {**b, **a}, typed, extra)
    return st.sampled_from([typed, typed, typed, loose, with_extra, json_values]).flatmap(
        lambda strategy: strategy
    )


login_bodies = objects(
    {"username": texts(min_size=1, max_size=40), "password": texts(min_size=1, max_size=40)}
)
patient_bodies = objects(
    {
        "mrn": texts(min_size=1, max_size=70),
        "name": texts(min_size=1, max_size=210),
        "birth_date": birth_dates,
        "sex": mostly(st.sampled_from(["female", "male", "other", "unknown"]), texts(max_size=10)),
        "weight": mostly(
            st.fixed_dictionaries({"weight_kg": weights_kg, "measured_at": measured_ats}),
            st.none() | json_values,
        ),
    }
)
device_bodies = objects(
    {
        "name": texts(min_size=1, max_size=110),
        "chair_id": st.none() | st.uuids().map(str),
    }
)

PROPERTY = hypothesis_settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


async def assert_no_server_error(
    client: httpx.AsyncClient, path: str, body: object, headers: dict[str, str]
) -> None:
    # json.dumps, not httpx's json=: NaN and Infinity must reach the server.
    content = json.dumps(body).encode()  # ASCII: non-ASCII as escapes, lone surrogates too
    r = await client.post(path, content=content, headers={**JSON, **headers})
    assert r.status_code < 500, f"{r.status_code} for {content[:300]!r}: {r.text[:300]}"
    if r.status_code >= 400:
        assert {"error", "detail"} <= r.json().keys()


class TestAnyJsonIsAnsweredWithoutA500:
    @PROPERTY
    @given(body=login_bodies)
    async def test_login(self, raw, body):
        await assert_no_server_error(raw, LOGIN, body, {})

    @PROPERTY
    @given(body=patient_bodies)
    async def test_create_patient(self, raw, nurse_headers, body):
        await assert_no_server_error(raw, PATIENTS, body, nurse_headers)

    @PROPERTY
    @given(body=device_bodies)
    async def test_create_device(self, raw, admin_headers, body):
        await assert_no_server_error(raw, DEVICES, body, admin_headers)
