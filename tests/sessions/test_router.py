"""Sessions over HTTP: booking, check-in gates, start, rate segments, completion, drug, scales,
checkpoints, discharge, scoping and audit (issue 5 acceptance)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.sessions.models import InfusionSession, SessionStateChange
from tests.fixtures.factories import (
    NOW,
    PASSWORD,
    TEST_ACTOR,
    bearer,
    make_chair,
    make_clinic,
    make_device,
    make_eligible_patient,
    make_user,
)
from tests.fixtures.sessions import (
    API,
    CADSS_ZERO,
    CHECKLIST,
    DISCHARGE_OK,
    vitals,
    vitals_check,
)


def codes(body: dict[str, Any]) -> list[str]:
    return [b["code"] for b in body["blockers"]]


class TestScheduleSession:
    async def test_books_infusion_one_of_six_with_the_pinned_protocol(
        self, flow, patient, chair, protocol
    ):
        body = await flow.get(await flow.schedule(patient, chair))
        assert body["state"] == "scheduled"
        assert (body["infusion_number"], body["planned_infusions"]) == (1, 6)
        assert body["protocol_sha256"] == protocol.sha256
        assert Decimal(body["proposed_mg_per_kg"]) == Decimal("0.5")
        assert body["history"][0]["state"] == "scheduled"

    async def test_unapproved_protocol_is_refused(self, flow, db, clinic, patient, chair):
        from app.protocols import service as protocols_service
        from tests.fixtures.factories import PROTOCOLS_DIR

        path = PROTOCOLS_DIR / "site-variant-syringe-10mgml-120min.toml"
        loaded = await protocols_service.load_version(
            db,
            clinic_id=clinic.id,
            content=path.read_bytes(),
            source_name=path.name,
            actor=TEST_ACTOR,
            now=NOW,
        )
        r = await flow.post(
            "",
            {
                "patient_id": str(patient.id),
                "chair_id": str(chair.id),
                "protocol_id": str(loaded.version.id),
                "scheduled_for": NOW.isoformat(),
            },
        )
        assert r.status_code == 409
        assert "not approved" in r.json()["detail"]

    async def test_nurse_may_not_order_more_than_the_proposal(self, flow, patient, chair):
        body = {
            "patient_id": str(patient.id),
            "chair_id": str(chair.id),
            "protocol_id": str(flow.protocol.id),
            "scheduled_for": NOW.isoformat(),
            "mg_per_kg": "0.75",
        }
        assert (await flow.post("", body)).status_code == 403
        r = await flow.post("", body, headers=flow.physician)
        assert r.status_code == 201, r.text
        assert Decimal(r.json()["ordered_mg_per_kg"]) == Decimal("0.75")


class TestCheckIn:
    async def test_records_the_chair_monitor_and_shows_remaining_blockers(
        self, flow, patient, chair, monitor
    ):
        session_id = await flow.schedule(patient, chair)
        r = await flow.check_in(session_id, monitor, checklist=CHECKLIST[:-1], cadss=None)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["state"] == "checked_in"
        assert body["device_id"] == str(monitor.id)
        assert set(codes({"blockers": body["start_blockers"]})) == {
            "checklist_item_unconfirmed",
            "pre_cadss_missing",
        }

    async def test_a_monitor_of_another_chair_is_refused(
        self, flow, db, clinic, patient, chair, monitor
    ):
        other, _ = await make_device(db, clinic, await make_chair(db, clinic))
        session_id = await flow.schedule(patient, chair)
        r = await flow.check_in(session_id, other)
        assert r.status_code == 409
        assert str(monitor.id) in r.json()["detail"]

    async def test_busy_chair_refuses_the_second_patient(
        self, flow, db, clinic, patient, chair, monitor
    ):
        await flow.started(patient, chair, monitor)
        second = await make_eligible_patient(db, clinic)
        session_id = await flow.schedule(second, chair)
        r = await flow.check_in(session_id, monitor)
        assert r.status_code == 409
        assert "chair busy" in r.json()["detail"]
        r = await flow.post(f"/{session_id}/start")
        assert r.status_code == 409
        assert "cannot start a session that is scheduled" in r.json()["detail"]


class TestStartGates:
    async def test_first_bp_185_95_answers_repeat_required_with_the_time(
        self, flow, patient, chair, monitor
    ):
        session_id = await flow.schedule(patient, chair)
        first = flow.clock.now()
        r = await flow.check_in(
            session_id, monitor, vitals=vitals(first, sbp_mmhg=185, dbp_mmhg=95)
        )
        [blocker] = r.json()["start_blockers"]
        due = first + timedelta(minutes=5)
        assert blocker["code"] == "repeat_required"
        assert datetime.fromisoformat(blocker["available_at"]) == due
        assert due.isoformat() in blocker["resolution"]
        r = await flow.post(f"/{session_id}/start")
        assert r.status_code == 409
        assert r.json()["error"] == "Blocked"
        assert codes(r.json()) == ["repeat_required"]

    async def test_bp_still_above_on_the_repeat_blocks_the_start(
        self, flow, patient, chair, monitor
    ):
        session_id = await flow.schedule(patient, chair)
        high = {"sbp_mmhg": 185, "dbp_mmhg": 95}
        await flow.check_in(session_id, monitor, vitals=vitals(flow.clock.now(), **high))
        flow.clock.advance(minutes=5)
        r = await flow.post(f"/{session_id}/pre-vitals", vitals(flow.clock.now(), **high))
        assert r.status_code == 200, r.text
        r = await flow.post(f"/{session_id}/start")
        assert r.status_code == 409
        [blocker] = r.json()["blockers"]
        assert blocker["code"] == "repeat_still_above"
        assert blocker["final"] is True

    async def test_repeat_below_180_needs_the_physician_ack_then_starts(
        self, flow, patient, chair, monitor
    ):
        session_id = await flow.schedule(patient, chair)
        await flow.check_in(session_id, monitor, vitals=vitals(flow.clock.now(), sbp_mmhg=185))
        flow.clock.advance(minutes=6)
        await flow.post(f"/{session_id}/pre-vitals", vitals(flow.clock.now(), sbp_mmhg=150))
        r = await flow.post(f"/{session_id}/start")
        assert codes(r.json()) == ["physician_ack_required"]
        ack = f"/{session_id}/physician-ack"
        assert (await flow.post(ack, {"password": PASSWORD})).status_code == 403
        r = await flow.post(ack, {"password": "wrong"}, headers=flow.physician)
        assert r.status_code == 401
        r = await flow.post(ack, {"password": PASSWORD}, headers=flow.physician)
        assert r.status_code == 200, r.text
        r = await flow.post(f"/{session_id}/start")
        assert r.status_code == 200, r.text
        assert r.json()["baseline"]["sbp_mmhg"] == 150

    async def test_spo2_93_blocks(self, flow, patient, chair, monitor):
        session_id = await flow.schedule(patient, chair)
        await flow.check_in(session_id, monitor, vitals=vitals(flow.clock.now(), spo2_pct=93))
        r = await flow.post(f"/{session_id}/start")
        assert r.status_code == 409
        [blocker] = r.json()["blockers"]
        assert (blocker["code"], blocker["subject"]) == ("vital_gate", "spo2_low")

    @pytest.mark.parametrize(
        ("kwargs", "needle"),
        [
            ({"sign": False}, "screening"),
            ({"decision": "not_eligible"}, "screening"),
            ({"signed_at": NOW - timedelta(days=91)}, "expire"),
        ],
        ids=["unsigned", "ineligible", "expired"],
    )
    async def test_screening_not_eligible_blocks(
        self, flow, db, clinic, protocol, chair, monitor, kwargs, needle
    ):
        patient = await make_eligible_patient(db, clinic, **kwargs)
        session_id = await flow.schedule(patient, chair)
        await flow.check_in(session_id, monitor)
        r = await flow.post(f"/{session_id}/start")
        assert r.status_code == 409
        [blocker] = r.json()["blockers"]
        assert blocker["code"] == "screening_not_eligible"
        assert needle in blocker["message"].lower()

    async def test_interval_too_short_blocks_with_the_time_it_is_allowed(
        self, flow, db, patient, chair, monitor
    ):
        session_id = await flow.schedule(patient, chair)
        earlier = await _past_infusion(db, patient, chair, flow.protocol, NOW - timedelta(hours=24))
        await flow.check_in(session_id, monitor)
        r = await flow.post(f"/{session_id}/start")
        [blocker] = r.json()["blockers"]
        assert blocker["code"] == "interval_not_passed"
        assert datetime.fromisoformat(blocker["available_at"]) == earlier + timedelta(hours=48)

    async def test_scheduling_inside_the_interval_is_refused_with_the_time(
        self, flow, db, patient, chair
    ):
        earlier = await _past_infusion(db, patient, chair, flow.protocol, NOW - timedelta(hours=24))
        r = await flow.post(
            "",
            {
                "patient_id": str(patient.id),
                "chair_id": str(chair.id),
                "protocol_id": str(flow.protocol.id),
                "scheduled_for": NOW.isoformat(),
            },
        )
        assert r.status_code == 409
        assert (earlier + timedelta(hours=48)).isoformat() in r.json()["detail"]

    async def test_illegal_transition_names_both_states(self, flow, patient, chair):
        session_id = await flow.schedule(patient, chair)
        r = await flow.post(f"/{session_id}/start")
        assert r.status_code == 409
        assert r.json()["detail"] == (
            "cannot start a session that is scheduled (allowed from: checked_in)"
        )


async def _past_infusion(db, patient, chair, protocol, started_at: datetime) -> datetime:
    """A discharged earlier session whose infusion started at `started_at` (history rows)."""
    row = InfusionSession(
        id=uuid.uuid4(),
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        chair_id=chair.id,
        protocol_version_id=protocol.id,
        protocol_sha256=protocol.sha256,
        state="discharged",
        scheduled_for=started_at,
        infusion_number=1,
        planned_infusions=6,
        proposed_mg_per_kg=Decimal("0.5"),
        proposal_reason="test",
        ordered_mg_per_kg=Decimal("0.5"),
        ordered_by="test",
        created_at=started_at,
        checklist_confirmed=[],
    )
    db.add(row)
    await db.flush()
    db.add(
        SessionStateChange(
            session_id=row.id,
            seq=1,
            state="infusing",
            event="start",
            at=started_at,
            actor_type="test",
        )
    )
    await db.flush()
    return started_at


class TestInfusion:
    async def test_start_creates_the_order_and_the_first_segment(
        self, flow, patient, chair, monitor
    ):
        session_id = await flow.started(patient, chair, monitor)
        body = await flow.get(session_id)
        order = body["order"]
        assert (Decimal(order["dose_mg"]), Decimal(order["rate_mg_per_h"])) == (
            Decimal("35.0"),
            Decimal("52.5"),
        )
        assert Decimal(order["rate_ml_per_h"]) == Decimal("150.0")
        assert Decimal(order["concentration_mg_per_ml"]) == Decimal("0.35")
        assert len(body["segments"]) == 1
        assert body["baseline"]["sbp_mmhg"] == 124

    async def test_pause_5_min_at_minute_20_completes_at_minute_45_not_44(
        self, flow, patient, chair, monitor
    ):
        session_id = await flow.started(patient, chair, monitor)
        start = flow.clock.now()
        flow.clock.advance(minutes=20)
        assert (await flow.post(f"/{session_id}/pause")).status_code == 200
        flow.clock.advance(minutes=5)
        assert (await flow.post(f"/{session_id}/resume")).status_code == 200
        flow.clock.set(start + timedelta(minutes=44))
        body = await flow.get(session_id)
        assert Decimal(body["progress"]["delivered_mg"]) == Decimal("34.1")
        assert Decimal(body["progress"]["remaining_volume_ml"]) == Decimal("2.5")
        r = await flow.post(f"/{session_id}/complete")
        assert r.status_code == 409
        assert "34.1 of 35.0 mg delivered" in r.json()["detail"]
        flow.clock.set(start + timedelta(minutes=45))
        r = await flow.post(f"/{session_id}/complete")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["state"] == "recovery"
        assert Decimal(body["progress"]["delivered_mg"]) == Decimal("35.0")
        assert Decimal(body["progress"]["minutes_infused"]) == Decimal("40.0")

    async def test_nurse_may_reduce_and_restore_but_not_exceed_the_order(
        self, flow, patient, chair, monitor
    ):
        session_id = await flow.started(patient, chair, monitor)
        flow.clock.advance(minutes=10)
        rate = f"/{session_id}/change-rate"
        r = await flow.post(rate, {"rate_mg_per_h": "26.3", "reason": "dissociation"})
        assert r.status_code == 200, r.text
        flow.clock.advance(minutes=5)
        assert (
            await flow.post(rate, {"rate_mg_per_h": "52.5", "reason": "settled"})
        ).status_code == 200
        r = await flow.post(rate, {"rate_mg_per_h": "60", "reason": "faster"})
        assert r.status_code == 403
        r = await flow.post(
            rate, {"rate_mg_per_h": "60", "reason": "faster"}, headers=flow.physician
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert [o["version"] for o in body["orders"]] == [1, 2]
        assert body["order"]["reason"] == "faster"
        assert Decimal(body["order"]["rate_mg_per_h"]) == Decimal("60")
        assert len(body["segments"]) == 4

    async def test_stop_needs_a_reason_and_goes_to_observation(self, flow, patient, chair, monitor):
        session_id = await flow.started(patient, chair, monitor)
        flow.clock.advance(minutes=10)
        assert (await flow.post(f"/{session_id}/stop", {"reason": " "})).status_code == 422
        r = await flow.post(f"/{session_id}/stop", {"reason": "nausea"})
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "stopped"
        assert r.json()["history"][-1]["reason"] == "nausea"


class TestDrugAccountability:
    async def test_given_volume_comes_from_the_segments_and_a_nurse_witnesses(
        self, flow, db, clinic, patient, chair, monitor
    ):
        session_id = await flow.in_recovery(patient, chair, monitor)
        witness = await make_user(db, clinic, "nurse")
        doctor = await make_user(db, clinic, "physician")
        body = {"lot": "K123", "prepared_ml": "100.0", "wasted_ml": "0.0"}
        r = await flow.post(f"/{session_id}/drug", {**body, "witness_user_id": str(doctor.id)})
        assert r.status_code == 422
        r = await flow.post(f"/{session_id}/drug", {**body, "witness_user_id": str(witness.id)})
        assert r.status_code == 200, r.text
        drug = r.json()["drug"]
        assert Decimal(drug["given_ml"]) == Decimal("100.0")
        assert drug["witness_user_id"] == str(witness.id)


class TestScalesAndCheckpoints:
    async def test_invalid_item_is_422_naming_the_item(self, flow, patient, chair, monitor):
        session_id = await flow.started(patient, chair, monitor)
        answers = {**CADSS_ZERO, "item_07": 5}
        r = await flow.post(f"/{session_id}/scales/cadss", {"answers": answers})
        assert r.status_code == 422
        assert "item_07" in r.json()["detail"]
        r = await flow.post(f"/{session_id}/scales/nope", {"answers": {}})
        assert r.status_code == 404

    async def test_checkpoints_are_due_and_overdue_and_a_record_clears_them(
        self, flow, patient, chair, monitor
    ):
        session_id = await flow.started(patient, chair, monitor)
        flow.clock.advance(minutes=13)
        states = {
            c["checkpoint_id"]: c["state"] for c in (await flow.get(session_id))["checkpoints"]
        }
        assert states["nibp_infusing"] == "overdue"
        assert states["cadss_pre"] == "done"
        assert states["cadss_40min"] == "upcoming"
        r = await flow.post(
            f"/{session_id}/vitals-check", vitals_check(flow.clock.now(), "nibp_infusing")
        )
        assert r.status_code == 200, r.text
        states = {c["checkpoint_id"]: c["state"] for c in r.json()["checkpoints"]}
        assert states["nibp_infusing"] == "upcoming"
        flow.clock.advance(minutes=27)
        r = await flow.post(
            f"/{session_id}/scales/cadss", {"answers": CADSS_ZERO, "checkpoint_id": "cadss_40min"}
        )
        states = {c["checkpoint_id"]: c["state"] for c in r.json()["checkpoints"]}
        assert states["cadss_40min"] == "done"


class TestDischarge:
    async def test_refused_before_minimum_time_and_with_cadss_above_baseline_then_accepted(
        self, flow, patient, chair, monitor
    ):
        session_id = await flow.in_recovery(patient, chair, monitor)
        ended = flow.clock.now()
        flow.clock.advance(minutes=30)
        await flow.post(f"/{session_id}/vitals-check", vitals_check(flow.clock.now()))
        high = {**CADSS_ZERO, "item_01": 2}
        await flow.post(f"/{session_id}/scales/cadss", {"answers": high})
        discharge = f"/{session_id}/discharge"
        assert (await flow.post(discharge, DISCHARGE_OK)).status_code == 403
        r = await flow.post(discharge, DISCHARGE_OK, headers=flow.physician)
        assert r.status_code == 409
        blockers = {b["code"]: b for b in r.json()["blockers"]}
        assert set(blockers) == {"observation_time_not_passed", "cadss_above_pre"}
        reached = ended + timedelta(minutes=60)
        assert (
            datetime.fromisoformat(blockers["observation_time_not_passed"]["available_at"])
            == reached
        )
        flow.clock.set(reached)
        r = await flow.post(discharge, DISCHARGE_OK, headers=flow.physician)
        assert [b["code"] for b in r.json()["blockers"]] == ["cadss_above_pre"]
        await flow.post(
            f"/{session_id}/scales/cadss",
            {"answers": CADSS_ZERO, "checkpoint_id": "cadss_discharge"},
        )
        r = await flow.post(discharge, {**DISCHARGE_OK, "password": "x"}, headers=flow.physician)
        assert r.status_code == 401
        r = await flow.post(discharge, DISCHARGE_OK, headers=flow.physician)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["state"] == "discharged"
        assert body["discharge_evaluation"]["aldrete_total"] == 10

    async def test_bp_far_from_baseline_and_missing_advice_are_named(
        self, flow, patient, chair, monitor
    ):
        session_id = await flow.in_recovery(patient, chair, monitor)
        flow.clock.advance(minutes=61)
        await flow.post(f"/{session_id}/vitals-check", vitals_check(flow.clock.now(), sbp_mmhg=158))
        await flow.post(f"/{session_id}/scales/cadss", {"answers": CADSS_ZERO})
        body = {**DISCHARGE_OK, "advice_no_alcohol_given": False, "escort_present": False}
        r = await flow.post(f"/{session_id}/discharge", body, headers=flow.physician)
        assert set(codes(r.json())) == {
            "bp_not_near_baseline",
            "escort_absent",
            "advice_no_alcohol_not_given",
        }


class TestCancelListAndScope:
    async def test_cancel_needs_a_reason_and_only_before_the_infusion(
        self, flow, patient, chair, monitor
    ):
        session_id = await flow.schedule(patient, chair)
        assert (await flow.post(f"/{session_id}/cancel", {})).status_code == 422
        r = await flow.post(f"/{session_id}/cancel", {"reason": "patient unwell"})
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "cancelled"
        r = await flow.post(f"/{session_id}/check-in", {"device_id": str(monitor.id)})
        assert r.status_code == 409
        assert "cancelled is final" in r.json()["detail"]

    async def test_list_by_clinic_local_day_and_state(
        self, flow, client, db, clinic, patient, chair
    ):
        late = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)  # 00:30 on the 24th in Oslo
        first = await flow.schedule(patient, chair)
        other = await make_eligible_patient(db, clinic)
        second = await flow.schedule(other, chair, at=late)
        r = await client.get(API, params={"day": "2026-11-23"}, headers=flow.nurse)
        assert [i["id"] for i in r.json()["items"]] == [first]
        r = await client.get(API, params={"day": "2026-11-24"}, headers=flow.nurse)
        assert [i["id"] for i in r.json()["items"]] == [second]
        r = await client.get(API, params={"state": "infusing"}, headers=flow.nurse)
        assert r.json()["items"] == []

    async def test_another_clinic_gets_404(self, flow, client, db, settings, patient, chair):
        session_id = await flow.schedule(patient, chair)
        outsider = bearer(await make_user(db, await make_clinic(db), "nurse"), settings)
        assert (await client.get(f"{API}/{session_id}", headers=outsider)).status_code == 404
        r = await client.post(f"{API}/{session_id}/cancel", json={"reason": "x"}, headers=outsider)
        assert r.status_code == 404

    async def test_every_transition_is_audited_with_actor_time_and_reason(
        self, flow, db, patient, chair, monitor, nurse_user
    ):
        session_id = await flow.started(patient, chair, monitor)
        flow.clock.advance(minutes=5)
        await flow.post(f"/{session_id}/stop", {"reason": "anxiety"})
        rows = (
            await db.scalars(
                select(AuditEntry)
                .where(AuditEntry.entity_id == session_id)
                .order_by(AuditEntry.seq)
            )
        ).all()
        actions = [
            r.action for r in rows if r.action.startswith("SESSION_") and "RECORDED" not in r.action
        ]
        assert actions == [
            "SESSION_SCHEDULED",
            "SESSION_CHECKED_IN",
            "SESSION_STARTED",
            "SESSION_STOPPED",
        ]
        stop = rows[-1]
        assert stop.actor_id == str(nurse_user.id)
        assert stop.at == flow.clock.now()
        assert stop.before == {"state": "infusing"}
        assert stop.after["reason"] == "anxiety"
        history = (await flow.get(session_id))["history"]
        assert [h["state"] for h in history] == ["scheduled", "checked_in", "infusing", "stopped"]


async def test_lifecycle_across_the_oslo_dst_change(db, clinic, protocol, chair, monitor, flow):
    # 2026-10-25 01:00 UTC: Oslo goes from 03:00 CEST back to 02:00 CET.
    start = datetime(2026, 10, 25, 0, 40, tzinfo=UTC)
    flow.clock.set(start)
    patient = await make_eligible_patient(db, clinic, now=start)
    session_id = await flow.started(patient, chair, monitor)
    flow.clock.advance(minutes=40)
    body = await flow.get(session_id)
    assert body["progress"]["complete"] is True
    assert datetime.fromisoformat(body["progress"]["completes_at"]) == start + timedelta(minutes=40)
    assert (await flow.post(f"/{session_id}/complete")).status_code == 200
    flow.clock.advance(minutes=59)
    await flow.post(f"/{session_id}/vitals-check", vitals_check(flow.clock.now()))
    await flow.post(f"/{session_id}/scales/cadss", {"answers": CADSS_ZERO})
    r = await flow.post(f"/{session_id}/discharge", DISCHARGE_OK, headers=flow.physician)
    assert codes(r.json()) == ["observation_time_not_passed"]
    assert r.json()["blockers"][0]["available_at"] == "2026-10-25T02:20:00+00:00"
    flow.clock.advance(minutes=1)
    r = await flow.post(f"/{session_id}/discharge", DISCHARGE_OK, headers=flow.physician)
    assert r.status_code == 200, r.text
    times = [datetime.fromisoformat(h["at"]) for h in r.json()["history"]]
    assert all(t.utcoffset() == timedelta(0) for t in times)
    assert times[-1] - times[2] == timedelta(hours=1, minutes=40)
    r = await flow.client.get(API, params={"day": "2026-10-25"}, headers=flow.nurse)
    assert [i["id"] for i in r.json()["items"]] == [session_id]
