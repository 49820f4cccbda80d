"""FHIR R4: Observation and transaction Bundle in (idempotent), Observations out (validated
with fhir.resources R4B), Patient import, CapabilityStatement, OperationOutcome errors."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from sqlalchemy import select

from app.vitals.models import VitalReading
from tests.fixtures.factories import NOW, bearer, device_auth, make_device, make_user
from tests.fixtures.sessions import Flow
from tests.interop.samples import fhir

FHIR = {"Content-Type": "application/fhir+json"}


@pytest.fixture
async def monitored(db, clinic, chair, flow: Flow, patient):
    """An infusing session on the chair whose monitor's key we hold."""
    device, key = await make_device(db, clinic, chair)
    session_id = await flow.started(patient, chair, device)
    return session_id, {**device_auth(key), **FHIR}


async def test_bundle_of_three_stored_once_and_read_back_as_valid_r4(
    client, flow, monitored, patient
):
    _, auth = monitored
    bundle = fhir("fhir_bundle_vitals.json")
    r = await client.post("/fhir", json=bundle, headers=auth)
    assert r.status_code == 200, r.text
    response = Bundle.model_validate(r.json())
    assert response.type == "transaction-response"
    assert [e.response.status for e in response.entry] == ["201 Created"] * 3

    again = await client.post("/fhir", json=bundle, headers=auth)
    assert [e["response"]["status"] for e in again.json()["entry"]] == ["200 OK"] * 3

    search = await client.get(
        "/fhir/Observation",
        params={"subject": f"Patient/{patient.id}", "date": "ge2026-11-23T09:00:00+00:00"},
        headers=flow.nurse,
    )
    assert search.status_code == 200, search.text
    assert search.headers["content-type"].startswith("application/fhir+json")
    found = Bundle.model_validate(search.json())
    observations = [Observation.model_validate(e.resource.model_dump()) for e in found.entry]
    by_code = {o.code.coding[0].code: o for o in observations}
    # HR, SpO2 and the BP panel (its two stored readings as one Observation), no duplicates
    assert sorted(by_code) == ["2708-6", "85354-9", "8867-4"]
    assert found.total == 3
    assert [c.valueQuantity.value for c in by_code["85354-9"].component] == [128, 82]
    spo2 = by_code["2708-6"]
    assert [c.code for c in spo2.code.coding] == ["2708-6", "59408-5", "150456"]
    assert spo2.valueQuantity.code == "%"
    assert spo2.valueQuantity.system == "http://unitsofmeasure.org"
    assert spo2.subject.reference == f"Patient/{patient.id}"
    assert spo2.category[0].coding[0].code == "vital-signs"

    one = await client.get(f"/fhir/Observation/{by_code['8867-4'].id}", headers=flow.physician)
    assert Observation.model_validate(one.json()).valueQuantity.value == 72

    later = await client.get(
        "/fhir/Observation",
        params={"subject": f"Patient/{patient.id}", "date": "gt2026-11-23T09:00:01+00:00"},
        headers=flow.nurse,
    )
    assert later.json()["total"] == 0


async def test_single_observation_created_then_200_and_conflict(client, monitored):
    _, auth = monitored
    obs = fhir("fhir_observation_spo2.json")
    r = await client.post("/fhir/Observation", json=obs, headers=auth)
    assert r.status_code == 201, r.text
    created = Observation.model_validate(r.json())
    assert r.headers["location"] == f"Observation/{created.id}"
    r = await client.post("/fhir/Observation", json=obs, headers=auth)
    assert r.status_code == 200
    changed = copy.deepcopy(obs)
    changed["valueQuantity"]["value"] = 91
    r = await client.post("/fhir/Observation", json=changed, headers=auth)
    assert r.status_code == 409
    OperationOutcome.model_validate(r.json())


def component_values(observation: Observation) -> dict[str, tuple[float, str]]:
    assert observation.component is not None
    values = {}
    for component in observation.component:
        quantity = component.valueQuantity
        assert quantity.system == "http://unitsofmeasure.org"
        values[component.code.coding[0].code] = (float(quantity.value), quantity.code)
    return values


def assert_bp_panel(observation: Observation, sbp: float, dbp: float) -> None:
    assert observation.code.coding[0].system == "http://loinc.org"
    assert observation.code.coding[0].code == "85354-9"
    assert observation.category[0].coding[0].code == "vital-signs"
    assert observation.valueQuantity is None
    assert component_values(observation) == {
        "8480-6": (sbp, "mm[Hg]"),
        "8462-4": (dbp, "mm[Hg]"),
    }


