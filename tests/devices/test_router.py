"""Device registration and API keys over HTTP: issued once, hashed at rest, revocable, rotatable."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEntry
from app.core.config import Settings
from app.devices.models import DeviceKey
from tests.fixtures.clock import FakeClock
from tests.fixtures.factories import (
    bearer,
    device_auth,
    make_chair,
    make_clinic,
    make_device,
    make_user,
)

DEVICES = "/api/v1/devices"


async def create_device(
    client: httpx.AsyncClient, headers: dict[str, str], **body: object
) -> httpx.Response:
    return await client.post(DEVICES, json=body, headers=headers)


async def whoami(client: httpx.AsyncClient, api_key: str) -> httpx.Response:
    return await client.get(f"{DEVICES}/me", headers=device_auth(api_key))


async def device_audit(db: AsyncSession, device_id: str) -> list[AuditEntry]:
    rows = await db.scalars(
        select(AuditEntry)
        .where(AuditEntry.entity_type == "device", AuditEntry.entity_id == device_id)
        .order_by(AuditEntry.seq)
    )
    return list(rows.all())


@pytest.fixture
async def clinic(db):
    return await make_clinic(db)


@pytest.fixture
async def admin(db, clinic):
    return await make_user(db, clinic, "admin")


@pytest.fixture
def admin_headers(admin, settings: Settings) -> dict[str, str]:
    return bearer(admin, settings)


@pytest.fixture
async def nurse_headers(db, clinic, settings: Settings) -> dict[str, str]:
    return bearer(await make_user(db, clinic, "nurse"), settings)


@pytest.fixture
async def issued(client, admin_headers) -> dict:
    """A device created through the API: ``{"device": {...}, "api_key": ..., ...}``."""
    r = await create_device(client, admin_headers, name="Monitor A")
    assert r.status_code == 201, r.text
    return r.json()


class TestCreateDevice:
    async def test_admin_creates_a_device_and_gets_its_key_once(
        self, client, db, clinic, admin_headers
    ):
        chair = await make_chair(db, clinic)
        r = await create_device(client, admin_headers, name="Monitor A", chair_id=str(chair.id))
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["device"]["name"] == "Monitor A"
        assert body["device"]["chair_id"] == str(chair.id)
        assert body["device"]["clinic_id"] == str(clinic.id)
        assert body["device"]["revoked_at"] is None
        api_key = body["api_key"]
        assert api_key.startswith("kmd_")
        assert len(api_key) >= 40  # 256 random bits, not a guessable code
        assert body["key_prefix"] == api_key[:12]

    async def test_the_key_is_stored_only_as_its_sha256(self, db, issued):
        api_key, device_id = issued["api_key"], issued["device"]["id"]
        keys = (await db.scalars(select(DeviceKey))).all()
        mine = [k for k in keys if str(k.device_id) == device_id]
        assert len(mine) == 1
        assert re.fullmatch(r"[0-9a-f]{64}", mine[0].key_hash)
        assert mine[0].key_hash == hashlib.sha256(api_key.encode()).hexdigest()
        # No column of any row holds the key or its secret part.
        rows = (await db.execute(text("SELECT * FROM device_key"))).all()
        assert rows
        for row in rows:
            for value in row:
                assert api_key[12:] not in str(value)

    async def test_get_endpoints_never_return_the_key(
        self, client, admin_headers, nurse_headers, issued
    ):
        api_key, device_id = issued["api_key"], issued["device"]["id"]
        responses = [
            await client.get(DEVICES, headers=admin_headers),
            await client.get(DEVICES, headers=nurse_headers),
            await client.get(f"{DEVICES}/{device_id}/status", headers=admin_headers),
            await whoami(client, api_key),
            await client.get("/api/v1/audit", headers=admin_headers),
        ]
        for resp in responses:
            assert resp.status_code == 200, resp.text
            # Neither the key nor the secret part after the displayed prefix.
            assert api_key[12:] not in resp.text
        assert device_id in responses[0].text  # the device is listed, just without its key

    async def test_chair_of_another_clinic_is_404_and_nothing_is_created(
        self, client, db, admin_headers
    ):
        other_chair = await make_chair(db, await make_clinic(db))
        r = await create_device(
            client, admin_headers, name="Monitor A", chair_id=str(other_chair.id)
        )
        assert r.status_code == 404
        assert r.json() == {"error": "NotFound", "detail": "chair not found"}
        listed = await client.get(DEVICES, headers=admin_headers)
        assert listed.json()["items"] == []

    async def test_duplicate_name_in_the_clinic_is_409(self, client, admin_headers, issued):
        r = await create_device(client, admin_headers, name=issued["device"]["name"])
        assert r.status_code == 409
        assert r.json()["error"] == "Conflict"
        assert "Monitor A" in r.json()["detail"]
        listed = await client.get(DEVICES, headers=admin_headers)
        assert [d["name"] for d in listed.json()["items"]] == ["Monitor A"]

    async def test_same_name_in_another_clinic_is_fine(self, client, db, settings, issued):
        other_admin = await make_user(db, await make_clinic(db), "admin")
        r = await create_device(client, bearer(other_admin, settings), name="Monitor A")
        assert r.status_code == 201, r.text


class TestBindToChair:
    async def test_binding_to_a_chair_of_another_clinic_is_404_and_changes_nothing(
        self, client, db, clinic, admin_headers
    ):
        own_chair = await make_chair(db, clinic)
        device, _ = await make_device(db, clinic, own_chair)
        other_chair = await make_chair(db, await make_clinic(db))
        r = await client.patch(
            f"{DEVICES}/{device.id}", json={"chair_id": str(other_chair.id)}, headers=admin_headers
        )
        assert r.status_code == 404
        assert r.json()["detail"] == "chair not found"
        status = await client.get(f"{DEVICES}/{device.id}/status", headers=admin_headers)
        assert status.json()["chair_id"] == str(own_chair.id)

    async def test_binding_to_an_own_chair_works(self, client, db, clinic, admin_headers):
        device, api_key = await make_device(db, clinic)
        chair = await make_chair(db, clinic)
        r = await client.patch(
            f"{DEVICES}/{device.id}", json={"chair_id": str(chair.id)}, headers=admin_headers
        )
        assert r.status_code == 200, r.text
        assert (await whoami(client, api_key)).json()["chair_id"] == str(chair.id)


class TestDeviceKeyAuthentication:
    async def test_the_key_authenticates_devices_me(self, client, clinic, issued):
        r = await whoami(client, issued["api_key"])
        assert r.status_code == 200, r.text
        assert r.json() == {
            "id": issued["device"]["id"],
            "name": "Monitor A",
            "clinic_id": str(clinic.id),
            "chair_id": None,
        }

    @pytest.mark.parametrize(
        "path", ["/api/v1/patients", "/api/v1/auth/me", "/api/v1/devices", "/api/v1/chairs"]
    )
    async def test_a_device_key_on_a_staff_endpoint_is_403(self, client, issued, path):
        r = await client.get(path, headers=device_auth(issued["api_key"]))
        assert r.status_code == 403
        assert r.json()["error"] == "Forbidden"
        assert "ingest endpoints" in r.json()["detail"]

    async def test_a_device_key_cannot_create_devices(self, client, issued):
        r = await create_device(client, device_auth(issued["api_key"]), name="Rogue")
        assert r.status_code == 403
        assert "ingest endpoints" in r.json()["detail"]

    @pytest.mark.parametrize("key", ["kmd_xxx", "kmd_", "kmd_" + "A" * 43])
    async def test_unknown_key_is_401(self, client, key):
        r = await whoami(client, key)
        assert r.status_code == 401
        assert r.json()["error"] == "Unauthorized"
        assert r.headers["WWW-Authenticate"] == "Bearer"

    async def test_a_staff_token_cannot_call_the_device_endpoint(self, client, admin_headers):
        r = await client.get(f"{DEVICES}/me", headers=admin_headers)
        assert r.status_code == 403
        assert "devices" in r.json()["detail"]


class TestRevoke:
    async def test_revoked_key_is_401(self, client, admin_headers, issued):
        device_id, api_key = issued["device"]["id"], issued["api_key"]
        assert (await whoami(client, api_key)).status_code == 200
        r = await client.post(
            f"{DEVICES}/{device_id}/revoke", json={"reason": "stolen"}, headers=admin_headers
        )
        assert r.status_code == 200, r.text
        assert r.json()["revoked_at"] is not None
        assert (await whoami(client, api_key)).status_code == 401
        status = (await client.get(f"{DEVICES}/{device_id}/status", headers=admin_headers)).json()
        assert status["revoked"] is True
        assert status["active_keys"] == 0

    async def test_a_revoked_device_cannot_be_rotated_back_to_life(
        self, client, admin_headers, issued
    ):
        device_id = issued["device"]["id"]
        await client.post(
            f"{DEVICES}/{device_id}/revoke", json={"reason": "stolen"}, headers=admin_headers
        )
        r = await client.post(f"{DEVICES}/{device_id}/rotate", json={}, headers=admin_headers)
        assert r.status_code == 409

    async def test_another_clinics_admin_cannot_revoke(self, client, db, settings, issued):
        other_admin = await make_user(db, await make_clinic(db), "admin")
        r = await client.post(
            f"{DEVICES}/{issued['device']['id']}/revoke",
            json={"reason": "mischief"},
            headers=bearer(other_admin, settings),
        )
        assert r.status_code == 404
        assert "Monitor A" not in r.text
        assert (await whoami(client, issued["api_key"])).status_code == 200


class TestRotate:
    async def test_old_key_works_during_the_overlap_and_stops_after(
        self, client, admin_headers, issued, clock: FakeClock
    ):
        device_id, old_key = issued["device"]["id"], issued["api_key"]
        r = await client.post(
            f"{DEVICES}/{device_id}/rotate", json={"overlap_minutes": 10}, headers=admin_headers
        )
        assert r.status_code == 200, r.text
        new_key = r.json()["api_key"]
        assert new_key != old_key
        assert new_key.startswith("kmd_")
        expires = datetime.fromisoformat(r.json()["previous_keys_expire_at"])
        assert expires == clock.now() + timedelta(minutes=10)

        assert (await whoami(client, old_key)).status_code == 200
        assert (await whoami(client, new_key)).status_code == 200
        status = await client.get(f"{DEVICES}/{device_id}/status", headers=admin_headers)
        assert status.json()["active_keys"] == 2

        clock.advance(minutes=11)
        assert (await whoami(client, old_key)).status_code == 401
        assert (await whoami(client, new_key)).status_code == 200
        status = await client.get(f"{DEVICES}/{device_id}/status", headers=admin_headers)
        assert status.json()["active_keys"] == 1

    async def test_zero_overlap_kills_the_old_key_at_once(self, client, admin_headers, issued):
        device_id, old_key = issued["device"]["id"], issued["api_key"]
        r = await client.post(
            f"{DEVICES}/{device_id}/rotate", json={"overlap_minutes": 0}, headers=admin_headers
        )
        assert r.status_code == 200, r.text
        assert (await whoami(client, old_key)).status_code == 401
        assert (await whoami(client, r.json()["api_key"])).status_code == 200

    async def test_the_new_key_is_stored_only_as_its_sha256(
        self, client, db, admin_headers, issued
    ):
        r = await client.post(
            f"{DEVICES}/{issued['device']['id']}/rotate", json={}, headers=admin_headers
        )
        new_key = r.json()["api_key"]
        hashes = {k.key_hash for k in (await db.scalars(select(DeviceKey))).all()}
        assert hashlib.sha256(new_key.encode()).hexdigest() in hashes
        assert new_key not in hashes


class TestStatus:
    async def test_new_device_has_zero_counts_and_no_last_seen(self, client, nurse_headers, issued):
        r = await client.get(f"{DEVICES}/{issued['device']['id']}/status", headers=nurse_headers)
        assert r.status_code == 200, r.text
        assert r.json() == {
            "id": issued["device"]["id"],
            "name": "Monitor A",
            "chair_id": None,
            "revoked": False,
            "last_seen_at": None,
            "last_reading_at": None,
            "accepted_count": 0,
            "rejected_count": 0,
            "unrouted_count": 0,
            "active_keys": 1,
            "unmapped_count": 0,
            "unmapped_codes": [],
        }

    async def test_last_seen_is_set_when_the_device_calls_in(
        self, client, admin_headers, issued, clock: FakeClock
    ):
        clock.advance(minutes=3)
        assert (await whoami(client, issued["api_key"])).status_code == 200
        r = await client.get(f"{DEVICES}/{issued['device']['id']}/status", headers=admin_headers)
        assert datetime.fromisoformat(r.json()["last_seen_at"]) == clock.now()

    async def test_another_clinics_device_is_404(self, client, db, settings, issued):
        other_nurse = await make_user(db, await make_clinic(db), "nurse")
        r = await client.get(
            f"{DEVICES}/{issued['device']['id']}/status", headers=bearer(other_nurse, settings)
        )
        assert r.status_code == 404
        assert "Monitor A" not in r.text


class TestNurseAccess:
    async def test_nurse_reads_the_list_and_status(self, client, nurse_headers, issued):
        listed = await client.get(DEVICES, headers=nurse_headers)
        assert listed.status_code == 200
        assert [d["id"] for d in listed.json()["items"]] == [issued["device"]["id"]]
        status = await client.get(
            f"{DEVICES}/{issued['device']['id']}/status", headers=nurse_headers
        )
        assert status.status_code == 200

    async def test_nurse_cannot_create_a_device(self, client, admin_headers, nurse_headers):
        r = await create_device(client, nurse_headers, name="Monitor N")
        assert r.status_code == 403
        assert "admin" in r.json()["detail"]
        listed = await client.get(DEVICES, headers=admin_headers)
        assert listed.json()["items"] == []

    @pytest.mark.parametrize(
        ("action", "body"),
        [("rotate", {}), ("revoke", {"reason": "x"})],
    )
    async def test_nurse_cannot_rotate_or_revoke(self, client, nurse_headers, issued, action, body):
        r = await client.post(
            f"{DEVICES}/{issued['device']['id']}/{action}", json=body, headers=nurse_headers
        )
        assert r.status_code == 403
        assert (await whoami(client, issued["api_key"])).status_code == 200


class TestAudit:
    async def test_each_write_adds_one_audit_row(self, client, db, admin, admin_headers):
        r = await create_device(client, admin_headers, name="Monitor A")
        device_id = r.json()["device"]["id"]
        keys = [r.json()["api_key"]]
        assert [a.action for a in await device_audit(db, device_id)] == ["DEVICE_CREATED"]

        r = await client.post(
            f"{DEVICES}/{device_id}/rotate", json={"overlap_minutes": 5}, headers=admin_headers
        )
        keys.append(r.json()["api_key"])
        assert [a.action for a in await device_audit(db, device_id)] == [
            "DEVICE_CREATED",
            "DEVICE_KEY_ROTATED",
        ]

        await client.post(
            f"{DEVICES}/{device_id}/revoke", json={"reason": "lost"}, headers=admin_headers
        )
        rows = await device_audit(db, device_id)
        assert [a.action for a in rows] == [
            "DEVICE_CREATED",
            "DEVICE_KEY_ROTATED",
            "DEVICE_REVOKED",
        ]
        for row in rows:
            assert row.actor_type == "user"
            assert row.actor_id == str(admin.id)
        assert rows[-1].after == {"reason": "lost"}
        for row in rows:
            for key in keys:
                assert key[12:] not in str(row.before) + str(row.after)

    async def test_reads_and_refused_writes_add_no_device_rows(
        self, client, db, nurse_headers, issued
    ):
        device_id = issued["device"]["id"]
        before = len(await device_audit(db, device_id))
        await client.get(f"{DEVICES}/{device_id}/status", headers=nurse_headers)
        await whoami(client, issued["api_key"])
        await client.post(f"{DEVICES}/{device_id}/rotate", json={}, headers=nurse_headers)
        assert len(await device_audit(db, device_id)) == before
