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


Row = tuple[VitalReading, uuid.UUID | None]
NIBP_PAIR = ("sbp", "dbp")


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


def as_panel(systolic: Row, diastolic: Row) -> dict[str, Any]:
    sbp, patient_id = systolic
    dbp = diastolic[0]
    return fhir_map.bp_panel_observation(
        systolic=fhir_map.PanelPart(str(sbp.id), sbp.source_id, sbp.value, sbp.unit),
        diastolic=fhir_map.PanelPart(str(dbp.id), dbp.source_id, dbp.value, dbp.unit),
        observed_at=sbp.observed_at,
        patient_id=None if patient_id is None else str(patient_id),
        device_id=None if sbp.device_id is None else str(sbp.device_id),
    )


def render(group: tuple[Row, ...]) -> dict[str, Any]:
    """One Observation: the BP panel for an SBP+DBP pair, else the single reading."""
    return as_panel(*group) if len(group) == 2 else as_observation(*group[0])


def measurement_key(row: VitalReading) -> tuple[object, ...]:
    """One NIBP measurement, as the vitals ingest pairs SBP and DBP: the same device (and
    session), and the same measurement_id or else the same observed_at."""
    if row.measurement_id is not None:
        return (row.device_id, row.session_id, "id", row.measurement_id)
    return (row.device_id, row.session_id, "at", row.observed_at)


def group_readings(unordered: Sequence[Row]) -> list[tuple[Row, ...]]:
    """Rows as Observations, ordered by observed_at and id: the first SBP and the first DBP of
    one measurement become a (sbp, dbp) pair at the first one's place; everything else (MAP,
    a lone SBP or DBP, a second SBP of one measurement) stays single. Each row appears once,
    and the same rows always pair the same way, so a panel's id (its SBP's) is stable."""
    rows = sorted(unordered, key=lambda item: (item[0].observed_at, item[0].id))
    firsts: dict[tuple[object, ...], dict[str, Row]] = {}
    for item in rows:
        if item[0].metric in NIBP_PAIR:
            firsts.setdefault(measurement_key(item[0]), {}).setdefault(item[0].metric, item)
    groups: list[tuple[Row, ...]] = []
    emitted: set[uuid.UUID] = set()
    for item in rows:
        row = item[0]
        if row.id in emitted:
            continue
        pair = firsts.get(measurement_key(row), {}) if row.metric in NIBP_PAIR else {}
        if len(pair) == 2 and pair[row.metric][0] is row:
            groups.append((pair["sbp"], pair["dbp"]))
            emitted.update((pair["sbp"][0].id, pair["dbp"][0].id))
        else:
            groups.append((item,))
            emitted.add(row.id)
    return groups


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
        groups = group_readings([stored[r.source_id] for r in entry])
        resources = tuple(render(group) for group in groups)
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
    """A patient's stored readings (all sessions) as Observations, the SBP and DBP of one NIBP
    measurement as one BP panel (listed once, even when its partner reading falls outside the
    date bounds); audited (FHIR_READ)."""
    repo = InteropRepository(db)
    readings = await repo.patient_readings(
        clinic_id, patient_id, since=since, until=until, limit=limit
    )
    rows: list[Row] = [(row, patient_id) for row in readings]
    matched = {row.id for row in readings}
    metrics: dict[tuple[object, ...], set[str]] = {}
    for row in readings:
        if row.metric in NIBP_PAIR:
            metrics.setdefault(measurement_key(row), set()).add(row.metric)
    lone = [r for r in readings if r.metric in NIBP_PAIR and len(metrics[measurement_key(r)]) < 2]
    if lone:
        # The partner of a lone SBP/DBP may lie just outside the date bounds (or the limit).
        wanted = {measurement_key(r) for r in lone}
        for row, _patient in await repo.nibp_candidates(clinic_id, lone):
            if row.id not in matched and measurement_key(row) in wanted:
                rows.append((row, patient_id))
    resources = [
        render(group)
        for group in group_readings(rows)
        if any(item[0].id in matched for item in group)
    ]
    await audit_service.record(
        db,
        actor=actor,
        action="FHIR_OBSERVATIONS_READ",
        entity_type="patient",
        entity_id=patient_id,
        clinic_id=clinic_id,
        now=now,
        after={"count": len(resources)},
    )
    return resources


async def read_observation(
    db: AsyncSession, *, clinic_id: uuid.UUID, reading_id: uuid.UUID
) -> dict[str, Any] | None:
    """One stored reading as an Observation; an SBP or DBP with a partner in its NIBP
    measurement as the BP panel, whose id is the SBP's (so either reading's id resolves to it)."""
    repo = InteropRepository(db)
    found = await repo.reading(clinic_id, reading_id)
    if found is None:
        return None
    row = found[0]
    if row.metric not in NIBP_PAIR or row.excluded_at is not None:
        return as_observation(*found)
    key = measurement_key(row)
    candidates = [
        item
        for item in await repo.nibp_candidates(clinic_id, [row])
        if measurement_key(item[0]) == key
    ]
    for group in group_readings(candidates):
        if any(item[0].id == row.id for item in group):
            return render(group)
    return as_observation(*found)


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