async def test_posted_bp_panel_round_trips_as_one_panel(client, flow, monitored, patient):
    _, auth = monitored
    panel = fhir("fhir_observation_bp_panel.json")
    r = await client.post("/fhir/Observation", json=panel, headers=auth)
    assert r.status_code == 201, r.text
    created = Observation.model_validate(r.json())
    assert_bp_panel(created, 131, 84)
    assert r.headers["location"] == f"Observation/{created.id}"

    read = await client.get(f"/fhir/Observation/{created.id}", headers=flow.physician)
    assert read.status_code == 200, read.text
    stored = Observation.model_validate(read.json())
    assert_bp_panel(stored, 131, 84)
    assert stored.id == created.id
    assert stored.subject.reference == f"Patient/{patient.id}"
    assert stored.device.reference.startswith("Device/")
    assert stored.effectiveDateTime is not None

    r = await client.post("/fhir/Observation", json=panel, headers=auth)
    assert (r.status_code, r.json()["id"]) == (200, created.id)
    search = await client.get(
        "/fhir/Observation", params={"subject": f"Patient/{patient.id}"}, headers=flow.nurse
    )
    found = Bundle.model_validate(search.json())
    assert found.total == 1
    assert [e.resource.id for e in found.entry] == [created.id]
    assert_bp_panel(Observation.model_validate(found.entry[0].resource.model_dump()), 131, 84)


async def test_rest_readings_of_one_nibp_measurement_come_out_as_one_panel(
    client, db, flow, monitored, patient
):
    _, auth = monitored
    at = NOW.isoformat()
    later = (NOW + timedelta(seconds=2)).isoformat()
    lone_at = (NOW + timedelta(minutes=5)).isoformat()
    readings = [
        # one NIBP measurement: SBP and DBP (two seconds apart) share a measurement_id
        {
            "id": "m1-1",
            "metric": "sbp",
            "value": 124,
            "unit": "mm[Hg]",
            "observed_at": at,
            "measurement_id": "nibp-7",
        },
        {
            "id": "m1-2",
            "metric": "dbp",
            "value": 78,
            "unit": "mm[Hg]",
            "observed_at": later,
            "measurement_id": "nibp-7",
        },
        {
            "id": "m1-3",
            "metric": "map",
            "value": 93,
            "unit": "mm[Hg]",
            "observed_at": at,
            "measurement_id": "nibp-7",
        },
        # another measurement without measurement_id: paired by the same observed_at
        {"id": "m1-4", "metric": "dbp", "value": 80, "unit": "mm[Hg]", "observed_at": later},
        {"id": "m1-5", "metric": "sbp", "value": 126, "unit": "mm[Hg]", "observed_at": later},
        # a lone SBP (no DBP in its measurement)
        {
            "id": "m1-6",
            "metric": "sbp",
            "value": 140,
            "unit": "mm[Hg]",
            "observed_at": lone_at,
            "measurement_id": "nibp-8",
        },
        {"id": "m1-7", "metric": "hr", "value": 70, "unit": "/min", "observed_at": at},
    ]
    device_key = {"Authorization": auth["Authorization"]}
    r = await client.post("/api/v1/vitals", json={"readings": readings}, headers=device_key)
    assert r.status_code == 200, r.text
    assert {x["status"] for x in r.json()["results"]} == {"created"}

    search = await client.get(
        "/fhir/Observation", params={"subject": f"Patient/{patient.id}"}, headers=flow.nurse
    )
    assert search.status_code == 200, search.text
    found = Bundle.model_validate(search.json())
    observations = [Observation.model_validate(e.resource.model_dump()) for e in found.entry]
    codes = sorted(o.code.coding[0].code for o in observations)
    assert codes == ["8478-0", "8480-6", "85354-9", "85354-9", "8867-4"]
    assert found.total == 5
    assert len({o.id for o in observations}) == 5
    panels = {component_values(o)["8480-6"][0]: o for o in observations if o.component}
    assert_bp_panel(panels[124], 124, 78)
    assert_bp_panel(panels[126], 126, 80)
    assert panels[124].effectiveDateTime is not None
    assert panels[124].subject.reference == f"Patient/{patient.id}"
    assert panels[124].device.reference.startswith("Device/")
    lone = next(o for o in observations if o.code.coding[0].code == "8480-6")
    assert (lone.valueQuantity.value, lone.valueQuantity.code) == (140, "mm[Hg]")
    assert lone.component is None
    mean = next(o for o in observations if o.code.coding[0].code == "8478-0")
    assert mean.valueQuantity.value == 93

    # The panel's id is its SBP reading's; the DBP reading's id answers with the same panel.
    ids = {i.value: o.id for o in observations for i in o.identifier}
    assert ids["m1-1"] == ids["m1-2"] == panels[124].id
    stored = {
        row.source_id: row.id
        for row in await db.scalars(select(VitalReading).where(VitalReading.source_id.like("m1-%")))
    }
    assert panels[124].id == str(stored["m1-1"])
    assert panels[126].id == str(stored["m1-5"])
    panel_json = next(
        e["resource"] for e in search.json()["entry"] if e["resource"]["id"] == panels[124].id
    )
    for reading in ("m1-1", "m1-2"):
        one = await client.get(f"/fhir/Observation/{stored[reading]}", headers=flow.physician)
        assert one.status_code == 200, one.text
        assert one.json() == panel_json
    by_time = await client.get(f"/fhir/Observation/{stored['m1-4']}", headers=flow.physician)
    assert by_time.json()["id"] == panels[126].id

    # A date bound between the SBP and the DBP still lists the panel once.
    bounded = await client.get(
        "/fhir/Observation",
        params={
            "subject": f"Patient/{patient.id}",
            "date": "ge" + (NOW + timedelta(seconds=1)).isoformat(),
        },
        headers=flow.nurse,
    )
    bounded_codes = sorted(
        e["resource"]["code"]["coding"][0]["code"] for e in bounded.json()["entry"]
    )
    assert bounded_codes == ["8480-6", "85354-9", "85354-9"]
    lone_read = await client.get(f"/fhir/Observation/{lone.id}", headers=flow.nurse)
    assert Observation.model_validate(lone_read.json()).valueQuantity.value == 140


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b"{not json", 400, "not JSON"),
        (b'{"resourceType": "Patient"}', 400, "Observation"),
        (b'{"resourceType": "Observation", "status": "final"}', 422, "code"),
    ],
)
async def test_malformed_resources_get_operation_outcome(client, monitored, body, status, needle):
    _, auth = monitored
    r = await client.post("/fhir/Observation", content=body, headers=auth)
    assert r.status_code == status
    outcome = OperationOutcome.model_validate(r.json())
    assert needle in outcome.issue[0].diagnostics


