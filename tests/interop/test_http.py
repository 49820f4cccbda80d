"""POST /api/v1/hl7, the device-profile admin API and unmapped counts in the device status."""

from __future__ import annotations

from tests.fixtures.factories import bearer, device_auth, make_clinic, make_device, make_user
from tests.interop.live import errs, msa
from tests.interop.samples import er7

HL7 = {"Content-Type": "x-application/hl7-v2+er7"}


async def test_http_ack_after_commit_and_same_ack_for_the_same_msh10(client, db):
    clinic = await make_clinic(db)
    _, key = await make_device(db, clinic)
    headers = {**device_auth(key), **HL7}
    message = er7("pcd01_mindray_sentinel.hl7")
    r = await client.post("/api/v1/hl7", content=message, headers=headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("x-application/hl7-v2+er7")
    assert msa(r.text)[:2] == ["AA", "MR-7781"]
    assert len(errs(r.text)) == 3
    again = await client.post("/api/v1/hl7", content=message, headers=headers)
    assert again.text == r.text


async def test_http_refuses_other_media_types_and_large_bodies(client, db):
    _, key = await make_device(db, await make_clinic(db))
    r = await client.post(
        "/api/v1/hl7", content="MSH|", headers={**device_auth(key), "Content-Type": "text/plain"}
    )
    assert r.status_code == 415
    r = await client.post(
        "/api/v1/hl7", content="x" * (1024 * 1024 + 1), headers={**device_auth(key), **HL7}
    )
    assert r.status_code == 413
    r = await client.post("/api/v1/hl7", content="garbage", headers={**device_auth(key), **HL7})
    assert msa(r.text)[0] == "AR"


async def test_profile_api_maps_a_vendor_code_and_status_counts_unmapped(client, db, settings):
    clinic = await make_clinic(db)
    device, key = await make_device(db, clinic)
    admin = bearer(await make_user(db, clinic, "admin"), settings)
    nurse = bearer(await make_user(db, clinic, "nurse"), settings)
    url = f"/api/v1/devices/{device.id}/profile"
    assert (await client.get(url, headers=admin)).status_code == 404

    message = er7("pcd01_mindray_sentinel.hl7")
    r = await client.post("/api/v1/hl7", content=message, headers={**device_auth(key), **HL7})
    assert msa(r.text)[0] == "AA"
    status = (await client.get(f"/api/v1/devices/{device.id}/status", headers=nurse)).json()
    assert status["unmapped_count"] == 2
    assert {u["code"] for u in status["unmapped_codes"]} == {
        "150488^MDC_PULS_OXIM_PERF_REL^MDC",
        "2000^MNDRY_SQI^99MNDRY",
    }
    listed = await client.get(f"/api/v1/devices/{device.id}/unmapped-codes", headers=nurse)
    assert [u["count"] for u in listed.json()] == [1, 1]

    body = {
        "message_format": "hl7v2",
        "model": "Mindray BeneView T5",
        "sending_application": "Mindray",
        "sending_facility": "BeneView_T5",
        "allowed_addresses": ["10.20.0.0/16"],
        "time_zone": "Asia/Shanghai",
        "code_map": {"150488": "", "MNDRY_SQI": ""},
        "unit_map": {},
    }
    assert (await client.put(url, json=body, headers=nurse)).status_code == 403
    bad = await client.put(url, json={**body, "code_map": {"X": "bp"}}, headers=admin)
    assert bad.status_code == 422
    bad = await client.put(url, json={**body, "time_zone": "Mars/Base"}, headers=admin)
    assert bad.status_code == 422
    bad = await client.put(url, json={**body, "allowed_addresses": ["nope"]}, headers=admin)
    assert bad.status_code == 422
    r = await client.put(url, json={**body, "code_map": {"2000": "rr"}}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["time_zone"] == "Asia/Shanghai"
    assert (await client.get(url, headers=nurse)).json()["code_map"] == {"2000": "rr"}

    second = er7("pcd01_mindray_sentinel.hl7", **{"MR-7781": "MR-7790"})
    r = await client.post("/api/v1/hl7", content=second, headers={**device_auth(key), **HL7})
    # the vendor code is now read as RR, but it carries no unit: rejected, not guessed
    assert msa(r.text)[2] == "1 reading(s) stored"
    assert sorted(e[5] for e in errs(r.text)) == ["sentinel_value", "unknown_unit", "unmapped_code"]

    other, _ = await make_device(db, clinic)
    r = await client.put(f"/api/v1/devices/{other.id}/profile", json=body, headers=admin)
    assert r.status_code == 409
    # a device key whose profile names another MSH-3/4 is refused
    wrong = er7("pcd01_philips_vitals.hl7")
    r = await client.post("/api/v1/hl7", content=wrong, headers={**device_auth(key), **HL7})
    assert msa(r.text)[0] == "AR"


async def test_pid_must_match_the_patient_of_the_session_on_the_chair(
    client, flow, db, clinic, chair, patient
):
    device, key = await make_device(db, clinic, chair)
    session_id = await flow.started(patient, chair, device)
    headers = {**device_auth(key), **HL7}
    at = {"20260124131539+0100": "20261123100000+0100"}
    wrong = er7("pcd01_philips_vitals.hl7", **at)
    r = await client.post("/api/v1/hl7", content=wrong, headers=headers)
    code, _, text = msa(r.text)
    assert code == "AE"
    assert "PID-3 does not match" in text
    right = er7(
        "pcd01_philips_vitals.hl7", **at, **{"HR-100234": patient.mrn, "PHX-000123": "PHX-2"}
    )
    r = await client.post("/api/v1/hl7", content=right, headers=headers)
    assert msa(r.text)[:3] == ["AA", "PHX-2", "6 reading(s) stored"]
    vitals = await client.get(f"/api/v1/sessions/{session_id}/vitals", headers=flow.nurse)
    assert len(vitals.json()["items"]) == 6
    assert {v["source"] for v in vitals.json()["items"]} == {"hl7"}
