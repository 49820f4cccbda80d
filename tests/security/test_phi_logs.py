"""PHI hygiene: every log line of a full patient journey on a real server (structlog on
stdout, stdlib logging, uvicorn's error and access logs, at debug level) is captured, and the
patient's name and birth date appear in none of them, in any common format.

The journey: the patient is created (and a malformed and a duplicate create are refused),
searched by name, screened and signed, weighed, booked, checked in, infused with device
readings that raise an alarm (acknowledged), completed, observed and discharged; the registry
is exported, the summary fetched as PDF and FHIR; an HL7 ORU^R01 carrying the name and birth
date in PID is ingested (and one with a wrong MRN refused); a FHIR Patient is posted; the
pages are opened in a browser session."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import uvicorn

from app.core.config import Settings
from app.main import create_app
from tests.fixtures.clock import FakeClock
from tests.fixtures.factories import PASSWORD, device_auth, screening_body
from tests.fixtures.proxy import free_port
from tests.fixtures.sessions import CADSS_ZERO, DISCHARGE_OK, Flow, vitals_check
from tests.interop.samples import er7, fhir
from tests.realtime.conftest import SECRET, Seeded, seed
from tests.security.conftest import record_figures
from tests.web.test_pages import browser_login

pytestmark = pytest.mark.slow

GIVEN, FAMILY = "Bartholomew", "Quixtrandsen"
NAME = f"{GIVEN} {FAMILY}"
BIRTH = ("1958", "09", "23")
Y, M, D = BIRTH
FORBIDDEN = [
    GIVEN,
    FAMILY,
    f"{Y}-{M}-{D}",  # ISO
    f"{Y}{M}{D}",  # HL7 DT
    f"{D}/{M}/{Y}",
    f"{M}/{D}/{Y}",
    f"{Y}/{M}/{D}",
    f"{D}.{M}.{Y}",
    f"{D}-{M}-{Y}",
    f"{D}{M}{Y[2:]}",  # the date part of a Norwegian national id number
]
HL7 = {"Content-Type": "x-application/hl7-v2+er7"}


class Capture(logging.Handler):
    """Every stdlib log record, formatted with its arguments and any traceback."""

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@asynccontextmanager
async def debug_server(settings: Settings, clock: FakeClock) -> AsyncIterator[str]:
    """The app under uvicorn with its own logging at debug and the access log on."""
    config = uvicorn.Config(
        create_app(settings, clock=clock),
        host="127.0.0.1",
        port=free_port(),
        log_level="debug",
        access_log=True,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(20):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=20)


def found_in(lines: list[str]) -> list[str]:
    pattern = re.compile("|".join(re.escape(f) for f in FORBIDDEN), re.IGNORECASE)
    return [line for line in lines if pattern.search(line)]


async def journey(http: httpx.AsyncClient, s: Seeded, clock: FakeClock, settings: Settings) -> int:
    """The whole course of one patient through the API; the number of requests made."""
    flow = Flow(http, clock, (s.nurse, s.physician), settings, s.protocol)
    calls = 0

    async def call(method: str, url: str, expect: tuple[int, ...], **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        r = await http.request(method, url, **kwargs)
        assert r.status_code in expect, f"{method} {url}: {r.status_code} {r.text[:300]}"
        return r

    person = {
        "mrn": "PHI-0001",
        "name": NAME,
        "birth_date": f"{Y}-{M}-{D}",
        "sex": "male",
        "weight": {"weight_kg": "82.0", "measured_at": clock.now().isoformat()},
    }
    await call(
        "POST",
        "/api/v1/patients",
        (422,),
        json={**person, "birth_date": f"{D}/{M}/{Y}"},
        headers=flow.nurse,
    )
    created = (
        await call("POST", "/api/v1/patients", (201,), json=person, headers=flow.nurse)
    ).json()
    await call("POST", "/api/v1/patients", (409,), json=person, headers=flow.nurse)
    patient_id = created["id"]
    await call("GET", f"/api/v1/patients?q={FAMILY}", (200,), headers=flow.nurse)
    await call("GET", f"/api/v1/patients?q={Y}-{M}-{D}", (200, 422), headers=flow.nurse)
    await call(
        "PATCH", f"/api/v1/patients/{patient_id}", (200,), json={"name": NAME}, headers=flow.nurse
    )

    body = screening_body(clock.now() - timedelta(hours=1))
    screening = (
        await call(
            "POST",
            f"/api/v1/patients/{patient_id}/screenings",
            (201,),
            json=body,
            headers=flow.nurse,
        )
    ).json()
    await call(
        "POST",
        f"/api/v1/screenings/{screening['id']}/sign",
        (200,),
        json={"password": PASSWORD, "decision": "eligible", "note": "ok"},
        headers=flow.physician,
    )
    await call(
        "POST",
        f"/api/v1/screenings/{screening['id']}/sign",
        (401, 409),
        json={"password": "wrong", "decision": "eligible"},
        headers=flow.physician,
    )

    patient = SimpleNamespace(id=patient_id)
    session_id = await flow.started(patient, s.chair, s.monitor)
    calls += 3
    device = device_auth(s.device_key)
    start = clock.now()
    low = [
        {
            "id": f"phi-{i}",
            "metric": "spo2",
            "value": 85,
            "unit": "%",
            "observed_at": (start + timedelta(seconds=i)).isoformat(),
        }
        for i in range(20)
    ]
    await call("POST", "/api/v1/vitals", (200,), json={"readings": low}, headers=device)
    clock.advance(seconds=25)
    alarms = (
        await call("GET", f"/api/v1/sessions/{session_id}/alarms", (200,), headers=flow.nurse)
    ).json()
    assert alarms["items"], "SpO2 85 % for 20 s should raise an alarm"
    # Acknowledged once the condition has ended (below): a latching alarm then clears.
    resumed = clock.now()
    clock.advance(seconds=31)
    normal = [
        {
            "id": f"phi-n{i}",
            "metric": "spo2",
            "value": 98,
            "unit": "%",
            "observed_at": (resumed + timedelta(seconds=i)).isoformat(),
        }
        for i in range(31)
    ]
    await call("POST", "/api/v1/vitals", (200,), json={"readings": normal}, headers=device)

    # HL7 ORU^R01 with the patient's MRN, name and birth date in PID (and one with a wrong MRN).
    stamp = clock.now().strftime("%Y%m%d%H%M%S+0000")
    replace = {
        "20260124131539+0100": stamp,
        "HR-100234": "PHI-0001",
        "Doe^Jane": f"{FAMILY}^{GIVEN}",
        "19800101": f"{Y}{M}{D}",
    }
    oru = er7("pcd01_philips_vitals.hl7", **replace)
    r = await call("POST", "/api/v1/hl7", (200,), content=oru, headers={**device, **HL7})
    assert "|AA|" in r.text, r.text
    wrong = er7(
        "pcd01_philips_vitals.hl7", **{**replace, "HR-100234": "OTHER-9", "PHX-000123": "PHX-9"}
    )
    r = await call("POST", "/api/v1/hl7", (200,), content=wrong, headers={**device, **HL7})
    assert "|AE|" in r.text, r.text
    garbled = oru.replace("MSH|", "MSX|", 1)
    await call("POST", "/api/v1/hl7", (200, 400, 422), content=garbled, headers={**device, **HL7})

    # A FHIR Patient with the same person (a match or a new one: either way, not logged).
    resource = fhir("fhir_patient.json")
    resource["name"] = [{"use": "official", "family": FAMILY, "given": [GIVEN]}]
    resource["birthDate"] = f"{Y}-{M}-{D}"
    resource["identifier"][1]["value"] = "PHI-0001"
    resource["identifier"][0]["value"] = f"{D}{M}{Y[2:]}12345"
    await call(
        "POST",
        "/fhir/Patient",
        (200, 201, 409, 422),
        json=resource,
        headers={**flow.nurse, "Content-Type": "application/fhir+json"},
    )

    clock.advance(minutes=40)
    await call("POST", f"/api/v1/sessions/{session_id}/complete", (200,), headers=flow.nurse)
    clock.advance(minutes=61)
    await call(
        "POST",
        f"/api/v1/sessions/{session_id}/vitals-check",
        (200, 201),
        json=vitals_check(clock.now()),
        headers=flow.nurse,
    )
    await call(
        "POST",
        f"/api/v1/sessions/{session_id}/scales/cadss",
        (200,),
        json={"answers": CADSS_ZERO},
        headers=flow.nurse,
    )
    # Normal readings of every vital after the monitor's silence, the alarms acknowledged.
    units = {"spo2": "%", "sbp": "mm[Hg]", "dbp": "mm[Hg]", "hr": "/min", "rr": "/min"}
    values = {"spo2": 98, "sbp": 122, "dbp": 78, "hr": 70, "rr": 14}
    settle = [
        {
            "id": f"phi-s{metric}{i}",
            "metric": metric,
            "value": values[metric],
            "unit": units[metric],
            "observed_at": (clock.now() - timedelta(seconds=25 - i)).isoformat(),
        }
        for i in range(0, 30, 5)
        for metric in units
    ]
    await call("POST", "/api/v1/vitals", (200,), json={"readings": settle}, headers=device)
    await asyncio.sleep(0.5)  # the scheduler's technical-alarm run sees the fresh readings
    url = f"/api/v1/sessions/{session_id}/alarms"
    alarms = (await call("GET", url, (200,), headers=flow.nurse)).json()["items"]
    for alarm in [a for a in alarms if a["state"] != "cleared"]:
        ack = f"/api/v1/alarms/{alarm['id']}/ack"
        await call("POST", ack, (200,), json={"note": "seen"}, headers=flow.nurse)
    r = await call(
        "POST",
        f"/api/v1/sessions/{session_id}/discharge",
        (200, 409),
        json=DISCHARGE_OK,
        headers=flow.physician,
    )
    after = (await http.get(url, headers=flow.nurse)).json()["items"]
    assert r.status_code == 200, [
        (a["rule_id"], a["state"], a["condition_present"], a["acknowledged_at"]) for a in after
    ]

    for url in (
        f"/api/v1/sessions/{session_id}",
        f"/api/v1/sessions/{session_id}/summary",
        f"/api/v1/sessions/{session_id}/summary.pdf",
        f"/api/v1/sessions/{session_id}/summary.fhir",
        f"/api/v1/sessions/{session_id}/registry",
        f"/api/v1/patients/{patient_id}/course",
        f"/fhir/Observation?subject=Patient/{patient_id}",
        "/api/v1/registry/export",
        "/api/v1/registry/report",
    ):
        await call("GET", url, (200,), headers=flow.physician)
    return calls


@pytest.fixture
async def seeded(migrated_url: str) -> Seeded:
    return await seed(migrated_url, patients=0)


@pytest.mark.timeout(180)
async def test_no_name_or_birth_date_in_any_log_line(
    migrated_url: str, seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = FakeClock()
    settings = Settings(
        env="test",
        database_url=migrated_url,
        secret_key=SECRET,
        scheduler_enabled=True,
        scheduler_interval_s=0.2,
        log_level="DEBUG",
        log_json=True,
    )
    capture = Capture()
    loggers = [logging.getLogger(n) for n in ("", "uvicorn", "uvicorn.error", "uvicorn.access")]
    try:
        async with debug_server(settings, clock) as url:
            for logger in loggers:
                logger.addHandler(capture)
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                requests = await journey(http, seeded, clock, settings)
                # The pages, in a browser session.
                assert (await browser_login(http, seeded.physician.username)).status_code == 303
                for page in ("/board", "/schedule", "/registry/report"):
                    assert (await http.get(page)).status_code == 200
            await asyncio.sleep(0.5)  # a scheduler run or two over the finished session
    finally:
        for logger in loggers:
            logger.removeHandler(capture)
    out, err = capsys.readouterr()
    lines = out.splitlines() + err.splitlines() + capture.lines

    # The capture works: the app's request lines, uvicorn's access lines and the scheduler.
    events = [json.loads(line).get("event") for line in out.splitlines() if line.startswith("{")]
    assert events.count("request") >= requests
    assert any(
        "uvicorn.access" in line and '"POST /api/v1/hl7 HTTP/1.1" 200' in line
        for line in capture.lines
    )
    assert "scheduler_started" in events

    leaks = found_in(lines)
    assert not leaks, f"{len(leaks)} log lines carry the name or birth date:\n" + "\n".join(
        leaks[:10]
    )
    record_figures(
        "phi_logs",
        {
            "requests": requests,
            "log_lines_scanned": len(lines),
            "structlog_lines": len(out.splitlines()),
            "stdlib_lines": len(capture.lines),
            "forbidden_strings": len(FORBIDDEN),
            "lines_with_phi": len(leaks),
        },
    )