async def test_unstorable_observations_get_422(client, monitored):
    _, auth = monitored
    base = fhir("fhir_observation_spo2.json")
    no_id = {k: v for k, v in base.items() if k != "identifier"}
    implausible = copy.deepcopy(base)
    implausible["valueQuantity"]["value"] = 140
    other_code = copy.deepcopy(base)
    other_code["code"] = {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]}
    for body, needle in (
        (no_id, "identifier"),
        (implausible, "implausible_value"),
        (other_code, "not a vital sign"),
    ):
        r = await client.post("/fhir/Observation", json=body, headers=auth)
        assert r.status_code == 422, r.text
        assert needle in r.json()["issue"][0]["diagnostics"]


async def test_a_transaction_with_one_bad_entry_stores_nothing(client, flow, monitored, patient):
    _, auth = monitored
    bundle = fhir("fhir_bundle_vitals.json")
    bundle["entry"][1]["resource"]["valueQuantity"]["value"] = 400
    r = await client.post("/fhir", json=bundle, headers=auth)
    assert r.status_code == 422
    assert "entry[1]" in r.json()["issue"][0]["diagnostics"]
    search = await client.get(
        "/fhir/Observation", params={"subject": f"Patient/{patient.id}"}, headers=flow.nurse
    )
    assert search.json()["total"] == 0
    bundle["type"] = "batch"
    r = await client.post("/fhir", json=bundle, headers=auth)
    statuses = [e["response"]["status"] for e in r.json()["entry"]]
    assert statuses == ["201 Created", "422 Unprocessable Entity", "201 Created"]


async def test_patient_import_matched_by_identifier(client, db, clinic, settings):
    admin = bearer(await make_user(db, clinic, "admin"), settings)
    physician = bearer(await make_user(db, clinic, "physician"), settings)
    patient = fhir("fhir_patient.json")
    r = await client.post("/fhir/Patient", json=patient, headers={**admin, **FHIR})
    assert r.status_code == 201, r.text
    patient_id = r.json()["id"]
    renamed = {**patient, "name": [{"use": "official", "family": "Hansen", "given": ["Kari"]}]}
    r = await client.post("/fhir/Patient", json=renamed, headers=admin)
    assert (r.status_code, r.json()["id"]) == (200, patient_id)
    listed = await client.get(
        f"/api/v1/patients/{patient_id}", headers=bearer(await make_user(db, clinic), settings)
    )
    assert listed.json()["mrn"] == "HR-100234"
    assert listed.json()["name"] == "Kari Hansen"
    assert (await client.post("/fhir/Patient", json=patient, headers=physician)).status_code == 403
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": patient, "request": {"method": "POST", "url": "Patient"}},
            {
                "resource": {**patient, "identifier": [{"value": "HR-200"}]},
                "request": {"method": "POST", "url": "Patient"},
            },
        ],
    }
    r = await client.post("/fhir", json=bundle, headers=admin)
    assert [e["response"]["status"] for e in r.json()["entry"]] == ["200 OK", "201 Created"]
    bad = {**patient, "birthDate": None}
    r = await client.post("/fhir/Patient", json=bad, headers=admin)
    assert r.status_code == 422


async def test_capability_statement_is_valid(client):
    r = await client.get("/fhir/metadata")
    statement = CapabilityStatement.model_validate(r.json())
    assert statement.fhirVersion == "4.0.1"
    assert {res.type for res in statement.rest[0].resource} == {"Observation", "Patient"}
