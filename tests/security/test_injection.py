"""SQL- and script-injection strings in every free-text field a user can write are stored
verbatim (read back equal through the API) and rendered inert on the pages (escaped in the
served HTML; in a real browser, shown as text with no dialog and no injected element).

The free-text fields are found in the OpenAPI request schemas (strings that are not dates, ids,
enums, numbers or patterned names); each must be written below or excluded with a reason, so a
new text field fails this test until it is covered."""

from __future__ import annotations

import html
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import markupsafe
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.patients.models import Patient
from tests.fixtures.clock import FakeClock
from tests.fixtures.factories import (
    DEFAULT_PROTOCOL,
    PASSWORD,
    bearer,
    device_auth,
    make_chair,
    make_device,
    make_eligible_patient,
    make_user,
    screening_body,
)
from tests.fixtures.sessions import Flow
from tests.security.conftest import record_figures
from tests.web.test_pages import browser_login

PAYLOADS = (
    "'); DROP TABLE patients;--",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
)
# The payloads' dangerous parts: none may reach a page unescaped.
RAW_MARKERS = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>")

# Strings in the request schemas that are not free text a user writes, and why.
NOT_FREE_TEXT: dict[str, str] = {
    "POST /api/v1/auth/login password": "a password: checked, never stored or shown",
    "POST /api/v1/auth/login username": "looked up, never stored",
    "POST /api/v1/users password": "stored as an Argon2 hash only",
    "POST /api/v1/users username": "pattern ^[A-Za-z0-9._@-]+$",
    "POST /api/v1/protocols/{protocol_id}/approve password": "a password re-entered to sign",
    "POST /api/v1/screenings/{screening_id}/sign password": "a password re-entered to sign",
    "POST /api/v1/sessions/{session_id}/physician-ack password": "a password re-entered to sign",
    "POST /api/v1/sessions/{session_id}/discharge password": "a password re-entered to sign",
    "POST /api/v1/screenings/{screening_id}/sign justifications.*": "keyed by finding code",
    "POST /api/v1/sessions/{session_id}/check-in checklist.[]": "item codes of the protocol",
    "POST /api/v1/sessions/{session_id}/scales/{scale_id} checkpoint_id": "a protocol checkpoint id",
    "POST /api/v1/sessions/{session_id}/vitals-check checkpoint_id": "a protocol checkpoint id",
    "POST /api/v1/patients/{patient_id}/course/scales scale_id": "a known scale id",
    "POST /api/v1/vitals readings.[].metric": "a known metric code",
    "POST /api/v1/vitals readings.[].unit": "a UCUM unit of the metric",
    "POST /api/v1/sessions/{session_id}/vitals readings.[].metric": "a known metric code",
    "POST /api/v1/sessions/{session_id}/vitals readings.[].unit": "a UCUM unit of the metric",
    "PUT /api/v1/devices/{device_id}/profile time_zone": "an IANA zone name",
    "PUT /api/v1/devices/{device_id}/profile allowed_addresses.[]": "IP addresses or networks",
    "PUT /api/v1/devices/{device_id}/profile code_map.*": "a metric code per device code",
    "PUT /api/v1/devices/{device_id}/profile unit_map.*": "a UCUM unit per device unit",
    "POST /api/v1/protocols content": "a TOML file: its text fields are written below",
}


def _free_text(schema: dict[str, Any], components: dict[str, Any]) -> list[str]:
    out: list[str] = []

    def resolve(s: dict[str, Any]) -> dict[str, Any]:
        return components[s["$ref"].split("/")[-1]] if "$ref" in s else s

    def walk(s: dict[str, Any], path: list[str]) -> None:
        s = resolve(s)
        if "anyOf" in s:
            kinds = [resolve(x).get("type") for x in s["anyOf"]]
            if "number" in kinds or "integer" in kinds:
                return  # a decimal sent as a number or a string
            for x in s["anyOf"]:
                walk(x, path)
            return
        if "properties" in s:
            for name, sub in s["properties"].items():
                walk(sub, [*path, name])
            if isinstance(s.get("additionalProperties"), dict):
                walk(s["additionalProperties"], [*path, "*"])
        elif isinstance(s.get("additionalProperties"), dict):
            walk(s["additionalProperties"], [*path, "*"])
        elif s.get("type") == "array":
            walk(s.get("items", {}), [*path, "[]"])
        elif (
            s.get("type") == "string"
            and "enum" not in s
            and "const" not in s
            and s.get("format") not in ("date", "date-time", "uuid", "binary")
        ):
            out.append(".".join(path))

    walk(schema, [])
    return out


