"""FHIR R4 (4.0.1) endpoints under /fhir; errors are OperationOutcome resources."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from pydantic import ValidationError

from app.auth.dependencies import AdminOrNurse, AnyStaff, DeviceCaller, require_roles
from app.auth.domain import Principal
from app.core.db import SessionDep
from app.core.deps import ClockDep
from app.core.errors import Forbidden, Unauthorized, responses
from app.core.types import Role
from app.devices import service as devices_service
from app.interop import fhir_service
from app.interop.domain import fhir_map

router = APIRouter(prefix="/fhir", tags=["fhir"])

FHIR_JSON = "application/fhir+json"
MAX_SEARCH_RESULTS = 1000
DeviceOrImporter = Annotated[Principal, Depends(require_roles(Role.DEVICE, Role.ADMIN, Role.NURSE))]


class FhirError(Exception):
    """Rendered as an OperationOutcome with this HTTP status (the transaction rolls back)."""

    def __init__(self, status: int, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def outcome(message: str, code: str = "invalid", severity: str = "error") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": message}],
    }


def add_fhir_exception_handler(app: FastAPI) -> None:
    async def on_fhir_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, FhirError)
        return fhir_json(outcome(exc.message, exc.code), status=exc.status)

    app.add_exception_handler(FhirError, on_fhir_error)


def fhir_json(resource: dict[str, Any], *, status: int = 200, **headers: str) -> JSONResponse:
    return JSONResponse(resource, status_code=status, media_type=FHIR_JSON, headers=headers)


# fhir.resources' models are pydantic v2 models (validated on the way in, in tests on the way out).
MODELS: dict[str, Any] = {"Observation": Observation, "Patient": Patient, "Bundle": Bundle}
OUTCOME = {"content": {FHIR_JSON: {}}, "description": "OperationOutcome"}


async def _resource(request: Request, expected: set[str]) -> dict[str, Any]:
    try:
        data = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        raise FhirError(400, "the body is not JSON", "structure") from exc
    if not isinstance(data, dict) or data.get("resourceType") not in expected:
        raise FhirError(400, f"expected a resource of type {' or '.join(sorted(expected))}")
    try:
        MODELS[data["resourceType"]].model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:10]
        )
        raise FhirError(422, f"not a valid R4 {data['resourceType']}: {problems}") from exc
    return data


@router.get("/metadata", responses={200: {"content": {FHIR_JSON: {}}}})
async def fhir_capabilities() -> JSONResponse:
    """The CapabilityStatement (FHIR R4 4.0.1): what this server accepts and returns. Public."""
    return fhir_json(
        fhir_map.capability_statement(software_version="0.1.0", release_date="2026-11-28")
    )


@router.post(
    "/Observation",
    responses={
        201: {"content": {FHIR_JSON: {}}},
        400: OUTCOME,
        422: OUTCOME,
        409: OUTCOME,
        **responses(Unauthorized, Forbidden),
    },
)
async def create_observation(
    request: Request, principal: DeviceCaller, db: SessionDep, clock: ClockDep
) -> JSONResponse:
    """Store one vital-sign Observation (device key). LOINC-coded `valueQuantity` in UCUM,
    `effectiveDateTime` with offset, `identifier` required (a retry returns 200 with the stored
    resource), BP as the 85354-9 panel with components (answered as the stored panel; a Bundle
    when it also holds a MAP component, which is stored and returned on its own). Errors: OperationOutcome with 400 (not JSON / wrong type), 422 (invalid or not
    storable), 409 (same identifier, other content)."""
    resource = await _resource(request, {"Observation"})
    assert principal.device_id is not None
    device = await devices_service.get_device(db, principal.clinic_id, principal.device_id)
    [result] = await fhir_service.create_observations(
        db, device=device, observations=[(resource, None)], now=clock.now()
    )
    if result.problem is not None:
        raise FhirError(
            result.status, result.problem, "conflict" if result.status == 409 else "invalid"
        )
    if len(result.resources) == 1:
        body = result.resources[0]
        return fhir_json(body, status=result.status, Location=f"Observation/{body['id']}")
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in result.resources],
    }
    return fhir_json(bundle, status=result.status)


def _entry_response(
    status: int, resource: dict[str, Any] | None, problem: str | None
) -> dict[str, Any]:
    text = {200: "200 OK", 201: "201 Created", 409: "409 Conflict", 422: "422 Unprocessable Entity"}
    entry: dict[str, Any] = {"response": {"status": text.get(status, str(status))}}
    if resource is not None:
        entry["resource"] = resource
        entry["response"]["location"] = f"{resource['resourceType']}/{resource['id']}"
    if problem is not None:
        entry["response"]["outcome"] = outcome(problem)
    return entry


@router.post(
    "",
    responses={
        200: {"content": {FHIR_JSON: {}}},
        400: OUTCOME,
        422: OUTCOME,
        **responses(Unauthorized, Forbidden),
    },
)
async def post_bundle(
    request: Request, principal: DeviceOrImporter, db: SessionDep, clock: ClockDep
) -> JSONResponse:
    """A `transaction` or `batch` Bundle of Observations (device key) or of Patients (admin or
    nurse). A transaction is all or nothing: any entry that cannot be stored fails it with an
    OperationOutcome and nothing is kept; a batch answers each entry. Observations are
    idempotent by `identifier` or the entry's `request.ifNoneExist`."""
    bundle = await _resource(request, {"Bundle"})
    kind = bundle.get("type")
    if kind not in ("transaction", "batch"):
        raise FhirError(400, "POST /fhir takes a Bundle of type transaction or batch")
    entries = list(bundle.get("entry") or [])
    types = {(e.get("resource") or {}).get("resourceType") for e in entries}
    if not entries or (not types <= {"Observation"} and not types <= {"Patient"}):
        raise FhirError(400, "the Bundle must hold only Observations or only Patients")
    for index, entry in enumerate(entries):
        try:
            MODELS[entry["resource"]["resourceType"]].model_validate(entry["resource"])
        except ValidationError as exc:
            raise FhirError(
                422, f"entry[{index}] is not a valid R4 resource: {exc.errors()[0]['msg']}"
            ) from exc
    now = clock.now()
    response_entries: list[dict[str, Any]] = []
    if "Observation" in types:
        if principal.role != Role.DEVICE or principal.device_id is None:
            raise FhirError(403, "Observations are sent with a device key", "forbidden")
        device = await devices_service.get_device(db, principal.clinic_id, principal.device_id)
        results = await fhir_service.create_observations(
            db,
            device=device,
            observations=[
                (e["resource"], (e.get("request") or {}).get("ifNoneExist")) for e in entries
            ],
            now=now,
        )
        for index, result in enumerate(results):
            if result.problem is not None and kind == "transaction":
                raise FhirError(result.status, f"entry[{index}]: {result.problem}; nothing stored")
            first = result.resources[0] if result.resources else None
            response_entries.append(_entry_response(result.status, first, result.problem))
    else:
        if principal.role not in (Role.ADMIN, Role.NURSE):
            raise FhirError(403, "Patients are imported by an admin or a nurse", "forbidden")
        for index, entry in enumerate(entries):
            try:
                patient_id, created = await fhir_service.import_patient(
                    db,
                    clinic_id=principal.clinic_id,
                    resource=entry["resource"],
                    actor=principal.actor,
                    now=now,
                )
            except fhir_map.FhirInputError as exc:
                raise FhirError(422, f"entry[{index}]: {exc}; nothing stored") from exc
            stored = {**entry["resource"], "id": str(patient_id)}
            response_entries.append(_entry_response(201 if created else 200, stored, None))
    return fhir_json(
        {"resourceType": "Bundle", "type": f"{kind}-response", "entry": response_entries}
    )


