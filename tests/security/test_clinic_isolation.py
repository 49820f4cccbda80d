"""Clinic isolation: the nurse, physician and admin of clinic A get 404 or 403 on every route
that addresses one of clinic B's resources (every method of every route of the OpenAPI
document with path parameters, filled with B's real ids), B's data shows up in none of A's
lists, creating in A with B's ids is refused, and not one of B's rows changes."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import app.models_registry  # noqa: F401  (every table in Base.metadata)
from app.core.db import Base
from tests.fixtures.clock import FakeClock
from tests.fixtures.factories import (
    PASSWORD,
    bearer,
    device_auth,
    make_approved_protocol,
    make_chair,
    make_clinic,
    make_device,
    make_eligible_patient,
    make_user,
)
from tests.fixtures.sessions import CADSS_ZERO, Flow, vitals_check
from tests.registry.test_api import PHQ9_ITEMS
from tests.security.conftest import api_routes, fill, page_routes, path_params, record_figures
from tests.web.test_pages import browser_login

ROLES = ("nurse", "physician", "admin")
REFUSED = (403, 404)


def spo2(prefix: str, clock: FakeClock, seconds: int, value: float) -> list[dict[str, Any]]:
    start = clock.now()
    return [
        {
            "id": f"{prefix}-{i}",
            "metric": "spo2",
            "value": value,
            "unit": "%",
            "observed_at": (start + timedelta(seconds=i)).isoformat(),
        }
        for i in range(seconds + 1)
    ]


async def clinic_b(
    db: AsyncSession, client: httpx.AsyncClient, clock: FakeClock, settings
) -> dict[str, Any]:
    """Clinic B with one of everything: staff, chair, monitor, patient with a signed
    screening, an infusing session with readings, an active alarm and a check-in scale."""
    clinic = await make_clinic(db, "Clinic B")
    protocol = await make_approved_protocol(db, clinic)
    chair = await make_chair(db, clinic, "B chair")
    device, key = await make_device(db, clinic, chair, "B monitor")
    nurse = await make_user(db, clinic, "nurse")
    physician = await make_user(db, clinic, "physician")
    await make_user(db, clinic, "admin")
    patient = await make_eligible_patient(db, clinic)
    flow = Flow(client, clock, (nurse, physician), settings, protocol)
    session_id = await flow.started(patient, chair, device)
    clock.advance(seconds=5)
    r = await client.post(
        "/api/v1/vitals", json={"readings": spo2("b", clock, 20, 85)}, headers=device_auth(key)
    )
    assert r.status_code == 200, r.text
    clock.advance(seconds=25)
    nurse_auth = bearer(nurse, settings, now=clock.now())
    alarms = (await client.get(f"/api/v1/sessions/{session_id}/alarms", headers=nurse_auth)).json()
    assert alarms["items"], "clinic B should have an active alarm"
    readings = (
        await client.get(f"/api/v1/sessions/{session_id}/vitals", headers=nurse_auth)
    ).json()
    screenings = await client.get(f"/api/v1/patients/{patient.id}/screenings", headers=nurse_auth)
    reading_id = readings["items"][0]["id"]
    return {
        "clinic": clinic,
        "patient": patient,
        "device_key": key,
        "ids": {
            "user_id": str(nurse.id),
            "chair_id": str(chair.id),
            "device_id": str(device.id),
            "patient_id": str(patient.id),
            "protocol_id": str(protocol.id),
            "other_id": str(protocol.id),
            "screening_id": screenings.json()["items"][0]["id"],
            "session_id": session_id,
            "scale_id": "cadss",
            "reading_id": reading_id,
            "alarm_id": alarms["items"][0]["id"],
            "observation_id": reading_id,
        },
    }


# Bodies that would be accepted if the resource were A's own: a refusal is then about the
# clinic, not about a malformed request (422).
def bodies(
    ids: dict[str, Any], clock: FakeClock, a_ids: dict[str, str]
) -> dict[tuple[str, str], Any]:
    now = clock.now()
    today = now.date().isoformat()
    vitals_in = {
        "taken_at": now.isoformat(),
        "sbp_mmhg": 120,
        "dbp_mmhg": 80,
        "hr_bpm": 70,
        "spo2_pct": 98,
        "rr_per_min": 14,
    }
    return {
        ("PATCH", "/api/v1/chairs/{chair_id}"): {"name": "taken over"},
        ("PATCH", "/api/v1/devices/{device_id}"): {"name": "taken over"},
        ("POST", "/api/v1/devices/{device_id}/revoke"): {"reason": "taken over"},
        ("PUT", "/api/v1/devices/{device_id}/profile"): {"message_format": "json"},
        ("PATCH", "/api/v1/patients/{patient_id}"): {"name": "Taken Over"},
        ("POST", "/api/v1/patients/{patient_id}/weights"): {
            "weight_kg": "80.0",
            "measured_at": now.isoformat(),
        },
        ("POST", "/api/v1/patients/{patient_id}/course/scales"): {
            "scale_id": "phq9",
            "timepoint": "baseline",
            "taken_date": today,
            "answers": dict.fromkeys(PHQ9_ITEMS, 0),
        },
        ("POST", "/api/v1/patients/{patient_id}/liver-tests"): {"sample_date": today},
        ("POST", "/api/v1/patients/{patient_id}/evaluations"): {
            "kind": "mid_course",
            "evaluation_date": today,
            "clinician": "A",
            "summary": "taken over",
            "recommendation": "none",
        },
        ("POST", "/api/v1/protocols/{protocol_id}/approve"): {"password": PASSWORD},
        ("POST", "/api/v1/protocols/{protocol_id}/dose-preview"): {"weight_kg": 70},
        ("POST", "/api/v1/screenings/{screening_id}/sign"): {
            "password": PASSWORD,
            "decision": "eligible",
        },
        ("POST", "/api/v1/sessions/{session_id}/check-in"): {"device_id": a_ids["device_id"]},
        ("POST", "/api/v1/sessions/{session_id}/monitor"): {
            "device_id": a_ids["device_id"],
            "reason": "taken over",
        },
        ("POST", "/api/v1/sessions/{session_id}/pre-vitals"): vitals_in,
        ("POST", "/api/v1/sessions/{session_id}/physician-ack"): {"password": PASSWORD},
        ("POST", "/api/v1/sessions/{session_id}/pause"): {"reason": "taken over"},
        ("POST", "/api/v1/sessions/{session_id}/stop"): {"reason": "taken over"},
        ("POST", "/api/v1/sessions/{session_id}/cancel"): {"reason": "taken over"},
        ("POST", "/api/v1/sessions/{session_id}/change-rate"): {
            "rate_mg_per_h": "10",
            "reason": "taken over",
        },
        ("POST", "/api/v1/sessions/{session_id}/drug"): {
            "lot": "K1",
            "prepared_ml": "100.0",
            "wasted_ml": "0.0",
            "witness_user_id": a_ids["user_id"],
        },
        ("POST", "/api/v1/sessions/{session_id}/discharge"): {
            "password": PASSWORD,
            "escort_present": True,
            "advice_no_driving_given": True,
            "advice_no_alcohol_given": True,
        },
        ("POST", "/api/v1/sessions/{session_id}/vitals"): {
            "readings": [
                {"metric": "hr", "value": 70, "unit": "/min", "observed_at": now.isoformat()}
            ]
        },
        ("POST", "/api/v1/sessions/{session_id}/vitals-check"): vitals_check(now),
        ("POST", "/api/v1/sessions/{session_id}/scales/{scale_id}"): {"answers": CADSS_ZERO},
        ("POST", "/api/v1/sessions/{session_id}/side-effects"): {"note": "taken over"},
        ("POST", "/api/v1/sessions/{session_id}/adverse-events"): {
            "term": "Nausea",
            "grade": 1,
            "serious": False,
            "outcome": "resolved",
            "onset_at": now.isoformat(),
        },
        ("POST", "/api/v1/alarms/{alarm_id}/ack"): {"note": "taken over"},
        ("POST", "/api/v1/alarms/{alarm_id}/silence"): {"reason": "taken over"},
        ("POST", "/api/v1/readings/{reading_id}/exclude"): {
            "reason": "taken over",
            "kind": "artefact",
        },
    }


async def snapshot(db: AsyncSession) -> dict[str, dict[str, str]]:
    """Every row of every table, by primary key, as text."""
    db.expunge_all()
    out: dict[str, dict[str, str]] = {}
    for table in Base.metadata.sorted_tables:
        rows = (await db.execute(select(table))).mappings().all()
        key_columns = [c.name for c in table.primary_key.columns]
        out[table.name] = {
            json.dumps([str(row[k]) for k in key_columns]): json.dumps(
                {k: str(v) for k, v in row.items()}, sort_keys=True
            )
            for row in rows
        }
    return out


# What A's own activity adds: its audit rows and its browser sessions (new rows only).
A_WRITES = frozenset({"audit_log", "browser_session"})


def changes(
    before: dict[str, dict[str, str]], after: dict[str, dict[str, str]], b_clinic_id: str
) -> list[str]:
    """Rows added, changed or removed, except new rows of A's own activity."""
    out: list[str] = []
    for table, rows in after.items():
        old = before[table]
        for key in old.keys() | rows.keys():
            was, now = old.get(key), rows.get(key)
            if was == now:
                continue
            if table in A_WRITES and was is None and now is not None and b_clinic_id not in now:
                continue
            out.append(f"{table} {key}: {was} -> {now}")
    return out


