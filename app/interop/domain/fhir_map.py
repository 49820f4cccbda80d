"""FHIR R4 vital-sign Observations and Patients ↔ our readings and patient fields (pure; the
adapter validates the resources' structure with fhir.resources before calling these)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from app.interop.domain.codes import Coded, Tables, metric_for, ucum_for
from app.vitals.domain import RawReading

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
MDC = "urn:iso:std:iso:11073:10101"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
VITALS_PROFILE = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
READING_ID_SYSTEM = "urn:ketamine-monitor:reading"
BP_PANEL = "85354-9"
BP_PROFILE = "http://hl7.org/fhir/StructureDefinition/bp"
BP_PANEL_CODINGS: tuple[tuple[str, str, str], ...] = (
    (LOINC, BP_PANEL, "Blood pressure panel with all children optional"),
    (MDC, "150020", "MDC_PRESS_BLD_NONINV"),
)
ACCEPTED_STATUSES = frozenset({"final", "amended", "corrected", "preliminary"})
MAX_KEY_CHARS = 100

# Output codings per metric (clinical.md §7.1, §7.4): LOINC first, MDC as a second coding.
OUTPUT_CODINGS: Mapping[str, tuple[tuple[str, str, str], ...]] = {
    "sbp": (
        (LOINC, "8480-6", "Systolic blood pressure"),
        (MDC, "150021", "MDC_PRESS_BLD_NONINV_SYS"),
    ),
    "dbp": (
        (LOINC, "8462-4", "Diastolic blood pressure"),
        (MDC, "150022", "MDC_PRESS_BLD_NONINV_DIA"),
    ),
    "map": ((LOINC, "8478-0", "Mean blood pressure"), (MDC, "150023", "MDC_PRESS_BLD_NONINV_MEAN")),
    "hr": ((LOINC, "8867-4", "Heart rate"), (MDC, "147842", "MDC_ECG_HEART_RATE")),
    "pr": ((LOINC, "8867-4", "Heart rate"), (MDC, "149530", "MDC_PULS_OXIM_PULS_RATE")),
    "spo2": (
        (LOINC, "2708-6", "Oxygen saturation in Arterial blood"),
        (LOINC, "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
        (MDC, "150456", "MDC_PULS_OXIM_SAT_O2"),
    ),
    "rr": ((LOINC, "9279-1", "Respiratory rate"), (MDC, "151562", "MDC_RESP_RATE")),
    "temp": ((LOINC, "8310-5", "Body temperature"), (MDC, "150364", "MDC_TEMP_BODY")),
}


class FhirInputError(ValueError):
    """The resource is valid FHIR but not something we can store (422, OperationOutcome)."""


def identifier_key(resource: Mapping[str, Any], if_none_exist: str | None = None) -> str:
    """The idempotency key: the first identifier (system|value), else a Bundle entry's
    ``ifNoneExist`` (``identifier=system|value``). Without either the Observation is refused,
    because a retry could not be recognised (DESIGN §6)."""
    for ident in resource.get("identifier") or []:
        value = ident.get("value")
        if value:
            key = f"{ident.get('system', '')}|{value}"
            break
    else:
        if if_none_exist and if_none_exist.startswith("identifier="):
            key = if_none_exist.removeprefix("identifier=")
        else:
            raise FhirInputError(
                "Observation.identifier (or the entry's ifNoneExist) is required: "
                "it makes a retry safe"
            )
    if len(key) > MAX_KEY_CHARS:
        raise FhirInputError(f"identifier is longer than {MAX_KEY_CHARS} characters")
    return key


def _codings(concept: Mapping[str, Any] | None) -> list[Coded]:
    return [
        Coded(str(c.get("code", "")), str(c.get("display", "")), str(c.get("system", "")))
        for c in (concept or {}).get("coding") or []
    ]


def _metric(concept: Mapping[str, Any] | None, tables: Tables) -> str | None:
    for coded in _codings(concept):
        if coded.system in (LOINC, MDC, "") or coded.code in tables.code_map:
            found = metric_for(Coded(coded.code), tables.code_map)
            if found is not None:
                return found
    return None


def _quantity(holder: Mapping[str, Any], tables: Tables, where: str) -> tuple[float, str]:
    quantity = holder.get("valueQuantity")
    if not isinstance(quantity, Mapping) or quantity.get("value") is None:
        raise FhirInputError(f"{where}.valueQuantity.value is required")
    code = str(quantity.get("code") or "")
    unit = code if quantity.get("system") == UCUM and code else None
    if unit is None:
        unit = ucum_for(Coded(code, str(quantity.get("unit") or "")), tables.unit_map)
    return float(quantity["value"]), unit


def _effective(resource: Mapping[str, Any]) -> datetime:
    text = resource.get("effectiveDateTime") or resource.get("effectiveInstant")
    if not text:
        raise FhirInputError("Observation.effectiveDateTime is required")
    try:
        return datetime.fromisoformat(str(text))
    except ValueError as exc:
        raise FhirInputError(f"effectiveDateTime {text!r} is not a date and time") from exc


def observation_readings(
    resource: Mapping[str, Any], *, key: str, tables: Tables
) -> tuple[RawReading, ...]:
    """Raw readings from one vital-sign Observation: a single LOINC/MDC-coded valueQuantity, or
    the BP panel 85354-9 with its components (one NIBP measurement). Each reading id is
    ``fhir:<key>`` (plus the component code)."""
    status = resource.get("status")
    if status not in ACCEPTED_STATUSES:
        raise FhirInputError(f"Observation.status {status!r} is not a stored result")
    observed_at = _effective(resource)
    source = f"fhir:{key}"
    if any(c.code == BP_PANEL for c in _codings(resource.get("code"))):
        raws = []
        for index, component in enumerate(resource.get("component") or []):
            metric = _metric(component.get("code"), tables)
            if metric is None:
                continue
            value, unit = _quantity(component, tables, f"component[{index}]")
            code = _codings(component.get("code"))[0].code
            raws.append(RawReading(f"{source}:{code}", metric, value, unit, observed_at, source))
        if not raws:
            raise FhirInputError("the BP panel has no systolic, diastolic or mean component")
        return tuple(raws)
    metric = _metric(resource.get("code"), tables)
    if metric is None:
        labels = ", ".join(c.label() for c in _codings(resource.get("code"))) or "(none)"
        raise FhirInputError(f"Observation.code {labels} is not a vital sign we store")
    value, unit = _quantity(resource, tables, "Observation")
    return (RawReading(source, metric, value, unit, observed_at),)


def _vital_sign(
    *,
    resource_id: str,
    identifiers: Sequence[str],
    profiles: Sequence[str],
    codings: Sequence[tuple[str, str, str]],
    observed_at: datetime,
    patient_id: str | None,
    device_id: str | None,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": resource_id,
        "meta": {"profile": list(profiles)},
        "identifier": [{"system": READING_ID_SYSTEM, "value": value} for value in identifiers],
        "status": "final",
        "category": [
            {"coding": [{"system": CATEGORY, "code": "vital-signs", "display": "Vital Signs"}]}
        ],
        "code": {
            "coding": [{"system": s, "code": c, "display": d} for s, c, d in codings],
            "text": codings[0][2],
        },
        "effectiveDateTime": observed_at.isoformat(),
    }
    if patient_id is not None:
        resource["subject"] = {"reference": f"Patient/{patient_id}"}
    if device_id is not None:
        resource["device"] = {"reference": f"Device/{device_id}"}
    return resource


def _value_quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def reading_observation(
    *,
    reading_id: str,
    source_id: str,
    metric: str,
    value: float,
    unit: str,
    observed_at: datetime,
    patient_id: str | None,
    device_id: str | None,
) -> dict[str, Any]:
    """A stored reading as an R4 vital-signs Observation (UCUM valueQuantity, LOINC + MDC)."""
    resource = _vital_sign(
        resource_id=reading_id,
        identifiers=[source_id],
        profiles=[VITALS_PROFILE],
        codings=OUTPUT_CODINGS[metric],
        observed_at=observed_at,
        patient_id=patient_id,
        device_id=device_id,
    )
    resource["valueQuantity"] = _value_quantity(value, unit)
    return resource


@dataclass(frozen=True, slots=True)
class PanelPart:
    """One stored reading of an NIBP measurement (systolic or diastolic)."""

    reading_id: str
    source_id: str
    value: float
    unit: str


def bp_panel_observation(
    *,
    systolic: PanelPart,
    diastolic: PanelPart,
    observed_at: datetime,
    patient_id: str | None,
    device_id: str | None,
) -> dict[str, Any]:
    """The SBP and DBP readings of one NIBP measurement as the R4 vital-signs blood pressure
    panel (LOINC 85354-9, components 8480-6 and 8462-4 in UCUM). Its id is the systolic
    reading's id (stable; the caller resolves either reading's id to this panel); its
    identifiers are both readings' source ids. MAP is not a component: it stays its own
    Observation (8478-0)."""
    resource = _vital_sign(
        resource_id=systolic.reading_id,
        identifiers=[systolic.source_id, diastolic.source_id],
        profiles=[VITALS_PROFILE, BP_PROFILE],
        codings=BP_PANEL_CODINGS,
        observed_at=observed_at,
        patient_id=patient_id,
        device_id=device_id,
    )
    resource["component"] = [
        {
            "code": {
                "coding": [{"system": s, "code": c, "display": d} for s, c, d in codings],
                "text": codings[0][2],
            },
            "valueQuantity": _value_quantity(part.value, part.unit),
        }
        for part, codings in (
            (systolic, OUTPUT_CODINGS["sbp"]),
            (diastolic, OUTPUT_CODINGS["dbp"]),
        )
    ]
    return resource


@dataclass(frozen=True, slots=True)
class PatientFields:
    mrn: str
    name: str
    birth_date: date
    sex: str


def patient_fields(resource: Mapping[str, Any]) -> PatientFields:
    """What we keep of an EHR's Patient: the MR identifier (else the first) as the record
    number, the official (else first) name, birthDate and gender."""
    identifiers: Sequence[Mapping[str, Any]] = resource.get("identifier") or []

    def is_mr(ident: Mapping[str, Any]) -> bool:
        return any(c.get("code") == "MR" for c in (ident.get("type") or {}).get("coding") or [])

    chosen = next((i for i in identifiers if is_mr(i) and i.get("value")), None)
    chosen = chosen or next((i for i in identifiers if i.get("value")), None)
    if chosen is None:
        raise FhirInputError("Patient.identifier with a value (the record number) is required")
    names: Sequence[Mapping[str, Any]] = resource.get("name") or []
    name = next((n for n in names if n.get("use") == "official"), names[0] if names else None)
    if name is None:
        raise FhirInputError("Patient.name is required")
    text = name.get("text") or " ".join([*(name.get("given") or []), name.get("family") or ""])
    if not text.strip():
        raise FhirInputError("Patient.name has no text, given or family name")
    if not resource.get("birthDate"):
        raise FhirInputError("Patient.birthDate is required")
    try:
        birth = date.fromisoformat(str(resource["birthDate"]))
    except ValueError as exc:
        raise FhirInputError("Patient.birthDate must be a full date (YYYY-MM-DD)") from exc
    gender = resource.get("gender") or "unknown"
    return PatientFields(str(chosen["value"])[:64], text.strip()[:200], birth, gender)


def capability_statement(*, software_version: str, release_date: str) -> dict[str, Any]:
    """What this server does in FHIR R4 (4.0.1)."""
    observation = {
        "type": "Observation",
        "profile": VITALS_PROFILE,
        "interaction": [{"code": "create"}, {"code": "read"}, {"code": "search-type"}],
        "conditionalCreate": True,
        "searchParam": [
            {"name": "subject", "type": "reference"},
            {"name": "date", "type": "date"},
        ],
    }
    patient = {"type": "Patient", "interaction": [{"code": "create"}], "conditionalCreate": True}
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": release_date,
        "kind": "instance",
        "software": {"name": "ketamine-monitor", "version": software_version},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Device key for Observation create; staff token for reads; "
                "admin or nurse for Patient import.",
                "resource": [observation, patient],
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
            }
        ],
    }
