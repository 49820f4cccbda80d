"""Encoders for the monitor simulator's ``--format hl7|fhir``: one simulator message (a list of
readings) as an ORU^R01 or a FHIR batch Bundle, and the server's answer as per-reading results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from app.interop.domain import fhir_map
from app.interop.domain.er7 import Separators, escape

SIMULATOR_APPLICATION = "KM_SIMULATOR"
READING_SYSTEM = "urn:ketamine-monitor:simulator"

_MDC_UNITS = {
    ("spo2", "%"): "262688^MDC_DIM_PERCENT^MDC",
    ("hr", "/min"): "264864^MDC_DIM_BEAT_PER_MIN^MDC",
    ("pr", "/min"): "264864^MDC_DIM_BEAT_PER_MIN^MDC",
    ("rr", "/min"): "264928^MDC_DIM_RESP_PER_MIN^MDC",
    ("sbp", "mm[Hg]"): "266016^MDC_DIM_MMHG^MDC",
    ("dbp", "mm[Hg]"): "266016^MDC_DIM_MMHG^MDC",
    ("map", "mm[Hg]"): "266016^MDC_DIM_MMHG^MDC",
}


def _mdc(metric: str) -> str:
    _system, code, name = next(c for c in fhir_map.OUTPUT_CODINGS[metric] if c[0] == fhir_map.MDC)
    return f"{code}^{name}^MDC"


def _dtm(iso: str) -> str:
    at = datetime.fromisoformat(iso)
    return at.strftime("%Y%m%d%H%M%S.") + f"{at.microsecond // 1000:03d}" + at.strftime("%z")


def er7_message(readings: list[dict[str, Any]], *, control_id: str, facility: str) -> str:
    """An IHE PCD-01-shaped ORU^R01: MDS hierarchy row, then one OBX per reading (MDC codes
    and units, OBX-14 with milliseconds and offset). MSH-10 is ``control_id``."""
    seps = Separators()
    sent = _dtm(readings[0]["observed_at"])
    lines = [
        f"MSH|^~\\&|{SIMULATOR_APPLICATION}|{escape(facility, seps)}|KETAMINE_MONITOR||{sent}||"
        f"ORU^R01^ORU_R01|{escape(control_id, seps)}|P|2.6",
        f"OBR|1|{escape(control_id, seps)}||182777000^monitoring of patient^SNOMED-CT|||{sent}",
        "OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X",
    ]
    for set_id, r in enumerate(readings, start=2):
        unit = _MDC_UNITS.get((r["metric"], r["unit"]), r["unit"])
        lines.append(
            f"OBX|{set_id}|NM|{_mdc(r['metric'])}|1.1.1.{set_id}|{r['value']:g}|{unit}|||||R|||"
            f"{_dtm(r['observed_at'])}"
        )
    return "\r".join(lines) + "\r"


def results_from_ack(ack: str, count: int) -> list[dict[str, Any]]:
    """Per-reading results from an ACK: AA → created, except the OBX rows named in ERR rows;
    AE/AR → all rejected."""
    segments = [s.split("|") for s in ack.split("\r") if s]
    msa = next((s for s in segments if s[0] == "MSA"), ["MSA", "AR"])
    if msa[1] != "AA":
        return [{"status": "rejected"}] * count
    flagged = {
        int(s[2].split("^")[1]) for s in segments if s[0] == "ERR" and s[2].startswith("OBX^")
    }
    # OBX rows start at segment 4 (MSH, OBR, the MDS row): reading n is segment n + 4.
    return [{"status": "rejected" if index + 4 in flagged else "created"} for index in range(count)]


def fhir_bundle(readings: list[dict[str, Any]]) -> dict[str, Any]:
    """A batch Bundle with one vital-sign Observation per reading (identifier = reading id)."""
    entries = []
    for r in readings:
        observation = fhir_map.reading_observation(
            reading_id=r["id"],
            source_id=r["id"],
            metric=r["metric"],
            value=r["value"],
            unit=r["unit"],
            observed_at=datetime.fromisoformat(r["observed_at"]),
            patient_id=None,
            device_id=None,
        )
        del observation["id"], observation["meta"]
        observation["identifier"] = [{"system": READING_SYSTEM, "value": r["id"]}]
        entries.append(
            {"resource": observation, "request": {"method": "POST", "url": "Observation"}}
        )
    return {"resourceType": "Bundle", "type": "batch", "entry": entries}


def results_from_bundle(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-reading results from a batch-response: 201 created, 200 duplicate, else rejected."""
    statuses = {"201": "created", "200": "duplicate", "409": "conflict"}
    return [
        {"status": statuses.get(e["response"]["status"].split()[0], "rejected")}
        for e in bundle.get("entry", [])
    ]


async def _post_hl7(
    client: httpx.AsyncClient, monitor: Any, body: dict[str, Any]
) -> httpx.Response:
    readings = body["readings"]
    message = er7_message(readings, control_id=readings[0]["id"], facility=f"MON{monitor.index}")
    return await client.post(
        "/api/v1/hl7",
        content=message.encode(),
        headers={
            "Authorization": f"Bearer {monitor.device_key}",
            "Content-Type": "x-application/hl7-v2+er7",
        },
    )


def _hl7_results(response: httpx.Response, body: dict[str, Any]) -> list[dict[str, Any]]:
    return results_from_ack(response.text, len(body["readings"]))


async def _post_fhir(
    client: httpx.AsyncClient, monitor: Any, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        "/fhir",
        json=fhir_bundle(body["readings"]),
        headers={
            "Authorization": f"Bearer {monitor.device_key}",
            "Content-Type": "application/fhir+json",
        },
    )


def _fhir_results(response: httpx.Response, _body: dict[str, Any]) -> list[dict[str, Any]]:
    return results_from_bundle(response.json())


# (post, results_of) pairs for the simulator's HTTP sender.
HL7 = (_post_hl7, _hl7_results)
FHIR = (_post_fhir, _fhir_results)