@router.post(
    "/Patient",
    responses={
        201: {"content": {FHIR_JSON: {}}},
        400: OUTCOME,
        422: OUTCOME,
        **responses(Unauthorized, Forbidden),
    },
)
async def import_patient(
    request: Request, principal: AdminOrNurse, db: SessionDep, clock: ClockDep
) -> JSONResponse:
    """Import a Patient from an EHR (admin or nurse), matched by its MR identifier (else the
    first): 201 created, 200 updated. Needs identifier, name, birthDate; gender optional."""
    resource = await _resource(request, {"Patient"})
    try:
        patient_id, created = await fhir_service.import_patient(
            db,
            clinic_id=principal.clinic_id,
            resource=resource,
            actor=principal.actor,
            now=clock.now(),
        )
    except fhir_map.FhirInputError as exc:
        raise FhirError(422, str(exc)) from exc
    return fhir_json(
        {**resource, "id": str(patient_id)},
        status=201 if created else 200,
        Location=f"Patient/{patient_id}",
    )


def _date_bounds(values: list[str]) -> tuple[datetime | None, datetime | None]:
    since = until = None
    for value in values:
        prefix, text = (value[:2], value[2:]) if value[:2].isalpha() else ("eq", value)
        try:
            at = datetime.fromisoformat(text)
        except ValueError as exc:
            raise FhirError(400, f"date={value!r}: use e.g. ge2026-11-23T10:00:00+01:00") from exc
        if at.tzinfo is None:
            raise FhirError(400, f"date={value!r} needs a time and UTC offset")
        if prefix in ("ge", "gt"):
            since = at
        elif prefix in ("le", "lt"):
            until = at
        else:
            raise FhirError(400, f"date prefix {prefix!r} is not supported (ge, gt, le, lt)")
    return since, until


