"""Monitor swap on an active session (issue 5 point 3): which devices qualify, the binding to the
chair, the record on the session and the audit row with both device ids and the reason."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEntry
from app.devices import service as devices_service
from app.devices.models import Device
from tests.fixtures.factories import (
    NOW,
    TEST_ACTOR,
    make_chair,
    make_clinic,
    make_device,
    make_eligible_patient,
    make_user,
)
from tests.fixtures.sessions import Flow

REASON = "SpO2 probe socket faulty; spare monitor"


@pytest.fixture
async def spare(db: AsyncSession, clinic) -> Device:
    """A monitor of the clinic bound to no chair."""
    device, _ = await make_device(db, clinic)
    return device


@pytest.fixture
async def staffed(client, clock, db: AsyncSession, clinic, protocol, settings) -> Flow:
    users = (await make_user(db, clinic, "nurse"), await make_user(db, clinic, "physician"))
    return Flow(client, clock, users, settings, protocol)


async def swap(flow: Flow, session_id: str, device: Device, *, headers=None, reason=REASON):
    return await flow.post(
        f"/{session_id}/monitor", {"device_id": str(device.id), "reason": reason}, headers
    )


async def chair_of(db: AsyncSession, device: Device):
    return await db.scalar(select(Device.chair_id).where(Device.id == device.id))


async def audit_rows(db: AsyncSession, entity_id: str, action: str) -> list[AuditEntry]:
    rows = await db.scalars(
        select(AuditEntry)
        .where(AuditEntry.entity_id == entity_id, AuditEntry.action == action)
        .order_by(AuditEntry.seq)
    )
    return list(rows.all())


class TestSwapMonitor:
    async def test_an_unbound_spare_is_bound_to_the_chair_recorded_and_audited(
        self, staffed, db, patient, chair, monitor, spare
    ):
        session_id = await staffed.started(patient, chair, monitor)
        staffed.clock.advance(minutes=12)
        r = await swap(staffed, session_id, spare)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["device_id"] == str(spare.id)
        assert body["state"] == "infusing"
        assert await chair_of(db, spare) == chair.id
        [entry] = await audit_rows(db, session_id, "SESSION_MONITOR_SWAPPED")
        assert entry.before == {"device_id": str(monitor.id)}
        assert entry.after is not None
        assert entry.after["device_id"] == str(spare.id)
        assert entry.after["reason"] == REASON
        assert entry.after["bound_to_chair"] is True
        assert entry.actor_id == str(staffed.nurse_user.id)
        assert entry.at == staffed.clock.now()
        [bound] = await audit_rows(db, str(spare.id), "DEVICE_UPDATED")
        assert bound.after is not None
        assert bound.after["chair_id"] == str(chair.id)

    async def test_a_second_monitor_on_the_chair_is_taken_without_rebinding(
        self, staffed, db, clinic, patient, chair, monitor
    ):
        second, _ = await make_device(db, clinic, chair)
        session_id = await staffed.started(patient, chair, monitor)
        r = await swap(staffed, session_id, second)
        assert r.status_code == 200, r.text
        assert r.json()["device_id"] == str(second.id)
        [entry] = await audit_rows(db, session_id, "SESSION_MONITOR_SWAPPED")
        assert entry.after is not None
        assert entry.after["bound_to_chair"] is False
        assert await audit_rows(db, str(second.id), "DEVICE_UPDATED") == []

    async def test_a_monitor_of_an_idle_chair_moves_to_this_chair(
        self, staffed, db, clinic, patient, chair, monitor
    ):
        idle, _ = await make_device(db, clinic, await make_chair(db, clinic))
        session_id = await staffed.started(patient, chair, monitor)
        r = await swap(staffed, session_id, idle)
        assert r.status_code == 200, r.text
        assert await chair_of(db, idle) == chair.id

    async def test_a_physician_may_swap_in_recovery(self, staffed, patient, chair, monitor, spare):
        session_id = await staffed.in_recovery(patient, chair, monitor)
        r = await swap(staffed, session_id, spare, headers=staffed.physician)
        assert r.status_code == 200, r.text
        assert (r.json()["state"], r.json()["device_id"]) == ("recovery", str(spare.id))

    async def test_a_checked_in_session_may_swap_before_the_start(
        self, staffed, patient, chair, monitor, spare
    ):
        session_id = await staffed.schedule(patient, chair)
        assert (await staffed.check_in(session_id, monitor)).status_code == 200
        r = await swap(staffed, session_id, spare)
        assert r.status_code == 200, r.text
        r = await staffed.post(f"/{session_id}/start")
        assert r.status_code == 200, r.text
        assert r.json()["device_id"] == str(spare.id)


class TestSwapRefused:
    async def test_a_scheduled_session_has_no_monitor_to_swap(self, staffed, patient, chair, spare):
        session_id = await staffed.schedule(patient, chair)
        r = await swap(staffed, session_id, spare)
        assert r.status_code == 409
        assert "not when scheduled" in r.json()["detail"]

    async def test_the_same_monitor_is_refused(self, staffed, patient, chair, monitor):
        session_id = await staffed.started(patient, chair, monitor)
        r = await swap(staffed, session_id, monitor)
        assert r.status_code == 409
        assert "already the monitor" in r.json()["detail"]

    async def test_a_device_of_another_clinic_is_not_found(
        self, staffed, db, patient, chair, monitor
    ):
        foreign, _ = await make_device(db, await make_clinic(db))
        session_id = await staffed.started(patient, chair, monitor)
        r = await swap(staffed, session_id, foreign)
        assert r.status_code == 404
        assert (await staffed.get(session_id))["device_id"] == str(monitor.id)

    async def test_a_revoked_device_is_refused(
        self, staffed, db, clinic, patient, chair, monitor, spare
    ):
        await devices_service.revoke_device(
            db, clinic_id=clinic.id, device_id=spare.id, reason="lost", actor=TEST_ACTOR, now=NOW
        )
        session_id = await staffed.started(patient, chair, monitor)
        r = await swap(staffed, session_id, spare)
        assert r.status_code == 409
        assert "revoked" in r.json()["detail"]

    async def test_the_monitor_of_another_active_session_is_refused(
        self, staffed, db, clinic, patient, chair, monitor
    ):
        other_chair = await make_chair(db, clinic)
        other_monitor, _ = await make_device(db, clinic, other_chair)
        other_patient = await make_eligible_patient(db, clinic)
        other_id = await staffed.started(other_patient, other_chair, other_monitor)
        session_id = await staffed.started(patient, chair, monitor)
        r = await swap(staffed, session_id, other_monitor)
        assert r.status_code == 409
        assert other_id in r.json()["detail"]
        assert await chair_of(db, other_monitor) == other_chair.id

    async def test_a_reason_is_required(self, staffed, patient, chair, monitor, spare):
        session_id = await staffed.started(patient, chair, monitor)
        r = await swap(staffed, session_id, spare, reason="  ")
        assert r.status_code == 422
        r = await staffed.post(f"/{session_id}/monitor", {"device_id": str(spare.id)})
        assert r.status_code == 422