@pytest.mark.timeout(180)
async def test_clinic_a_staff_can_do_nothing_in_clinic_b(
    app: FastAPI, client: httpx.AsyncClient, db: AsyncSession, clock: FakeClock, settings
) -> None:
    b = await clinic_b(db, client, clock, settings)
    clinic_a = await make_clinic(db, "Clinic A")
    chair_a = await make_chair(db, clinic_a, "A chair")
    device_a, _ = await make_device(db, clinic_a, chair_a, "A monitor")
    protocol_a = await make_approved_protocol(db, clinic_a)
    staff_a = {role: await make_user(db, clinic_a, role) for role in ROLES}
    ids = b["ids"]
    b_markers = [str(v) for k, v in ids.items() if k != "scale_id"] + [
        b["patient"].name,
        b["patient"].mrn,
        str(b["clinic"].id),
    ]
    body_for = bodies(
        ids, clock, {"device_id": str(device_a.id), "user_id": str(staff_a["nurse"].id)}
    )
    await db.commit()
    before = await snapshot(db)

    addressed = [r for r in api_routes(app) if path_params(r[1])]
    assert len(addressed) > 50
    wrong: list[str] = []
    checked = 0
    for role in ROLES:
        auth = bearer(staff_a[role], settings, now=clock.now())
        for method, path in addressed:
            kwargs: dict[str, Any] = {}
            if method in {"POST", "PUT", "PATCH"}:
                kwargs["json"] = body_for.get((method, path), {})
            r = await client.request(method, fill(path, ids), headers=auth, **kwargs)
            checked += 1
            leaked = [m for m in b_markers if m in r.text and m not in fill(path, ids)]
            if r.status_code not in REFUSED or leaked:
                wrong.append(f"{role} {method} {path}: {r.status_code} {r.text[:160]}")
    assert not wrong, "\n".join(wrong)

    # Lists and exports: nothing of B in any of A's answers.
    listed = [r for r in api_routes(app) if r[0] == "GET" and not path_params(r[1])]
    for role in ROLES:
        auth = bearer(staff_a[role], settings, now=clock.now())
        for _, path in listed:
            r = await client.get(path, headers=auth)
            checked += 1
            assert r.status_code < 500, (path, r.status_code)
            leaked = [m for m in b_markers if m in r.text]
            if leaked:
                at = r.text.index(leaked[0])
                wrong.append(f"{role} GET {path}: shows {leaked}: ...{r.text[at - 600 : at + 200]}")
    # Searches naming B's patient or session (after the lists: A's audit of these searches
    # rightly records the ids A sent).
    for role in ROLES:
        auth = bearer(staff_a[role], settings, now=clock.now())
        for query in (
            f"/fhir/Observation?subject=Patient/{ids['patient_id']}",
            f"/fhir/Observation?encounter={ids['session_id']}",
            f"/api/v1/sessions?patient_id={ids['patient_id']}",
            f"/api/v1/patients?q={b['patient'].mrn}",
        ):
            r = await client.get(query, headers=auth)
            checked += 1
            shown = [m for m in b_markers if m in r.text and m not in query]
            if r.status_code >= 500 or (r.status_code < 400 and shown):
                wrong.append(f"{role} GET {query}: {r.status_code} shows {shown}")
    assert not wrong, "\n".join(wrong)

    # The server-rendered pages addressing B's resources, with A's browser sessions.
    pages = [p for p in page_routes(app) if path_params(p) and p != "/admin/{page}"]
    assert len(pages) >= 5, pages
    for role in ROLES:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.60", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as page:
            assert (await browser_login(page, staff_a[role].username)).status_code == 303
            for path in pages:
                r = await page.get(fill(path, ids))
                checked += 1
                shown = [m for m in b_markers if m in r.text and m not in fill(path, ids)]
                if r.status_code not in REFUSED or shown:
                    wrong.append(f"{role} page {path}: {r.status_code} shows {shown}")
    assert not wrong, "\n".join(wrong)

    # Creating in A with B's resources in the body.
    nurse_a = bearer(staff_a["nurse"], settings, now=clock.now())
    admin_a = bearer(staff_a["admin"], settings, now=clock.now())
    by_body = [
        (
            "POST",
            "/api/v1/sessions",
            nurse_a,
            {
                "patient_id": ids["patient_id"],
                "chair_id": str(chair_a.id),
                "protocol_id": str(protocol_a.id),
                "scheduled_for": clock.now().isoformat(),
            },
        ),
        (
            "POST",
            "/api/v1/devices",
            admin_a,
            {"name": "A second monitor", "chair_id": ids["chair_id"]},
        ),
        ("PATCH", f"/api/v1/devices/{device_a.id}", admin_a, {"chair_id": ids["chair_id"]}),
        ("POST", "/api/v1/users/" + ids["user_id"] + "/deactivate", admin_a, None),
    ]
    for method, url, auth, body in by_body:
        r = await client.request(method, url, headers=auth, json=body)
        checked += 1
        if r.status_code not in (*REFUSED, 409, 422):
            wrong.append(f"{method} {url} with B's ids: {r.status_code} {r.text[:160]}")
    assert not wrong, "\n".join(wrong)

    after = await snapshot(db)
    changed = changes(before, after, str(b["clinic"].id))
    assert not changed, "clinic B changed:\n" + "\n".join(changed[:20])
    record_figures(
        "clinic_isolation",
        {
            "routes_with_path_params": len(addressed),
            "list_routes": len(listed),
            "page_routes_with_path_params": len(pages),
            "roles": len(ROLES),
            "requests_refused_or_clean": checked,
            "tables_compared": len(after),
            "rows_compared": sum(len(v) for v in after.values()),
        },
    )
    assert uuid.UUID(ids["session_id"])
