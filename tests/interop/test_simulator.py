"""The simulator's desaturation scenario sent as HL7 ORU^R01 (and FHIR) raises the SpO2 alarm."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.interop import simulate as senders
from app.simulator import Format, Scenario, simulate
from tests.fixtures.clock import FakeClock
from tests.fixtures.factories import make_device

DURATION_S = 90


@pytest.fixture
def clock() -> FakeClock:
    # The simulator stamps readings with the real time; the session must be open before them.
    return FakeClock(datetime.now(UTC) - timedelta(seconds=DURATION_S + 120))


@pytest.mark.parametrize("output_format", [Format.HL7, Format.FHIR])
async def test_desaturation_raises_the_spo2_alarm(
    app, flow, db, clinic, chair, patient, clock, output_format
):
    device, key = await make_device(db, clinic, chair)
    session_id = await flow.started(patient, chair, device)
    clock.advance(seconds=DURATION_S + 120)
    summary = await simulate(
        server="http://testserver",
        device_keys=[key],
        monitors=1,
        duration_s=DURATION_S,
        speed=50,
        scenario=Scenario.DESATURATION,
        output_format=output_format,
        transport=httpx.ASGITransport(app=app),
    )
    assert not summary.errors
    assert summary.created == summary.acked == summary.readings_sent
    r = await flow.client.get(f"/api/v1/sessions/{session_id}/alarms", headers=flow.nurse)
    alarms = r.json()["items"]
    assert {a["metric"] for a in alarms} >= {"spo2"}, alarms
    spo2 = next(a for a in alarms if a["metric"] == "spo2")
    assert spo2["state"] == "active"
    assert spo2["priority"] in ("medium", "high")


def test_er7_and_ack_round_trip():
    readings = [
        {
            "id": "m1-1",
            "metric": "spo2",
            "value": 88.0,
            "unit": "%",
            "observed_at": "2026-11-23T10:00:00.250+01:00",
        },
        {
            "id": "m1-2",
            "metric": "hr",
            "value": 72.0,
            "unit": "/min",
            "observed_at": "2026-11-23T10:00:00.250+01:00",
        },
    ]
    message = senders.er7_message(readings, control_id="m1-1", facility="MON1")
    assert "|150456^MDC_PULS_OXIM_SAT_O2^MDC|" in message
    assert "|20261123100000.250+0100" in message
    ack = "MSH|^~\\&|KM\rMSA|AA|m1-1\rERR||OBX^5^5|102^^HL70357|W|x\r"
    assert senders.results_from_ack(ack, 2) == [{"status": "created"}, {"status": "rejected"}]
    assert senders.results_from_ack("MSH|\rMSA|AE|x\r", 1) == [{"status": "rejected"}]