def free_text_fields(app: FastAPI) -> set[str]:
    """ "METHOD path field" for every free-text string of every JSON request body."""
    doc = app.openapi()
    found: set[str] = set()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            content = op.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            if schema is not None:
                for field in _free_text(schema, doc["components"]["schemas"]):
                    found.add(f"{method.upper()} {path} {field}")
    return found


def contains(value: Any, wanted: str) -> bool:
    """Whether some string in the JSON document equals ``wanted`` exactly."""
    if isinstance(value, str):
        return value == wanted
    if isinstance(value, dict):
        return any(contains(v, wanted) for v in value.values())
    if isinstance(value, list):
        return any(contains(v, wanted) for v in value)
    return False


class Writer:
    """Writes each payload into each field through the API and reads it back."""

    def __init__(
        self, client: httpx.AsyncClient, flow: Flow, db: AsyncSession, clinic: Any, admin: Any
    ) -> None:
        self.client, self.flow, self.db, self.clinic, self.admin = client, flow, db, clinic, admin
        self.covered: set[str] = set()
        self.stored = 0
        self.problems: list[str] = []
        self.pages: dict[str, set[str]] = {}  # page URL -> payloads it should show

    @property
    def clock(self) -> FakeClock:
        return self.flow.clock

    def as_admin(self) -> dict[str, str]:
        return bearer(self.admin, self.flow.settings, now=self.clock.now())

    async def call(
        self, method: str, url: str, body: Any, headers: dict[str, str], ok: tuple[int, ...]
    ) -> dict[str, Any]:
        r = await self.client.request(method, url, json=body, headers=headers)
        assert r.status_code in ok, f"{method} {url}: {r.status_code} {r.text[:300]}"
        return dict(r.json()) if r.content else {}

    async def check(
        self, field: str, payload: str, read_url: str, headers: dict[str, str] | None = None
    ) -> None:
        """``field`` ("METHOD path field") holds ``payload``: read back equal."""
        self.covered.add(field)
        r = await self.client.get(read_url, headers=headers or self.flow.nurse)
        assert r.status_code == 200, f"{read_url}: {r.status_code} {r.text[:200]}"
        if contains(r.json(), payload):
            self.stored += 1
        else:
            self.problems.append(f"{field}: {payload!r} not read back from {read_url}")

    def shown_on(self, url: str, payload: str) -> None:
        self.pages.setdefault(url, set()).add(payload)