@router.get(
    "/Observation",
    responses={
        200: {"content": {FHIR_JSON: {}}},
        400: OUTCOME,
        **responses(Unauthorized, Forbidden),
    },
)
async def search_observations(
    principal: AnyStaff,
    db: SessionDep,
    clock: ClockDep,
    subject: Annotated[str, Query(description="Patient/<id>")],
    date: Annotated[list[str] | None, Query(description="ge/gt/le/lt + dateTime")] = None,
) -> JSONResponse:
    """A patient's stored readings as R4 vital-sign Observations in a searchset Bundle (staff:
    nurse, physician or admin; audited). `date=ge…&date=lt…` bounds effectiveDateTime. The SBP
    and DBP of one NIBP measurement are one BP panel (85354-9), listed once."""
    try:
        patient_id = uuid.UUID(subject.removeprefix("Patient/"))
    except ValueError as exc:
        raise FhirError(400, "subject must be Patient/<id>") from exc
    since, until = _date_bounds(date or [])
    resources = await fhir_service.search_observations(
        db,
        clinic_id=principal.clinic_id,
        patient_id=patient_id,
        since=since,
        until=until,
        actor=principal.actor,
        now=clock.now(),
        limit=MAX_SEARCH_RESULTS,
    )
    return fhir_json(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(resources),
            "entry": [
                {"fullUrl": f"Observation/{r['id']}", "resource": r, "search": {"mode": "match"}}
                for r in resources
            ],
        }
    )


@router.get(
    "/Observation/{observation_id}",
    responses={
        200: {"content": {FHIR_JSON: {}}},
        404: OUTCOME,
        **responses(Unauthorized, Forbidden),
    },
)
async def read_observation(
    observation_id: str, principal: AnyStaff, db: SessionDep
) -> JSONResponse:
    """One stored reading as an R4 vital-sign Observation (staff: nurse, physician or admin).
    A BP panel's id is its systolic reading's id; the diastolic reading's id answers with the
    same panel."""
    try:
        reading_id = uuid.UUID(observation_id)
    except ValueError as exc:
        raise FhirError(404, f"Observation/{observation_id} not found", "not-found") from exc
    found = await fhir_service.read_observation(
        db, clinic_id=principal.clinic_id, reading_id=reading_id
    )
    if found is None:
        raise FhirError(404, f"Observation/{observation_id} not found", "not-found")
    return fhir_json(found)
