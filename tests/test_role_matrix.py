"""Every route in the OpenAPI document, with the roles allowed to call it.

A new route fails this test until it is listed here: authorization is decided on purpose.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.fixtures.factories import bearer, device_auth, make_clinic, make_device, make_user

ANON, NURSE, PHYS, ADMIN, DEVICE = "anonymous", "nurse", "physician", "admin", "device"
EVERYONE = frozenset({ANON, NURSE, PHYS, ADMIN, DEVICE})
STAFF = frozenset({NURSE, PHYS, ADMIN})
CLINICAL = frozenset({NURSE, PHYS})

MATRIX: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/healthz"): EVERYONE,
    ("GET", "/readyz"): EVERYONE,
    ("GET", "/metrics"): EVERYONE,
    ("POST", "/api/v1/auth/login"): EVERYONE,
    ("POST", "/api/v1/auth/logout"): STAFF,
    ("GET", "/api/v1/auth/me"): STAFF,
    ("GET", "/api/v1/users"): frozenset({ADMIN}),
    ("POST", "/api/v1/users"): frozenset({ADMIN}),
    ("POST", "/api/v1/users/{user_id}/deactivate"): frozenset({ADMIN}),
    ("GET", "/api/v1/clinic"): STAFF,
    ("GET", "/api/v1/chairs"): STAFF,
    ("POST", "/api/v1/chairs"): frozenset({ADMIN}),
    ("PATCH", "/api/v1/chairs/{chair_id}"): frozenset({ADMIN}),
    ("GET", "/api/v1/devices/me"): frozenset({DEVICE}),
    ("GET", "/api/v1/devices"): frozenset({ADMIN, NURSE}),
    ("POST", "/api/v1/devices"): frozenset({ADMIN}),
    ("PATCH", "/api/v1/devices/{device_id}"): frozenset({ADMIN}),
    ("POST", "/api/v1/devices/{device_id}/rotate"): frozenset({ADMIN}),
    ("POST", "/api/v1/devices/{device_id}/revoke"): frozenset({ADMIN}),
    ("GET", "/api/v1/devices/{device_id}/status"): frozenset({ADMIN, NURSE}),
    ("GET", "/api/v1/patients"): CLINICAL,
    ("POST", "/api/v1/patients"): CLINICAL,
    ("GET", "/api/v1/patients/{patient_id}"): CLINICAL,
    ("PATCH", "/api/v1/patients/{patient_id}"): CLINICAL,
    ("POST", "/api/v1/patients/{patient_id}/weights"): CLINICAL,
    ("GET", "/api/v1/protocols"): STAFF,
    ("POST", "/api/v1/protocols"): frozenset({ADMIN}),
    ("GET", "/api/v1/protocols/{protocol_id}"): STAFF,
    ("GET", "/api/v1/protocols/{protocol_id}/diff/{other_id}"): STAFF,
    ("POST", "/api/v1/protocols/{protocol_id}/approve"): frozenset({PHYS, ADMIN}),
    ("POST", "/api/v1/protocols/{protocol_id}/dose-preview"): STAFF,
    ("POST", "/api/v1/patients/{patient_id}/screenings"): CLINICAL,
    ("GET", "/api/v1/patients/{patient_id}/screenings"): CLINICAL,
    ("GET", "/api/v1/patients/{patient_id}/eligibility"): CLINICAL,
    ("GET", "/api/v1/screenings/{screening_id}"): CLINICAL,
    ("PUT", "/api/v1/screenings/{screening_id}"): CLINICAL,
    ("POST", "/api/v1/screenings/{screening_id}/sign"): frozenset({PHYS}),
    ("GET", "/api/v1/audit"): frozenset({ADMIN}),
    ("POST", "/api/v1/vitals"): frozenset({DEVICE}),
    ("POST", "/api/v1/sessions/{session_id}/vitals"): CLINICAL,
    ("GET", "/api/v1/sessions/{session_id}/vitals"): CLINICAL,
    ("POST", "/api/v1/readings/{reading_id}/exclude"): CLINICAL,
    ("POST", "/api/v1/sessions"): CLINICAL,
    ("GET", "/api/v1/sessions"): CLINICAL,
    ("GET", "/api/v1/sessions/{session_id}"): CLINICAL,
    ("POST", "/api/v1/sessions/{session_id}/check-in"): CLINICAL,
    ("POST", "/api/v1/sessions/{session_id}/monitor"): CLINICAL,
    ("POST", "/api/v1/sessions/{session_id}/pre-vitals"): CLINICAL,
    ("POST", "/api/v1/sessions/{session_id}/physician-ack"): frozenset({PHYS}),
    ("POST", "/api/v1/sessions/{session_id}/start"): CLINICAL,
    ("POST", "/api/v1/sessions/{session_id}/pause"): CLINICAL,
    ("POST", "/api/v1/sessions/{session_id}/resume"): CLINICAL,
    ("POST", "/api/v1/sessions/{session_id}/change-rate"): CLINICAL,
    ("POST", "/api/v1/sessions/{session_id}/stop"): CLINICAL,
    ("POST", "/api/v1/sessions/{session_id}/complete"): CLINICAL,
    ("POST", "/api/v1/sessions/{session_id}/cancel"): CLINICAL,
    ("POST", "/api/v1/sessions/{session_id}/drug"): CLINICAL,
    ("POST", "/api/v1/sessions/{session_id}/scales/{scale_id}"): CLINICAL,
    ("POST", "/api/v1/sessions/{session_id}/vitals-check"): CLINICAL,
    ("POST", "/api/v1/sessions/{session_id}/discharge"): frozenset({PHYS}),
    ("POST", "/api/v1/sessions/{session_id}/side-effects"): CLINICAL,
    ("POST", "/api/v1/sessions/{session_id}/adverse-events"): CLINICAL,
    ("GET", "/api/v1/sessions/{session_id}/registry"): CLINICAL,
    ("GET", "/api/v1/sessions/{session_id}/summary"): CLINICAL,
    ("GET", "/api/v1/sessions/{session_id}/summary.pdf"): CLINICAL,
    ("GET", "/api/v1/sessions/{session_id}/summary.fhir"): CLINICAL,
    ("POST", "/api/v1/patients/{patient_id}/course/scales"): CLINICAL,
    ("POST", "/api/v1/patients/{patient_id}/liver-tests"): CLINICAL,
    ("POST", "/api/v1/patients/{patient_id}/evaluations"): frozenset({PHYS}),
    ("GET", "/api/v1/patients/{patient_id}/course"): CLINICAL,
    ("GET", "/api/v1/registry/export"): frozenset({PHYS, ADMIN}),
    ("GET", "/api/v1/registry/report"): frozenset({PHYS, ADMIN}),
    ("GET", "/api/v1/registry/reminders"): CLINICAL,
    ("GET", "/api/v1/alarms"): STAFF,
    ("GET", "/api/v1/sessions/{session_id}/alarms"): STAFF,
    ("POST", "/api/v1/alarms/{alarm_id}/ack"): CLINICAL,
    ("POST", "/api/v1/alarms/{alarm_id}/silence"): CLINICAL,
    ("POST", "/api/v1/hl7"): frozenset({DEVICE}),
    ("GET", "/api/v1/devices/{device_id}/profile"): frozenset({ADMIN, NURSE}),
    ("PUT", "/api/v1/devices/{device_id}/profile"): frozenset({ADMIN}),
    ("GET", "/api/v1/devices/{device_id}/unmapped-codes"): frozenset({ADMIN, NURSE}),
    ("GET", "/fhir/metadata"): EVERYONE,
    ("POST", "/fhir"): frozenset({DEVICE, ADMIN, NURSE}),
    ("POST", "/fhir/Observation"): frozenset({DEVICE}),
    ("GET", "/fhir/Observation"): STAFF,
    ("GET", "/fhir/Observation/{observation_id}"): STAFF,
    ("POST", "/fhir/Patient"): frozenset({ADMIN, NURSE}),
}

PATH_PARAMS = (
    "user_id",
    "chair_id",
    "device_id",
    "patient_id",
    "protocol_id",
    "other_id",
    "screening_id",
    "session_id",
    "scale_id",
    "reading_id",
    "alarm_id",
    "observation_id",
)


def openapi_routes(app) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }


def test_every_route_is_in_the_matrix(app):
    routes = openapi_routes(app)
    unlisted = sorted(routes - MATRIX.keys())
    stale = sorted(MATRIX.keys() - routes)
    assert not unlisted, f"routes missing from the role matrix: {unlisted}"
    assert not stale, f"matrix lists routes that no longer exist: {stale}"


async def test_each_role_is_allowed_or_refused_as_listed(
    app, client: httpx.AsyncClient, db, settings
):
    clinic = await make_clinic(db)
    headers = {ANON: {}, DEVICE: device_auth((await make_device(db, clinic))[1])}
    for role in (NURSE, PHYS, ADMIN):
        headers[role] = bearer(await make_user(db, clinic, role), settings)
    wrong: list[str] = []
    for (method, path), allowed in sorted(MATRIX.items()):
        url = path.format(**{name: uuid.uuid4() for name in PATH_PARAMS})
        for role, auth in headers.items():
            if (method, path) == ("POST", "/api/v1/auth/logout"):
                continue  # would end the token used by the later checks; covered in test_login
            kwargs = {"json": {}} if method in {"POST", "PATCH", "PUT"} else {}
            r = await client.request(method, url, headers=auth, **kwargs)
            refused = r.status_code in (401, 403)
            if (role in allowed) == refused:
                wrong.append(f"{method} {path} as {role}: {r.status_code} {r.text[:120]}")
            assert r.status_code < 500, f"{method} {path} as {role}: {r.status_code}"
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("role", [NURSE, PHYS, ADMIN])
async def test_logout_is_allowed_for_staff(client, db, settings, role):
    user = await make_user(db, await make_clinic(db), role)
    assert (
        await client.post("/api/v1/auth/logout", headers=bearer(user, settings))
    ).status_code == 204


async def test_logout_refuses_devices_and_anonymous(client, db):
    _, key = await make_device(db, await make_clinic(db))
    assert (await client.post("/api/v1/auth/logout", headers=device_auth(key))).status_code == 403
    assert (await client.post("/api/v1/auth/logout")).status_code == 401
