"""FHIR use cases: Observations in (through the vitals ingest path) and out, Patient import."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.audit.domain import Actor
from app.devices.models import Device
from app.interop import profiles
from app.interop.domain import fhir_map
from app.interop.repository import InteropRepository
from app.patients import service as patients_service
from app.patients.schemas import PatientCreate
from app.vitals import service as vitals_service
from app.vitals.domain import RawReading
from app.vitals.models import VitalReading


@dataclass(frozen=True, slots=True)
class EntryOutcome:
    """One Observation's result: HTTP-like status, the stored resources, or the problem."""

    status: int
    resources: tuple[dict[str, Any], ...] = ()
    problem: str | None = None


def as_observation(row: VitalReading, patient_id: uuid.UUID | None) -> dict[str, Any]:
    return fhir_map.reading_observation(
        reading_id=str(row.id),
        source_id=row.source_id,
        metric=row.metric,
        value=row.value,
        unit=row.unit,
        observed_at=row.observed_at,
        patient_id=None if patient_id is None else str(patient_id),
        device_id=None if row.device_id is None else str(row.device_id),
    )


async def create_observations(
    db: AsyncSession,
    *,
    device: Device,
    observations: Sequence[tuple[dict[str, Any], str | None]],
    now: datetime,
) -> list[EntryOutcome]:
    """Store Observations (each with its entry's ifNoneExist) through the vitals ingest: 201
    created, 200 already stored (same identifier and content), 409 same identifier other
    content, 422 not storable. Side effects as the vitals ingest (events, alarms, counters)."""
    tables = profiles.tables_of(await InteropRepository(db).profile_for_device(device.id))
    per_entry: list[tuple[RawReading, ...] | str] = []
    for resource, if_none_exist in observations:
        try:
            key = fhir_map.identifier_key(resource, if_none_exist)
            per_entry.append(fhir_map.observation_readings(resource, key=key, tables=tables))
        except fhir_map.FhirInputError as exc:
            per_entry.append(str(exc))
    raws = [r for entry in per_entry if not isinstance(entry, str) for r in entry]
    results = {}
    if raws:
        outcome = await vitals_service.ingest(
            db, device=device, raws=raws, sent_at=None, received_at=now, source="fhir"
        )
        results = {r.source_id: r for r in outcome.results}
    repo = InteropRepository(db)
    stored = {
        row.source_id: (row, patient)
        for row, patient in await repo.readings_by_source(device.id, [r.source_id for r in raws])
    }
    outcomes: list[EntryOutcome] = []
    for entry in per_entry:
        if isinstance(entry, str):
            outcomes.append(EntryOutcome(422, problem=entry))
            continue
        statuses = [results[r.source_id] for r in entry]
        bad = next((s for s in statuses if s.status in ("rejected", "conflict")), None)
        if bad is not None:
            code = 409 if bad.status == "conflict" else 422
            outcomes.append(EntryOutcome(code, problem=f"{bad.code}: {bad.message}"))
            continue
        created = any(s.status == "created" for s in statuses)
        resources = tuple(as_observation(*stored[r.source_id]) for r in entry)
        outcomes.append(EntryOutcome(201 if created else 200, resources))
    return outcomes


async def search_observations(
    db: AsyncSession,
    *,
    clinic_id: uuid.UUID,
    patient_id: uuid.UUID,
    since: datetime | None,
    until: datetime | None,
    actor: Actor,
    now: datetime,
    limit: int,
) -> list[dict[str, Any]]:
    """A patient's stored readings (all sessions) as Observations; audited (FHIR_READ)."""
    rows = await InteropRepository(db).patient_readings(
        clinic_id, patient_id, since=since, until=until, limit=limit
    )
    await audit_service.record(
        db,
        actor=actor,
        action="FHIR_OBSERVATIONS_READ",
        entity_type="patient",
        entity_id=patient_id,
        clinic_id=clinic_id,
        now=now,
        after={"count": len(rows)},
    )
    return [as_observation(row, patient_id) for row in rows]


async def read_observation(
    db: AsyncSession, *, clinic_id: uuid.UUID, reading_id: uuid.UUID
) -> dict[str, Any] | None:
    found = await InteropRepository(db).reading(clinic_id, reading_id)
    return None if found is None else as_observation(*found)


async def import_patient(
    db: AsyncSession, *, clinic_id: uuid.UUID, resource: dict[str, Any], actor: Actor, now: datetime
) -> tuple[uuid.UUID, bool]:
    """Create or update a patient from an EHR's FHIR Patient, matched by its MR identifier."""
    fields = fhir_map.patient_fields(resource)
    data = PatientCreate.model_validate(
        {
            "mrn": fields.mrn,
            "name": fields.name,
            "birth_date": fields.birth_date,
            "sex": fields.sex,
        }
    )
    patient, created = await patients_service.import_patient(
        db, clinic_id=clinic_id, data=data, actor=actor, now=now
    )
    return patient.id, created