async def write_everything(w: Writer, payload: str, n: int) -> None:
    flow, clock, nurse, physician = w.flow, w.clock, w.flow.nurse, w.flow.physician
    admin = w.as_admin()

    # Staff, chairs, devices (admin).
    user = await w.call(
        "POST",
        "/api/v1/users",
        {"username": f"inj{n}", "role": "nurse", "password": PASSWORD, "display_name": payload},
        admin,
        (201,),
    )
    await w.check("POST /api/v1/users display_name", payload, "/api/v1/users", admin)
    w.shown_on("/admin/users", payload)
    chair = await w.call("POST", "/api/v1/chairs", {"name": payload}, admin, (201,))
    await w.check("POST /api/v1/chairs name", payload, "/api/v1/chairs", admin)
    w.shown_on("/board", payload)
    w.shown_on("/admin/chairs", payload)
    other_chair = await make_chair(w.db, w.clinic)
    await w.call(
        "PATCH", f"/api/v1/chairs/{other_chair.id}", {"name": payload + " 2"}, admin, (200,)
    )
    await w.check("PATCH /api/v1/chairs/{chair_id} name", payload + " 2", "/api/v1/chairs", admin)
    device = await w.call(
        "POST", "/api/v1/devices", {"name": payload, "chair_id": chair["id"]}, admin, (201,)
    )
    device_id = device["device"]["id"]
    await w.check("POST /api/v1/devices name", payload, "/api/v1/devices", admin)
    w.shown_on("/admin/devices", payload)
    spare, _ = await make_device(w.db, w.clinic)
    await w.call("PATCH", f"/api/v1/devices/{spare.id}", {"name": payload + " 2"}, admin, (200,))
    await w.check(
        "PATCH /api/v1/devices/{device_id} name", payload + " 2", "/api/v1/devices", admin
    )
    profile = {
        "message_format": "json",
        "model": payload,
        "sending_application": payload,
        "sending_facility": payload,
    }
    await w.call("PUT", f"/api/v1/devices/{device_id}/profile", profile, admin, (200,))
    for field in ("model", "sending_application", "sending_facility"):
        await w.check(
            f"PUT /api/v1/devices/{{device_id}}/profile {field}",
            payload,
            f"/api/v1/devices/{device_id}/profile",
            admin,
        )

    # Patients: created with the payload as name and MRN, another renamed to it.
    created = await w.call(
        "POST",
        "/api/v1/patients",
        {"mrn": payload, "name": payload, "birth_date": "1970-01-01", "sex": "female"},
        nurse,
        (201,),
    )
    for field in ("mrn", "name"):
        await w.check(
            f"POST /api/v1/patients {field}", payload, f"/api/v1/patients/{created['id']}"
        )
    w.shown_on(f"/patients/{created['id']}", payload)
    patient = await make_eligible_patient(w.db, w.clinic)
    await w.call(
        "PATCH",
        f"/api/v1/patients/{patient.id}",
        {"name": payload, "mrn": payload + " 2"},
        nurse,
        (200,),
    )
    await w.check(
        "PATCH /api/v1/patients/{patient_id} name", payload, f"/api/v1/patients/{patient.id}"
    )
    await w.check(
        "PATCH /api/v1/patients/{patient_id} mrn", payload + " 2", f"/api/v1/patients/{patient.id}"
    )

    # Screening: a medication's name, the signature's note.
    body = screening_body(clock.now() - timedelta(hours=1))
    body["medications"] = [{"name": payload, "classes": ["other"]}]
    screening = await w.call(
        "POST", f"/api/v1/patients/{created['id']}/screenings", body, nurse, (201,)
    )
    screening_id = screening["id"]
    await w.check(
        "POST /api/v1/patients/{patient_id}/screenings medications.[].name",
        payload,
        f"/api/v1/screenings/{screening_id}",
    )
    revised = await w.call("PUT", f"/api/v1/screenings/{screening_id}", body, nurse, (200, 201))
    screening_id = revised["id"]
    await w.check(
        "PUT /api/v1/screenings/{screening_id} medications.[].name",
        payload,
        f"/api/v1/screenings/{screening_id}",
    )
    await w.call(
        "POST",
        f"/api/v1/screenings/{screening_id}/sign",
        {"password": PASSWORD, "decision": "not_eligible", "note": payload},
        physician,
        (200,),
    )
    await w.check(
        "POST /api/v1/screenings/{screening_id}/sign note",
        payload,
        f"/api/v1/screenings/{screening_id}",
    )
    w.shown_on(f"/screenings/{screening_id}", payload)

    # Protocol: the file's name and description, and its file name.
    content = DEFAULT_PROTOCOL.read_text()
    content = content.replace('version = "1.0.0"', f'version = "9.{n}.0"', 1).replace(
        'name = "IV racemic ketamine 0.5 mg/kg over 40 min (default)"',
        f"name = {json.dumps(payload)}",
        1,
    )
    loaded = await w.call(
        "POST",
        "/api/v1/protocols",
        {"content": content, "filename": payload[:60]},
        admin,
        (201,),
    )
    protocol_id = loaded["id"]
    await w.check(
        "POST /api/v1/protocols filename", payload[:60], f"/api/v1/protocols/{protocol_id}"
    )
    w.covered.add("POST /api/v1/protocols content")
    await w.check("protocol file name", payload, f"/api/v1/protocols/{protocol_id}")
    w.shown_on(f"/protocols/{protocol_id}", payload)
    w.shown_on("/protocols", payload)

    # A session on the payload chair, with the payload monitor: reasons, notes, the lot.
    session_patient = await make_eligible_patient(w.db, w.clinic)
    chair_row = await w.db.get(type(other_chair), uuid.UUID(chair["id"]))
    device_row = await w.db.get(type(spare), uuid.UUID(device_id))
    session_id = await flow.started(session_patient, chair_row, device_row)
    await w.call(
        "PATCH", f"/api/v1/patients/{session_patient.id}", {"name": payload}, nurse, (200,)
    )
    w.shown_on(f"/sessions/{session_id}", payload)
    w.shown_on(f"/patients/{session_patient.id}", payload)
    s = f"/api/v1/sessions/{session_id}"
    clock.advance(minutes=2)
    await w.call("POST", f"{s}/pause", {"reason": payload}, nurse, (200,))
    await w.check("POST /api/v1/sessions/{session_id}/pause reason", payload, s)
    clock.advance(minutes=1)
    await w.call("POST", f"{s}/resume", {"reason": payload}, nurse, (200,))
    await w.check("POST /api/v1/sessions/{session_id}/resume reason", payload, s)
    clock.advance(minutes=1)
    await w.call(
        "POST", f"{s}/change-rate", {"rate_mg_per_h": "30", "reason": payload}, nurse, (200,)
    )
    await w.check("POST /api/v1/sessions/{session_id}/change-rate reason", payload, s)
    new_monitor, new_key = await make_device(w.db, w.clinic, chair_row)
    await w.call(
        "POST", f"{s}/monitor", {"device_id": str(new_monitor.id), "reason": payload}, nurse, (200,)
    )
    await w.check("POST /api/v1/sessions/{session_id}/monitor reason", payload, s)

    # Readings from the (old) payload-named monitor: source ids, an alarm.
    start = clock.now()
    readings = [
        {
            "id": f"{payload}-{i}",
            "metric": "spo2",
            "value": 85,
            "unit": "%",
            "observed_at": (start + timedelta(seconds=i)).isoformat(),
            "measurement_id": payload,
        }
        for i in range(21)
    ]
    r = await w.client.post(
        "/api/v1/vitals", json={"readings": readings}, headers=device_auth(new_key)
    )
    assert r.status_code == 200, r.text
    clock.advance(seconds=25)
    vitals_url = f"{s}/vitals"
    # The device's own reading id is not shown back; it is the de-duplication key, so the
    # same reading sent again is recognised only if the id was stored exactly.
    again = await w.client.post(
        "/api/v1/vitals", json={"readings": readings[:1]}, headers=device_auth(new_key)
    )
    assert again.status_code == 200, again.text
    w.covered.add("POST /api/v1/vitals readings.[].id")
    if again.json()["results"][0] == {**again.json()["results"][0], "id": readings[0]["id"]} and (
        again.json()["results"][0]["status"] == "duplicate"
    ):
        w.stored += 1
    else:
        w.problems.append(f"reading id {readings[0]['id']!r}: {again.json()['results']}")
    await w.check("POST /api/v1/vitals readings.[].measurement_id", payload, vitals_url)
    manual = {
        "readings": [
            {
                "metric": "hr",
                "value": 70,
                "unit": "/min",
                "observed_at": clock.now().isoformat(),
                "measurement_id": payload + " manual",
            }
        ]
    }
    await w.call("POST", vitals_url, manual, nurse, (200, 201))
    await w.check(
        "POST /api/v1/sessions/{session_id}/vitals readings.[].measurement_id",
        payload + " manual",
        vitals_url,
    )
    listed = (await w.client.get(vitals_url, headers=nurse)).json()
    reading_id = listed["items"][0]["id"]
    await w.call(
        "POST",
        f"/api/v1/readings/{reading_id}/exclude",
        {"reason": payload, "kind": "artefact"},
        nurse,
        (200, 201),
    )
    await w.check("POST /api/v1/readings/{reading_id}/exclude reason", payload, vitals_url)

    alarms = (await w.client.get(f"{s}/alarms", headers=nurse)).json()["items"]
    assert alarms, "SpO2 85 % for 20 s should have raised an alarm"
    alarm_id = alarms[0]["id"]
    await w.call("POST", f"/api/v1/alarms/{alarm_id}/silence", {"reason": payload}, nurse, (200,))
    await w.check("POST /api/v1/alarms/{alarm_id}/silence reason", payload, f"{s}/alarms")
    await w.call("POST", f"/api/v1/alarms/{alarm_id}/ack", {"note": payload}, nurse, (200,))
    await w.check("POST /api/v1/alarms/{alarm_id}/ack note", payload, f"{s}/alarms")

    # Registry entries of the session and the patient's course.
    await w.call("POST", f"{s}/side-effects", {"note": payload}, nurse, (200, 201))
    await w.check("POST /api/v1/sessions/{session_id}/side-effects note", payload, f"{s}/registry")
    await w.call(
        "POST",
        f"{s}/adverse-events",
        {
            "term": payload,
            "grade": 1,
            "serious": False,
            "outcome": "resolved",
            "onset_at": clock.now().isoformat(),
            "description": payload,
        },
        nurse,
        (200, 201),
    )
    for field in ("term", "description"):
        await w.check(
            f"POST /api/v1/sessions/{{session_id}}/adverse-events {field}",
            payload,
            f"{s}/registry",
        )
    course = f"/api/v1/patients/{session_patient.id}/course"
    await w.call(
        "POST",
        f"/api/v1/patients/{session_patient.id}/liver-tests",
        {"sample_date": clock.now().date().isoformat(), "alt_u_per_l": 30, "note": payload},
        nurse,
        (200, 201),
    )
    await w.check("POST /api/v1/patients/{patient_id}/liver-tests note", payload, course)
    await w.call(
        "POST",
        f"/api/v1/patients/{session_patient.id}/evaluations",
        {
            "kind": "mid_course",
            "evaluation_date": clock.now().date().isoformat(),
            "clinician": payload,
            "summary": payload,
            "recommendation": payload,
        },
        physician,
        (200, 201),
    )
    for field in ("clinician", "summary", "recommendation"):
        await w.check(f"POST /api/v1/patients/{{patient_id}}/evaluations {field}", payload, course)

    # Stop (a reason), then the drug record's lot; a second booking cancelled with a reason.
    await w.call("POST", f"{s}/stop", {"reason": payload}, nurse, (200,))
    await w.check("POST /api/v1/sessions/{session_id}/stop reason", payload, s)
    witness = await make_user(w.db, w.clinic, "nurse")
    await w.call(
        "POST",
        f"{s}/drug",
        {
            "lot": payload[:64],
            "prepared_ml": "100.0",
            "wasted_ml": "50.0",
            "witness_user_id": str(witness.id),
        },
        nurse,
        (200, 201),
    )
    await w.check("POST /api/v1/sessions/{session_id}/drug lot", payload[:64], s)
    booked = await flow.schedule(session_patient, chair_row, clock.now() + timedelta(days=3))
    await w.call("POST", f"/api/v1/sessions/{booked}/cancel", {"reason": payload}, nurse, (200,))
    await w.check(
        "POST /api/v1/sessions/{session_id}/cancel reason",
        payload,
        f"/api/v1/sessions/{booked}",
    )

    # Revoking a device with a reason: kept in the audit trail.
    await w.call("POST", f"/api/v1/devices/{spare.id}/revoke", {"reason": payload}, admin, (200,))
    await w.check(
        "POST /api/v1/devices/{device_id}/revoke reason", payload, "/api/v1/audit?limit=500", admin
    )
    assert user["display_name"] == payload


