"""Drive a whole session to discharge through the API, with a high SBP alarm on the way, the
drug accounted for, and registry records; used by the registry API tests."""

from __future__ import annotations

from typing import Any

from tests.fixtures.factories import make_eligible_patient, make_user
from tests.fixtures.sessions import CADSS_ZERO, DISCHARGE_OK, Flow, vitals_check

ALARMS = "/api/v1/alarms"


async def discharged(flow: Flow, db, clinic, patient, chair, monitor, *, alarm: bool = True) -> str:
    """A discharged session: started, (SBP 210 alarm at 10 min, acknowledged, cleared by a
    normal BP at 20 min), NIBP at 40 min, completed at 40 min, drug accounted, recovery BP and
    CADSS at 100 min, discharged by the physician."""
    session_id = await flow.started(patient, chair, monitor)
    if alarm:
        flow.clock.advance(minutes=10)
        check = vitals_check(flow.clock.now(), "nibp_infusing", sbp_mmhg=210, dbp_mmhg=95)
        assert (await flow.post(f"/{session_id}/vitals-check", check)).status_code == 200
        r = await flow.client.get(f"/api/v1/sessions/{session_id}/alarms", headers=flow.nurse)
        [raised] = r.json()["items"]
        r = await flow.client.post(
            f"{ALARMS}/{raised['id']}/ack", json={"note": "repeat NIBP"}, headers=flow.nurse
        )
        assert r.status_code == 200, r.text
        flow.clock.advance(minutes=10)
        ok = vitals_check(flow.clock.now(), "nibp_infusing", sbp_mmhg=150, dbp_mmhg=85)
        assert (await flow.post(f"/{session_id}/vitals-check", ok)).status_code == 200
        flow.clock.advance(minutes=20)
    else:
        flow.clock.advance(minutes=40)
    at_40 = vitals_check(flow.clock.now(), "nibp_infusing", sbp_mmhg=140, dbp_mmhg=82)
    assert (await flow.post(f"/{session_id}/vitals-check", at_40)).status_code == 200
    assert (await flow.post(f"/{session_id}/complete")).status_code == 200
    witness = await make_user(db, clinic, "nurse")
    drug = {
        "lot": "KET-2026-11",
        "prepared_ml": "110.0",
        "wasted_ml": "0.5",
        "witness_user_id": str(witness.id),
    }
    r = await flow.post(f"/{session_id}/drug", drug)
    assert r.status_code == 200, r.text
    flow.clock.advance(minutes=60)
    await flow.post(f"/{session_id}/vitals-check", vitals_check(flow.clock.now()))
    await flow.post(
        f"/{session_id}/scales/cadss", {"answers": CADSS_ZERO, "checkpoint_id": "cadss_discharge"}
    )
    r = await flow.post(f"/{session_id}/discharge", DISCHARGE_OK, headers=flow.physician)
    assert r.status_code == 200, r.text
    return session_id


async def session_json(flow: Flow, session_id: str) -> dict[str, Any]:
    return await flow.get(session_id)


async def reweigh(flow: Flow, patient) -> None:
    body = {"weight_kg": "70.0", "measured_at": flow.clock.now().isoformat()}
    r = await flow.client.post(
        f"/api/v1/patients/{patient.id}/weights", json=body, headers=flow.nurse
    )
    assert r.status_code in (200, 201), r.text


async def three_sessions(flow: Flow, db, clinic, patient, chair, monitor):
    """Patient A: infusion 1 (SBP 210 alarm) and 2 two days later; patient B: infusion 1."""
    first = await discharged(flow, db, clinic, patient, chair, monitor)
    r = await flow.client.post(
        f"/api/v1/sessions/{first}/adverse-events",
        json={
            "term": "Hypertension",
            "grade": 2,
            "serious": False,
            "outcome": "resolved",
            "onset_at": flow.clock.now().isoformat(),
        },
        headers=flow.nurse,
    )
    assert r.status_code == 201, r.text
    r = await flow.client.post(
        f"/api/v1/sessions/{first}/side-effects",
        json={"headache": "mild", "bladder_urgency": "moderate"},
        headers=flow.nurse,
    )
    assert r.status_code == 200, r.text
    flow.clock.advance(days=2)
    await reweigh(flow, patient)
    second = await discharged(flow, db, clinic, patient, chair, monitor, alarm=False)
    other = await make_eligible_patient(db, clinic, now=flow.clock.now())
    third = await discharged(flow, db, clinic, other, chair, monitor, alarm=False)
    return first, second, third, other
