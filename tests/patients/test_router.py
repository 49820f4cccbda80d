"""Patients over HTTP: clinic scoping, audited reads, validation and PHI hygiene."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEntry
from app.core.config import Settings
from app.core.logging import configure_logging
from app.patients.models import Patient
from app.patients.schemas import PatientCreate, PatientRead, PatientSummary, PatientUpdate
from tests.fixtures.factories import bearer, make_clinic, make_patient, make_user

PATIENTS = "/api/v1/patients"

NAME = "Ingrid Solveig Halvorsen"
BIRTH_DATE = "1983-02-11"
NEW_NAME = "Ingrid Zapffe Solberg"


def phi_forms(name: str, birth_date: str) -> list[str]:
    """The ways a name or birth date could show up in text: whole, by part, ISO, repr, Norwegian."""
    d = date.fromisoformat(birth_date)
    return [
        name,
        *[part for part in name.split() if len(part) > 3],
        birth_date,
        repr(d),
        f"{d.year}, {d.month}, {d.day}",
        d.strftime("%d.%m.%Y"),
    ]


PHI = phi_forms(NAME, BIRTH_DATE) + phi_forms(NEW_NAME, "1984-03-12")


def assert_no_phi(text: str, forms: list[str] = PHI) -> None:
    leaked = [form for form in forms if form in text]
    assert not leaked, f"PHI found: {leaked}"


def new_patient(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "mrn": "A-1001",
        "name": NAME,
        "birth_date": BIRTH_DATE,
        "sex": "female",
        "weight": {"weight_kg": "72.5", "measured_at": "2026-11-23T08:30:00+01:00"},
    }
    body.update(overrides)
    return body


async def audit_rows(db: AsyncSession, **where: object) -> list[AuditEntry]:
    stmt = select(AuditEntry).order_by(AuditEntry.seq)
    for column, value in where.items():
        stmt = stmt.where(getattr(AuditEntry, column) == value)
    return list((await db.scalars(stmt)).all())


def payload_text(rows: list[AuditEntry]) -> str:
    return json.dumps([[r.before, r.after, r.actor_name] for r in rows], ensure_ascii=False)


@pytest.fixture
async def clinic(db):
    return await make_clinic(db)


@pytest.fixture
async def nurse(db, clinic):
    return await make_user(db, clinic, "nurse")


@pytest.fixture
def nurse_headers(nurse, settings: Settings) -> dict[str, str]:
    return bearer(nurse, settings)


@pytest.fixture
async def created(client, nurse_headers) -> dict:
    r = await client.post(PATIENTS, json=new_patient(), headers=nurse_headers)
    assert r.status_code == 201, r.text
    return r.json()


class TestCreatePatient:
    async def test_nurse_creates_a_patient_with_a_weight(self, client, clinic, nurse_headers):
        r = await client.post(PATIENTS, json=new_patient(), headers=nurse_headers)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["mrn"] == "A-1001"
        assert body["name"] == NAME
        assert body["initials"] == "ISH"
        assert body["birth_date"] == BIRTH_DATE
        assert body["sex"] == "female"
        assert body["clinic_id"] == str(clinic.id)
        [weight] = body["weights"]
        assert Decimal(str(weight["weight_kg"])) == Decimal("72.5")
        # Stored in UTC, the same instant as sent.
        assert datetime.fromisoformat(weight["measured_at"]) == datetime.fromisoformat(
            "2026-11-23T07:30:00+00:00"
        )

    async def test_weights_are_listed_newest_first(self, client, nurse_headers, created):
        pid = created["id"]
        for kg, at in [("71.0", "2026-11-20T10:00:00Z"), ("73.0", "2026-11-23T08:55:00Z")]:
            r = await client.post(
                f"{PATIENTS}/{pid}/weights",
                json={"weight_kg": kg, "measured_at": at},
                headers=nurse_headers,
            )
            assert r.status_code == 201, r.text
        r = await client.get(f"{PATIENTS}/{pid}", headers=nurse_headers)
        assert [Decimal(str(w["weight_kg"])) for w in r.json()["weights"]] == [
            Decimal("73.0"),
            Decimal("72.5"),
            Decimal("71.0"),
        ]

    async def test_mrn_is_unique_per_clinic(self, client, nurse_headers, created):
        r = await client.post(
            PATIENTS, json=new_patient(name="Someone Else"), headers=nurse_headers
        )
        assert r.status_code == 409
        assert r.json()["error"] == "Conflict"
        assert "A-1001" in r.json()["detail"]
        listed = await client.get(PATIENTS, headers=nurse_headers)
        assert listed.json()["total"] == 1

    async def test_the_same_mrn_in_another_clinic_is_fine(self, client, db, settings, created):
        other_nurse = await make_user(db, await make_clinic(db), "nurse")
        r = await client.post(
            PATIENTS, json=new_patient(name="Someone Else"), headers=bearer(other_nurse, settings)
        )
        assert r.status_code == 201, r.text
        assert r.json()["mrn"] == created["mrn"]
        assert r.json()["id"] != created["id"]


class TestValidation:
    async def test_birth_date_in_the_future_is_422_and_nothing_is_stored(
        self, client, nurse_headers
    ):
        r = await client.post(
            PATIENTS, json=new_patient(birth_date="2026-11-24"), headers=nurse_headers
        )
        assert r.status_code == 422
        assert "birth_date" in r.json()["detail"]
        assert (await client.get(PATIENTS, headers=nurse_headers)).json()["total"] == 0

    async def test_patch_to_a_future_birth_date_is_422(self, client, nurse_headers, created):
        r = await client.patch(
            f"{PATIENTS}/{created['id']}", json={"birth_date": "2027-01-01"}, headers=nurse_headers
        )
        assert r.status_code == 422
        assert "birth_date" in r.json()["detail"]
        after = await client.get(f"{PATIENTS}/{created['id']}", headers=nurse_headers)
        assert after.json()["birth_date"] == BIRTH_DATE

    async def test_measured_at_without_offset_is_422_naming_the_field(self, client, nurse_headers):
        body = new_patient(weight={"weight_kg": "70.0", "measured_at": "2026-11-23T08:00:00"})
        r = await client.post(PATIENTS, json=body, headers=nurse_headers)
        assert r.status_code == 422
        assert r.json()["error"] == "ValidationError"
        assert "body.weight.measured_at" in r.json()["detail"]

    async def test_recorded_weight_without_offset_is_422_naming_the_field(
        self, client, nurse_headers, created
    ):
        r = await client.post(
            f"{PATIENTS}/{created['id']}/weights",
            json={"weight_kg": "70.0", "measured_at": "2026-11-23T08:00:00"},
            headers=nurse_headers,
        )
        assert r.status_code == 422
        assert "body.measured_at" in r.json()["detail"]

    @pytest.mark.parametrize("kg", [0, "0", "0.0", -1, 600, "600", "500.1"])
    async def test_implausible_weight_is_422(self, client, nurse_headers, kg):
        body = new_patient(weight={"weight_kg": kg, "measured_at": "2026-11-23T08:00:00Z"})
        r = await client.post(PATIENTS, json=body, headers=nurse_headers)
        assert r.status_code == 422
        assert "body.weight.weight_kg" in r.json()["detail"]

    @pytest.mark.parametrize("kg", [0, 600])
    async def test_implausible_recorded_weight_is_422(self, client, nurse_headers, created, kg):
        r = await client.post(
            f"{PATIENTS}/{created['id']}/weights",
            json={"weight_kg": kg, "measured_at": "2026-11-23T08:00:00Z"},
            headers=nurse_headers,
        )
        assert r.status_code == 422
        assert "body.weight_kg" in r.json()["detail"]
        after = await client.get(f"{PATIENTS}/{created['id']}", headers=nurse_headers)
        assert len(after.json()["weights"]) == 1


class TestRoles:
    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("POST", PATIENTS, new_patient()),
            ("GET", PATIENTS, None),
            ("GET", PATIENTS + "/{id}", None),
            ("PATCH", PATIENTS + "/{id}", {"name": "Admin Was Here"}),
            (
                "POST",
                PATIENTS + "/{id}/weights",
                {"weight_kg": "70.0", "measured_at": "2026-11-23T08:00:00Z"},
            ),
        ],
    )
    async def test_admin_is_403(self, client, db, clinic, settings, method, path, body):
        admin = await make_user(db, clinic, "admin")
        patient = await make_patient(db, clinic, name=NAME, mrn="A-2000")
        r = await client.request(
            method,
            path.format(id=patient.id),
            json=body,
            headers=bearer(admin, settings),
        )
        assert r.status_code == 403
        assert "admin" in r.json()["detail"]
        assert_no_phi(r.text)

    async def test_physician_may_read(self, client, db, clinic, settings, created):
        physician = await make_user(db, clinic, "physician")
        r = await client.get(f"{PATIENTS}/{created['id']}", headers=bearer(physician, settings))
        assert r.status_code == 200


class TestClinicScoping:
    B_NAME = "Bjørnar Bakkevik"
    B_MRN = "B-777"
    B_BIRTH = date(1975, 7, 4)

    @pytest.fixture
    async def b_patient(self, db) -> Patient:
        return await make_patient(
            db, await make_clinic(db), name=self.B_NAME, mrn=self.B_MRN, birth_date=self.B_BIRTH
        )

    def assert_nothing_of_b(self, r: httpx.Response) -> None:
        assert r.status_code == 404
        assert r.json() == {"error": "NotFound", "detail": "patient not found"}
        for secret in [self.B_NAME, "Bakkevik", self.B_MRN, self.B_BIRTH.isoformat()]:
            assert secret not in r.text

    async def test_get_is_404(self, client, nurse_headers, b_patient):
        self.assert_nothing_of_b(
            await client.get(f"{PATIENTS}/{b_patient.id}", headers=nurse_headers)
        )

    async def test_patch_is_404_and_changes_nothing(self, client, db, nurse_headers, b_patient):
        r = await client.patch(
            f"{PATIENTS}/{b_patient.id}", json={"name": "Hijacked Name"}, headers=nurse_headers
        )
        self.assert_nothing_of_b(r)
        stored = await db.scalar(select(Patient.name).where(Patient.id == b_patient.id))
        assert stored == self.B_NAME

    async def test_post_weight_is_404_and_stores_nothing(
        self, client, db, nurse, nurse_headers, b_patient
    ):
        r = await client.post(
            f"{PATIENTS}/{b_patient.id}/weights",
            json={"weight_kg": "80.0", "measured_at": "2026-11-23T08:00:00Z"},
            headers=nurse_headers,
        )
        self.assert_nothing_of_b(r)
        rows = await audit_rows(db, entity_id=str(b_patient.id), actor_id=str(nurse.id))
        assert rows == []

    async def test_list_shows_only_the_own_clinic(self, client, nurse_headers, created, b_patient):
        r = await client.get(PATIENTS, headers=nurse_headers)
        assert r.status_code == 200
        assert [p["id"] for p in r.json()["items"]] == [created["id"]]
        assert r.json()["total"] == 1
        assert self.B_NAME not in r.text


class TestReadAudit:
    async def test_get_writes_patient_viewed_naming_reader_and_patient(
        self, client, db, clinic, nurse, nurse_headers, created
    ):
        before = await audit_rows(db, action="PATIENT_VIEWED")
        r = await client.get(f"{PATIENTS}/{created['id']}", headers=nurse_headers)
        assert r.status_code == 200
        rows = await audit_rows(db, action="PATIENT_VIEWED")
        assert len(rows) == len(before) + 1
        row = rows[-1]
        assert row.actor_type == "user"
        assert row.actor_id == str(nurse.id)
        assert row.actor_name == nurse.username
        assert row.entity_type == "patient"
        assert row.entity_id == created["id"]
        assert row.clinic_id == clinic.id
        assert_no_phi(payload_text([row]))

    async def test_list_writes_patient_list_viewed_with_the_ids_shown(
        self, client, db, nurse, nurse_headers, created
    ):
        r = await client.get(PATIENTS, params={"q": "Halvorsen"}, headers=nurse_headers)
        assert [p["id"] for p in r.json()["items"]] == [created["id"]]
        [row] = await audit_rows(db, action="PATIENT_LIST_VIEWED")
        assert row.actor_id == str(nurse.id)
        assert row.after is not None
        assert row.after["patient_ids"] == [created["id"]]
        # The search text may be a name: it is not in the audit row.
        assert_no_phi(payload_text([row]))

    async def test_no_audit_payload_holds_a_name_or_birth_date(
        self, client, db, clinic, nurse_headers, created
    ):
        pid = created["id"]
        await client.get(f"{PATIENTS}/{pid}", headers=nurse_headers)
        await client.get(PATIENTS, params={"q": "Solveig"}, headers=nurse_headers)
        await client.patch(
            f"{PATIENTS}/{pid}",
            json={"name": NEW_NAME, "birth_date": "1984-03-12"},
            headers=nurse_headers,
        )
        await client.post(
            f"{PATIENTS}/{pid}/weights",
            json={"weight_kg": "70.0", "measured_at": "2026-11-23T08:50:00Z"},
            headers=nurse_headers,
        )
        rows = await audit_rows(db, clinic_id=clinic.id)
        actions = {r.action for r in rows}
        assert {
            "PATIENT_CREATED",
            "WEIGHT_RECORDED",
            "PATIENT_VIEWED",
            "PATIENT_LIST_VIEWED",
            "PATIENT_UPDATED",
        } <= actions
        assert_no_phi(payload_text(rows))


class TestUpdatePatient:
    async def test_patch_changes_the_name_and_audits_the_field_not_the_value(
        self, client, db, nurse, nurse_headers, created
    ):
        r = await client.patch(
            f"{PATIENTS}/{created['id']}", json={"name": NEW_NAME}, headers=nurse_headers
        )
        assert r.status_code == 200, r.text
        assert r.json()["name"] == NEW_NAME
        assert r.json()["initials"] == "IZS"
        assert r.json()["birth_date"] == BIRTH_DATE
        [row] = await audit_rows(db, action="PATIENT_UPDATED", entity_id=created["id"])
        assert row.actor_id == str(nurse.id)
        assert row.after is not None
        assert row.after["phi_fields_changed"] == ["name"]
        assert_no_phi(payload_text([row]))

    async def test_patch_mrn_to_one_in_use_is_409(self, client, db, clinic, nurse_headers, created):
        await make_patient(db, clinic, mrn="A-2000")
        r = await client.patch(
            f"{PATIENTS}/{created['id']}", json={"mrn": "A-2000"}, headers=nurse_headers
        )
        assert r.status_code == 409


class TestPhiHygiene:
    async def test_names_and_birth_dates_never_reach_the_logs(
        self, capsys, caplog, client, nurse_headers, settings
    ):
        # The app bound its PrintLogger to the sys.stdout of the fixture set-up phase, which pytest
        # closes; bind the same configuration to the stdout captured during this test.
        configure_logging(level=settings.log_level, json=settings.log_json)
        caplog.set_level(logging.DEBUG, logger="app")
        r = await client.post(PATIENTS, json=new_patient(), headers=nurse_headers)
        assert r.status_code == 201
        pid = r.json()["id"]
        assert (await client.get(f"{PATIENTS}/{pid}", headers=nurse_headers)).status_code == 200
        r = await client.patch(
            f"{PATIENTS}/{pid}",
            json={"name": NEW_NAME, "birth_date": "1984-03-12"},
            headers=nurse_headers,
        )
        assert r.status_code == 200
        # Refused input carrying PHI is not echoed or logged either.
        refused = await client.post(
            PATIENTS, json=new_patient(mrn="A-1002", sex="not-a-sex"), headers=nurse_headers
        )
        assert refused.status_code == 422
        assert_no_phi(refused.text)

        out, err = capsys.readouterr()
        # The capture works: the access log lines are in it.
        assert out.count('"event": "request"') == 4
        assert 'patients/{patient_id}"' in out
        assert_no_phi(out)
        assert_no_phi(err)
        assert_no_phi(caplog.text)
        assert_no_phi(" ".join(str(r.__dict__) for r in caplog.records))

    async def test_orm_patient_repr_has_no_phi(self, db, clinic):
        patient = await make_patient(
            db, clinic, name=NAME, birth_date=date.fromisoformat(BIRTH_DATE)
        )
        assert str(patient.id) in repr(patient)
        assert_no_phi(repr(patient))
        assert_no_phi(str(patient))

    async def test_schema_reprs_have_no_phi(self, created):
        read = PatientRead.model_validate(created)
        assert read.mrn in repr(read)
        assert_no_phi(repr(read))
        assert_no_phi(str(read))
        summary = PatientSummary.model_validate({**created})
        assert_no_phi(repr(summary))
        create = PatientCreate.model_validate(new_patient())
        assert_no_phi(repr(create))
        update = PatientUpdate.model_validate({"name": NEW_NAME, "birth_date": "1984-03-12"})
        assert_no_phi(repr(update))
