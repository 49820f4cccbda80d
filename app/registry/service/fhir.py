"""FHIR R4B resources (as JSON dicts) for the session summary document and the registry
export: DocumentReference wrapping the PDF, Encounter, Observations of the summary numbers,
QuestionnaireResponse per scale, AdverseEvent, Patient. Validated with fhir.resources in
tests; built here as plain JSON so the app does not depend on the model classes."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from app.registry.domain import BloodPressure
from app.registry.domain.events import SIDE_EFFECT_ITEMS
from app.registry.service.session_data import SessionData

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SCALE_URI = "urn:ketamine-monitor:scale:"
PSEUDONYM_SYSTEM = "urn:ketamine-monitor:pseudonym"
MRN_SYSTEM = "urn:ketamine-monitor:mrn"
_NS = uuid.UUID("6f5f0c1e-7a43-4e37-9d64-2d1b8c0a9e11")

Json = dict[str, Any]


def urn(value: uuid.UUID) -> str:
    return f"urn:uuid:{value}"


def derived_id(*parts: str) -> uuid.UUID:
    """A stable UUID for a derived resource (the same export gives the same ids)."""
    return uuid.uuid5(_NS, "/".join(parts))


def _iso(value: datetime) -> str:
    return value.isoformat()


def _quantity(value: float | int, unit: str) -> Json:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _code(text: str, loinc: str | None = None, display: str | None = None) -> Json:
    code: Json = {"text": text}
    if loinc is not None:
        code["coding"] = [{"system": LOINC, "code": loinc, "display": display or text}]
    return code


def _observation(
    key: str,
    data: SessionData,
    subject: str,
    code: Json,
    when: datetime,
    *,
    value: Json | int | None = None,
    components: Sequence[Json] = (),
    value_key: str = "valueQuantity",
) -> Json:
    resource: Json = {
        "resourceType": "Observation",
        "id": str(derived_id(str(data.read.id), key)),
        "status": "final",
        "code": code,
        "subject": {"reference": subject},
        "encounter": {"reference": urn(data.read.id)},
        "effectiveDateTime": _iso(when),
    }
    if value is not None:
        resource[value_key] = value
    if components:
        resource["component"] = list(components)
    return resource


def _bp_observation(
    key: str, label: str, bp: BloodPressure, data: SessionData, subject: str
) -> Json:
    components = [
        {
            "code": _code("Systolic blood pressure", "8480-6"),
            "valueQuantity": _quantity(bp.sbp_mmhg, "mm[Hg]"),
        }
    ]
    if bp.dbp_mmhg is not None:
        components.append(
            {
                "code": _code("Diastolic blood pressure", "8462-4"),
                "valueQuantity": _quantity(bp.dbp_mmhg, "mm[Hg]"),
            }
        )
    code = _code(f"Blood pressure panel ({label})", "85354-9", "Blood pressure panel")
    return _observation(key, data, subject, code, bp.observed_at, components=components)


def session_observations(data: SessionData, subject: str) -> list[Json]:
    """The summary numbers of a session as Observations (LOINC where one fits, text otherwise)."""
    s, t = data.summary, data.times
    if s is None or t is None:
        return []
    end = t.discharged_at or t.infusion_ended_at or t.checked_in_at
    out: list[Json] = []
    for key, label, bp in (
        ("bp_pre", "pre-infusion", s.bp_pre),
        ("bp_40_min", "40 min", s.bp_40_min),
        ("bp_end", "end of infusion", s.bp_end),
    ):
        if bp is not None:
            out.append(_bp_observation(key, label, bp, data, subject))
    if s.min_spo2_pct is not None:
        code = _code(
            "Lowest SpO2 during the session", "59408-5", "Oxygen saturation by Pulse oximetry"
        )
        out.append(
            _observation("min_spo2", data, subject, code, end, value=_quantity(s.min_spo2_pct, "%"))
        )
    if s.max_sbp_mmhg is not None:
        code = _code(
            "Highest systolic blood pressure during the session",
            "8480-6",
            "Systolic blood pressure",
        )
        out.append(
            _observation(
                "max_sbp", data, subject, code, end, value=_quantity(s.max_sbp_mmhg, "mm[Hg]")
            )
        )
    for key, label, minutes in (
        ("monitoring_minutes", "Total monitoring time", s.monitoring_minutes),
        (
            "ready_to_leave_minutes",
            "Time from end of infusion to ready to leave",
            s.ready_to_leave_minutes,
        ),
    ):
        if minutes is not None:
            out.append(
                _observation(key, data, subject, _code(label), end, value=_quantity(minutes, "min"))
            )
    for priority, count in s.alarm_counts.items():
        code = _code(f"Alarms of {priority} priority during the session")
        out.append(
            _observation(
                f"alarms_{priority}",
                data,
                subject,
                code,
                end,
                value=count,
                value_key="valueInteger",
            )
        )
    order = data.read.order
    if order is not None and t.infusion_started_at is not None:
        code = _code("Ketamine dose ordered (IV over the infusion)")
        out.append(
            _observation(
                "dose",
                data,
                subject,
                code,
                t.infusion_started_at,
                value=_quantity(float(order.dose_mg), "mg"),
            )
        )
    se = data.side_effects
    if se is not None:
        for item in SIDE_EFFECT_ITEMS:
            severity = getattr(se, item)
            if severity != "none":
                code = _code(f"Side effect: {item.replace('_', ' ')}")
                out.append(
                    _observation(
                        f"side_effect_{item}",
                        data,
                        subject,
                        code,
                        se.recorded_at,
                        value={"text": severity},
                        value_key="valueCodeableConcept",
                    )
                )
    return out


def document_reference(
    data: SessionData, subject: str, pdf: bytes, *, created_at: datetime
) -> Json:
    """A DocumentReference wrapping the session summary PDF, authenticated by the
    discharging physician (by name)."""
    resource: Json = {
        "resourceType": "DocumentReference",
        "id": str(derived_id(str(data.read.id), "summary-pdf")),
        "status": "current",
        "type": _code("Ketamine infusion session summary", "11506-3", "Progress note"),
        "subject": {"reference": subject},
        "date": _iso(created_at),
        "description": f"Session summary, infusion {data.read.infusion_number}",
        "content": [
            {
                "attachment": {
                    "contentType": "application/pdf",
                    "data": base64.b64encode(pdf).decode("ascii"),
                    "title": f"session-{data.read.id}-summary.pdf",
                    "creation": _iso(created_at),
                }
            }
        ],
        "context": {"encounter": [{"reference": urn(data.read.id)}]},
    }
    if data.discharged_by is not None:
        resource["authenticator"] = {"display": data.discharged_by}
    return resource


def encounter(data: SessionData, subject: str) -> Json:
    """The session as an ambulatory Encounter (check-in to discharge)."""
    status = {"discharged": "finished", "cancelled": "cancelled", "scheduled": "planned"}
    resource: Json = {
        "resourceType": "Encounter",
        "id": str(data.read.id),
        "status": status.get(data.read.state, "in-progress"),
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "AMB",
            "display": "ambulatory",
        },
        "type": [
            {
                "text": f"Ketamine infusion {data.read.infusion_number} of {data.read.planned_infusions}"
            }
        ],
        "subject": {"reference": subject},
    }
    if data.times is not None:
        period = {"start": _iso(data.times.checked_in_at)}
        if data.times.discharged_at is not None:
            period["end"] = _iso(data.times.discharged_at)
        resource["period"] = period
    return resource


def questionnaire_response(
    key: str,
    subject: str,
    scale_id: str,
    answers: dict[str, int],
    total: int,
    authored: datetime | date,
    encounter_id: uuid.UUID | None = None,
) -> Json:
    """A scored scale as a QuestionnaireResponse: one integer answer per item plus `total`."""
    items = [
        {"linkId": item, "answer": [{"valueInteger": value}]} for item, value in answers.items()
    ]
    items.append({"linkId": "total", "answer": [{"valueInteger": total}]})
    resource: Json = {
        "resourceType": "QuestionnaireResponse",
        "id": str(derived_id(key)),
        "questionnaire": f"{SCALE_URI}{scale_id}",
        "status": "completed",
        "subject": {"reference": subject},
        "authored": authored.isoformat(),
        "item": items,
    }
    if encounter_id is not None:
        resource["encounter"] = {"reference": urn(encounter_id)}
    return resource


def adverse_events(data: SessionData, subject: str) -> list[Json]:
    """The session's adverse events (CTCAE grade in the event text and as severity)."""
    severity = {1: "mild", 2: "moderate"}
    out = []
    for ae in data.adverse_events:
        system = "http://terminology.hl7.org/CodeSystem/adverse-event-"
        out.append(
            {
                "resourceType": "AdverseEvent",
                "id": str(ae.id),
                "actuality": "actual",
                "event": {"text": f"{ae.term} (CTCAE grade {ae.grade})"},
                "subject": {"reference": subject},
                "encounter": {"reference": urn(data.read.id)},
                "date": _iso(ae.onset_at),
                "recordedDate": _iso(ae.recorded_at),
                "seriousness": {
                    "coding": [
                        {
                            "system": f"{system}seriousness",
                            "code": "serious" if ae.serious else "non-serious",
                        }
                    ]
                },
                "severity": {
                    "coding": [
                        {
                            "system": f"{system}severity",
                            "code": severity.get(ae.grade, "severe"),
                        }
                    ]
                },
                "outcome": {"coding": [{"system": f"{system}outcome", "code": ae.outcome}]},
            }
        )
    return out


def bundle(resources: Sequence[Json], *, bundle_id: uuid.UUID, at: datetime) -> Json:
    """A `collection` Bundle; every entry's fullUrl is `urn:uuid:<id>` so references resolve."""
    out: Json = {
        "resourceType": "Bundle",
        "id": str(bundle_id),
        "type": "collection",
        "timestamp": _iso(at),
    }
    if resources:  # FHIR JSON has no empty arrays
        out["entry"] = [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources]
    return out
