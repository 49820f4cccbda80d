"""Registry export (issue 11 point 5): sessions of a clinic period (and/or one patient) as CSV
rows (`kind` session/course) or a FHIR R4B Bundle. Pseudonymised by default; identified only
on request. Every export is audited as REGISTRY_EXPORTED with its filters and `identified`."""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.audit.domain import Actor
from app.clinics import service as clinics_service
from app.core.config import Settings
from app.patients import service as patients_service
from app.registry.repository import RegistryRepository
from app.registry.service import fhir
from app.registry.service.course import course_view_for
from app.registry.service.export_rows import (
    PSEUDONYM_SYSTEM,
    course_row,
    data_dictionary,
    pseudonym,
    session_row,
)
from app.registry.service.session_data import SessionData, session_data
from app.sessions import service as sessions_service

ExportFormat = Literal["csv", "fhir"]


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """Filters: clinic-local days [first_day, last_day] on the booked start, one patient."""

    clinic_id: uuid.UUID
    actor: Actor
    first_day: date | None
    last_day: date | None
    patient_id: uuid.UUID | None
    identified: bool


@dataclass(slots=True)
class _Gathered:
    sessions: list[SessionData]
    who: dict[uuid.UUID, dict[str, Any]]


async def _gather(
    db: AsyncSession, req: ExportRequest, secret: str, now: datetime, tz: ZoneInfo
) -> _Gathered:
    start = None if req.first_day is None else datetime.combine(req.first_day, time(0), tz)
    end = (
        None
        if req.last_day is None
        else datetime.combine(req.last_day + timedelta(days=1), time(0), tz)
    )
    ids = await sessions_service.session_ids(
        db,
        clinic_id=req.clinic_id,
        patient_id=req.patient_id,
        scheduled_from=start,
        scheduled_before=end,
    )
    sessions = [await session_data(db, clinic_id=req.clinic_id, session_id=i, now=now) for i in ids]
    who: dict[uuid.UUID, dict[str, Any]] = {}
    for data in sessions:
        pid = data.read.patient_id
        if pid in who:
            continue
        who[pid] = {"patient_pseudonym": pseudonym(secret, pid)}
        if req.identified:
            found = await patients_service.get_patient(
                db, clinic_id=req.clinic_id, patient_id=pid, actor=req.actor, now=now
            )
            who[pid] |= {
                "patient_mrn": found.patient.mrn,
                "patient_name": found.patient.name,
                "patient_birth_date": found.patient.birth_date,
            }
    return _Gathered(sessions, who)


async def _audit(db: AsyncSession, req: ExportRequest, fmt: str, count: int, now: datetime) -> None:
    await audit_service.record(
        db,
        actor=req.actor,
        action="REGISTRY_EXPORTED",
        entity_type="registry",
        entity_id=None,
        clinic_id=req.clinic_id,
        now=now,
        after={
            "format": fmt,
            "identified": req.identified,
            "from": None if req.first_day is None else req.first_day.isoformat(),
            "to": None if req.last_day is None else req.last_day.isoformat(),
            "patient_id": None if req.patient_id is None else str(req.patient_id),
            "sessions": count,
        },
    )


async def export_csv(
    db: AsyncSession, req: ExportRequest, *, secret: str, now: datetime, tz: ZoneInfo
) -> str:
    """The CSV: a header of every dictionary column, session rows then course rows."""
    got = await _gather(db, req, secret, now, tz)
    rows = [session_row(d, got.who[d.read.patient_id]) for d in got.sessions]
    repo = RegistryRepository(db)
    for pid, who in got.who.items():
        view = await course_view_for(db, clinic_id=req.clinic_id, patient_id=pid, now=now, tz=tz)
        rows.append(course_row(view, who, await repo.evaluations(pid), tz))
    await _audit(db, req, "csv", len(got.sessions), now)
    out = io.StringIO()
    columns = [c[0] for c in data_dictionary(req.identified)]
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _patient(who: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(fhir.derived_id("patient", who["patient_pseudonym"])),
        "identifier": [{"system": PSEUDONYM_SYSTEM, "value": who["patient_pseudonym"]}],
    }
    if "patient_mrn" in who:
        resource["identifier"].append({"system": fhir.MRN_SYSTEM, "value": who["patient_mrn"]})
        resource["name"] = [{"text": who["patient_name"]}]
        resource["birthDate"] = who["patient_birth_date"].isoformat()
    return resource


async def export_fhir(
    db: AsyncSession, req: ExportRequest, *, secret: str, now: datetime, tz: ZoneInfo
) -> dict[str, Any]:
    """A FHIR R4B collection Bundle: Patient (pseudonymised id), Encounter per session, the
    summary Observations, a QuestionnaireResponse per scale, AdverseEvents."""
    got = await _gather(db, req, secret, now, tz)
    resources: list[dict[str, Any]] = []
    subjects: dict[uuid.UUID, str] = {}
    repo = RegistryRepository(db)
    for pid, who in got.who.items():
        patient = _patient(who)
        subjects[pid] = f"urn:uuid:{patient['id']}"
        resources.append(patient)
        for entry in await repo.course_scales(pid):
            resources.append(
                fhir.questionnaire_response(
                    f"course-scale/{entry.id}",
                    subjects[pid],
                    entry.scale_id,
                    dict(entry.answers),
                    entry.total,
                    entry.taken_date,
                )
            )
    for data in got.sessions:
        subject = subjects[data.read.patient_id]
        resources.append(fhir.encounter(data, subject))
        resources.extend(fhir.session_observations(data, subject))
        for index, e in enumerate(data.read.scales):
            resources.append(
                fhir.questionnaire_response(
                    f"session-scale/{data.read.id}/{index}",
                    subject,
                    e.scale_id,
                    dict(e.answers),
                    e.total,
                    e.at,
                    data.read.id,
                )
            )
        resources.extend(fhir.adverse_events(data, subject))
    await _audit(db, req, "fhir", len(got.sessions), now)
    return fhir.bundle(resources, bundle_id=fhir.derived_id("export", now.isoformat()), at=now)


async def export_text(
    db: AsyncSession,
    *,
    clinic_name: str,
    actor: Actor,
    first_day: date | None,
    last_day: date | None,
    patient_id: uuid.UUID | None,
    output_format: ExportFormat,
    identified: bool,
    settings: Settings,
    now: datetime,
) -> str:
    """The export of a clinic found by name as text (CSV, or FHIR JSON): the CLI's use case."""
    clinic = await clinics_service.get_clinic_by_name(db, clinic_name)
    req = ExportRequest(clinic.id, actor, first_day, last_day, patient_id, identified)
    secret, tz = settings.secret_key.get_secret_value(), settings.timezone
    if output_format == "fhir":
        return json.dumps(await export_fhir(db, req, secret=secret, now=now, tz=tz), indent=1)
    return await export_csv(db, req, secret=secret, now=now, tz=tz)
