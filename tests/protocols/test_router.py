"""Protocol governance through the API: load, approve with the password, diff, dose preview."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.protocols import service as protocols_service
from tests.fixtures.factories import PASSWORD, TEST_ACTOR, bearer, make_clinic, make_user

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = (ROOT / "protocols" / "ketamine-iv-0.5mgkg-40min.toml").read_text()
VARIANT = (ROOT / "protocols" / "site-variant-syringe-10mgml-120min.toml").read_text()


def bumped(content: str, version: str, *replacements: tuple[str, str]) -> str:
    out = content.replace('version = "1.0.0"', f'version = "{version}"', 1)
    for old, new in replacements:
        assert old in out, old
        out = out.replace(old, new, 1)
    return out


@pytest.fixture
async def staff(db, settings):
    clinic = await make_clinic(db)
    users = {role: await make_user(db, clinic, role) for role in ("admin", "physician", "nurse")}
    return clinic, {role: bearer(u, settings) for role, u in users.items()}


async def upload(client, headers, content: str, filename: str = "ketamine-iv-0.5mgkg-40min.toml"):
    return await client.post(
        "/api/v1/protocols", json={"filename": filename, "content": content}, headers=headers
    )


class TestLoad:
    async def test_admin_loads_a_file_as_pending_with_its_sha256(self, client, staff):
        _, h = staff
        r = await upload(client, h["admin"], DEFAULT)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["status"] == "pending"
        assert body["protocol_key"] == "ketamine-iv-0.5mgkg-40min"
        import hashlib

        assert body["sha256"] == hashlib.sha256(DEFAULT.encode()).hexdigest()
        again = await upload(client, h["admin"], DEFAULT)
        assert again.status_code == 200
        assert again.json()["id"] == body["id"]

    async def test_invalid_value_is_refused_naming_file_and_key(self, client, staff):
        _, h = staff
        bad = DEFAULT.replace("minutes = 40", "minutes = -40", 1)
        r = await upload(client, h["admin"], bad, "broken.toml")
        assert r.status_code == 422
        assert "broken.toml" in r.json()["detail"]
        assert "infusion.minutes" in r.json()["detail"]

    async def test_same_version_with_other_content_is_a_conflict(self, client, staff):
        _, h = staff
        await upload(client, h["admin"], DEFAULT)
        changed = DEFAULT.replace('name = "IV racemic', 'name = "Changed IV racemic', 1)
        r = await upload(client, h["admin"], changed)
        assert r.status_code == 409
        assert "new protocol.version" in r.json()["detail"]

    async def test_toml_syntax_error_is_422(self, client, staff):
        _, h = staff
        r = await upload(client, h["admin"], "[infusion\nminutes = ", "x.toml")
        assert r.status_code == 422
        assert "TOML syntax error" in r.json()["detail"]


class TestApprove:
    async def test_physician_approves_with_password_and_the_old_version_retires(
        self, client, staff, db
    ):
        _, h = staff
        v1 = (await upload(client, h["admin"], DEFAULT)).json()
        r = await client.post(
            f"/api/v1/protocols/{v1['id']}/approve",
            json={"password": PASSWORD},
            headers=h["physician"],
        )
        assert r.status_code == 200, r.text
        assert r.json()["version"]["status"] == "active"
        assert r.json()["replaced"] is None

        v2_text = bumped(
            DEFAULT, "1.1.0", ("min_observation_minutes = 60", "min_observation_minutes = 90")
        )
        v2 = (await upload(client, h["admin"], v2_text)).json()
        r = await client.post(
            f"/api/v1/protocols/{v2['id']}/approve", json={"password": PASSWORD}, headers=h["admin"]
        )
        assert r.status_code == 200, r.text
        assert r.json()["replaced"]["id"] == v1["id"]
        changes = {c["key"]: c for c in r.json()["changes"]}
        assert changes["recovery.min_observation_minutes"] == {
            "key": "recovery.min_observation_minutes",
            "kind": "changed",
            "old": 60,
            "new": 90,
        }
        assert changes["protocol.version"]["new"] == "1.1.0"
        listed = {
            v["id"]: v["status"]
            for v in (await client.get("/api/v1/protocols", headers=h["nurse"])).json()["items"]
        }
        assert listed == {v1["id"]: "retired", v2["id"]: "active"}
        actions = (
            await db.scalars(select(AuditEntry.action).where(AuditEntry.entity_id == v2["id"]))
        ).all()
        assert set(actions) == {"PROTOCOL_LOADED", "PROTOCOL_APPROVED"}

    async def test_wrong_password_is_401_and_nothing_changes(self, client, staff):
        _, h = staff
        v1 = (await upload(client, h["admin"], DEFAULT)).json()
        r = await client.post(
            f"/api/v1/protocols/{v1['id']}/approve",
            json={"password": "not my password"},
            headers=h["physician"],
        )
        assert r.status_code == 401
        assert r.json()["error"] == "WrongPassword"
        assert (await client.get(f"/api/v1/protocols/{v1['id']}", headers=h["nurse"])).json()[
            "status"
        ] == "pending"

    async def test_nurse_cannot_approve(self, client, staff):
        _, h = staff
        v1 = (await upload(client, h["admin"], DEFAULT)).json()
        r = await client.post(
            f"/api/v1/protocols/{v1['id']}/approve", json={"password": PASSWORD}, headers=h["nurse"]
        )
        assert r.status_code == 403

    async def test_approving_twice_is_a_conflict(self, client, staff):
        _, h = staff
        v1 = (await upload(client, h["admin"], DEFAULT)).json()
        url = f"/api/v1/protocols/{v1['id']}/approve"
        assert (
            await client.post(url, json={"password": PASSWORD}, headers=h["admin"])
        ).status_code == 200
        assert (
            await client.post(url, json={"password": PASSWORD}, headers=h["admin"])
        ).status_code == 409

    async def test_two_protocols_can_be_active_side_by_side(self, client, staff):
        _, h = staff
        for text, name in ((DEFAULT, "default.toml"), (VARIANT, "variant.toml")):
            v = (await upload(client, h["admin"], text, name)).json()
            assert (
                await client.post(
                    f"/api/v1/protocols/{v['id']}/approve",
                    json={"password": PASSWORD},
                    headers=h["admin"],
                )
            ).status_code == 200
        statuses = [
            v["status"]
            for v in (await client.get("/api/v1/protocols", headers=h["admin"])).json()["items"]
        ]
        assert statuses == ["active", "active"]


class TestUsableVersion:
    async def test_an_unapproved_version_cannot_be_used_for_a_session(self, db, staff, clock):
        clinic, _ = staff
        loaded = await protocols_service.load_version(
            db,
            clinic_id=clinic.id,
            content=DEFAULT.encode(),
            source_name="d.toml",
            actor=TEST_ACTOR,
            now=clock.now(),
        )
        with pytest.raises(Exception, match="not approved for use") as exc:
            await protocols_service.usable_version(db, clinic.id, loaded.version.id)
        assert exc.value.status_code == 409
        await protocols_service.activate(
            db, loaded.version, approver=TEST_ACTOR, approver_id=None, now=clock.now()
        )
        assert (
            await protocols_service.usable_version(db, clinic.id, loaded.version.id)
        ).id == loaded.version.id


class TestDiff:
    async def test_diff_names_changed_alarm_rules_by_id(self, client, staff):
        _, h = staff
        v1 = (await upload(client, h["admin"], DEFAULT)).json()
        rule = 'id = "spo2_low_high"'
        head, tail = DEFAULT.split(rule, 1)
        v2_text = bumped(head + rule + tail.replace("limit = 90", "limit = 88", 1), "2.0.0")
        v2 = (await upload(client, h["admin"], v2_text)).json()
        r = await client.get(f"/api/v1/protocols/{v2['id']}/diff/{v1['id']}", headers=h["nurse"])
        assert r.status_code == 200
        keys = {c["key"]: (c["old"], c["new"]) for c in r.json()["changes"]}
        assert keys.pop("protocol.version") == ("1.0.0", "2.0.0")
        assert keys == {"alarms.rules[spo2_low_high].limit": (90, 88)}

    async def test_other_clinics_protocol_is_404(self, client, staff, db, settings):
        _, h = staff
        v1 = (await upload(client, h["admin"], DEFAULT)).json()
        outsider = bearer(await make_user(db, await make_clinic(db), "physician"), settings)
        assert (
            await client.get(f"/api/v1/protocols/{v1['id']}", headers=outsider)
        ).status_code == 404
        r = await client.post(
            f"/api/v1/protocols/{v1['id']}/approve", json={"password": PASSWORD}, headers=outsider
        )
        assert r.status_code == 404


class TestDosePreview:
    @pytest.fixture
    async def default_id(self, client, staff):
        _, h = staff
        return (await upload(client, h["admin"], DEFAULT)).json()["id"]

    async def test_70_kg_gives_the_design_example(self, client, staff, default_id):
        _, h = staff
        r = await client.post(
            f"/api/v1/protocols/{default_id}/dose-preview",
            json={"weight_kg": 70},
            headers=h["nurse"],
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert (
            body["dose_mg"],
            body["rate_mg_per_h"],
            body["rate_ml_per_h"],
            body["concentration_mg_per_ml"],
        ) == (
            35.0,
            52.5,
            150.0,
            0.35,
        )
        assert body["volume_ml"] == 100.0
        assert body["mg_per_kg"] == 0.5
        assert body["minutes"] == 40
        assert body["warnings"] == []

    async def test_above_the_warning_weight_carries_a_warning(self, client, staff, default_id):
        _, h = staff
        r = await client.post(
            f"/api/v1/protocols/{default_id}/dose-preview",
            json={"weight_kg": 130},
            headers=h["nurse"],
        )
        assert r.status_code == 200
        assert r.json()["dose_mg"] == 65.0
        assert len(r.json()["warnings"]) == 1

    @pytest.mark.parametrize("weight", [29.9, 250.1])
    async def test_implausible_weight_is_refused_with_the_reason(
        self, client, staff, default_id, weight
    ):
        _, h = staff
        r = await client.post(
            f"/api/v1/protocols/{default_id}/dose-preview",
            json={"weight_kg": weight},
            headers=h["nurse"],
        )
        assert r.status_code == 422
        assert "kg" in r.json()["detail"]

    async def test_variant_at_10_mg_per_ml(self, client, staff):
        _, h = staff
        vid = (await upload(client, h["admin"], VARIANT, "variant.toml")).json()["id"]
        r = await client.post(
            f"/api/v1/protocols/{vid}/dose-preview", json={"weight_kg": 70}, headers=h["physician"]
        )
        body = r.json()
        assert (
            body["dose_mg"],
            body["volume_ml"],
            body["rate_ml_per_h"],
            body["concentration_mg_per_ml"],
        ) == (35.0, 3.5, 5.3, 10.0)
        assert body["preparation_mode"] == "fixed_concentration"