@pytest.mark.timeout(180)
async def test_injection_strings_are_stored_verbatim_and_rendered_inert(
    app: FastAPI,
    client: httpx.AsyncClient,
    db: AsyncSession,
    flow: Flow,
    clinic,
    settings,
) -> None:
    admin = await make_user(db, clinic, "admin")
    w = Writer(client, flow, db, clinic, admin)
    for n, payload in enumerate(PAYLOADS):
        await write_everything(w, payload, n)
    assert not w.problems, "\n".join(w.problems)

    fields = free_text_fields(app)
    unexplained = sorted(fields - w.covered - NOT_FREE_TEXT.keys())
    assert not unexplained, "free-text fields neither written nor excluded:\n" + "\n".join(
        unexplained
    )
    stale = sorted(NOT_FREE_TEXT.keys() - fields)
    assert not stale, f"exclusions that match no field: {stale}"

    # The SQL payload did nothing to the tables.
    assert await db.scalar(select(func.count()).select_from(Patient)) > 0
    assert (await db.execute(text("SELECT count(*) FROM patient"))).scalar_one() > 0

    # Every page that shows the payloads has them escaped, never raw.
    pages_checked = 0
    async with (
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("203.0.113.70", 50000)),
            base_url="http://testserver",
        ) as physician_browser,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("203.0.113.71", 50000)),
            base_url="http://testserver",
        ) as admin_browser,
    ):
        assert (
            await browser_login(physician_browser, flow.physician_user.username)
        ).status_code == 303
        assert (await browser_login(admin_browser, admin.username)).status_code == 303
        raw_found: list[str] = []
        missing: list[str] = []
        for url, shown in sorted(w.pages.items()):
            browser = admin_browser if url.startswith("/admin/") else physician_browser
            r = await browser.get(url)
            assert r.status_code == 200, (url, r.status_code)
            pages_checked += 1
            raw_found += [f"{url}: {m!r}" for m in RAW_MARKERS if m in r.text]
            for payload in shown:
                forms = {html.escape(payload), str(markupsafe.escape(payload))}
                if not any(f in r.text for f in forms):
                    missing.append(f"{url}: {payload!r} not shown (escaped)")
        for url in ("/schedule", "/registry/report", "/board"):
            r = await physician_browser.get(url)
            pages_checked += 1
            raw_found += [f"{url}: {m!r}" for m in RAW_MARKERS if m in r.text]
    assert not raw_found, "unescaped payloads:\n" + "\n".join(raw_found)
    assert not missing, "\n".join(missing)
    record_figures(
        "injection",
        {
            "payloads": len(PAYLOADS),
            "free_text_fields_in_schemas": len(fields),
            "fields_written": len((w.covered & fields) - NOT_FREE_TEXT.keys()),
            "fields_excluded": len(NOT_FREE_TEXT),
            "read_backs_equal": w.stored,
            "pages_checked": pages_checked,
        },
    )
