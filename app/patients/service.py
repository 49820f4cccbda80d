"""Patient records. Every read and write is audited; PHI values never enter the audit payload."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.audit.domain import Actor
from app.core.errors import Conflict, NotFound, Unprocessable
from app.patients import domain
from app.patients.models import Patient, PatientWeight
from app.patients.repository import PatientRepository
from app.patients.schemas import PatientCreate, PatientUpdate, WeightCreate

# A scale's clock may run a little ahead of ours.
_FUTURE_TOLERANCE = timedelta(minutes=5)
PHI_FIELDS = ("name", "birth_date")


@dataclass(frozen=True, slots=True)
class PatientWithWeights:
    patient: Patient
    weights: Sequence[PatientWeight]


def _check_birth_date(data: PatientCreate | PatientUpdate, now: datetime) -> None:
    if data.birth_date is not None:
        problem = domain.birth_date_problem(data.birth_date, today=now.date())
        if problem is not None:
            raise Unprocessable(problem)


async def _audit(
    db: AsyncSession,
    action: str,
    patient: Patient,
    actor: Actor,
    now: datetime,
    after: Mapping[str, object] | None = None,
    before: Mapping[str, object] | None = None,
) -> None:
    await audit_service.record(
        db,
        actor=actor,
        action=action,
        entity_type="patient",
        entity_id=patient.id,
        clinic_id=patient.clinic_id,
        now=now,
        before=before,
        after=after,
    )


async def _add_weight(
    db: AsyncSession, patient: Patient, data: WeightCreate, actor: Actor, now: datetime
) -> PatientWeight:
    problem = domain.measured_at_problem(data.measured_at, now=now, tolerance=_FUTURE_TOLERANCE)
    if problem is not None:
        raise Unprocessable(f"weight.{problem}")
    weight = PatientWeight(
        id=uuid.uuid4(),
        patient_id=patient.id,
        weight_kg=data.weight_kg,
        measured_at=data.measured_at,
        created_at=now,
        recorded_by=uuid.UUID(actor.actor_id)
        if actor.actor_type == "user" and actor.actor_id
        else None,
    )
    await PatientRepository(db).add(weight)
    await _audit(
        db,
        "WEIGHT_RECORDED",
        patient,
        actor,
        now,
        after={"weight_kg": data.weight_kg, "measured_at": data.measured_at},
    )
    return weight


async def create_patient(
    db: AsyncSession, *, clinic_id: uuid.UUID, data: PatientCreate, actor: Actor, now: datetime
) -> PatientWithWeights:
    """Register a patient (MRN unique per clinic), optionally with a first weight. Audited."""
    _check_birth_date(data, now)
    repo = PatientRepository(db)
    if await repo.by_mrn(clinic_id, data.mrn) is not None:
        raise Conflict(f"a patient with MRN {data.mrn!r} already exists in this clinic")
    patient = Patient(
        id=uuid.uuid4(),
        clinic_id=clinic_id,
        mrn=data.mrn,
        name=data.name,
        birth_date=data.birth_date,
        sex=data.sex,
        created_at=now,
        updated_at=now,
    )
    await repo.add(patient)
    await _audit(
        db,
        "PATIENT_CREATED",
        patient,
        actor,
        now,
        after={"mrn": patient.mrn, "sex": patient.sex, "phi_fields_set": list(PHI_FIELDS)},
    )
    weights = (
        [] if data.weight is None else [await _add_weight(db, patient, data.weight, actor, now)]
    )
    return PatientWithWeights(patient, weights)


async def _get(db: AsyncSession, clinic_id: uuid.UUID, patient_id: uuid.UUID) -> Patient:
    patient = await PatientRepository(db).patient(clinic_id, patient_id)
    if patient is None:
        raise NotFound("patient not found")
    return patient


async def get_patient(
    db: AsyncSession, *, clinic_id: uuid.UUID, patient_id: uuid.UUID, actor: Actor, now: datetime
) -> PatientWithWeights:
    """One patient of the caller's clinic (another clinic's answers 404); the read is audited."""
    patient = await _get(db, clinic_id, patient_id)
    await _audit(db, "PATIENT_VIEWED", patient, actor, now)
    return PatientWithWeights(patient, await PatientRepository(db).weights(patient.id))


async def list_patients(
    db: AsyncSession,
    *,
    clinic_id: uuid.UUID,
    query: str | None,
    limit: int,
    offset: int,
    actor: Actor,
    now: datetime,
) -> tuple[Sequence[Patient], int]:
    """Search by MRN or name; the ids shown are audited (the search text is not: it may be a name)."""
    patients, total = await PatientRepository(db).search(
        clinic_id, query=query, limit=limit, offset=offset
    )
    await audit_service.record(
        db,
        actor=actor,
        action="PATIENT_LIST_VIEWED",
        entity_type="patient",
        entity_id=None,
        clinic_id=clinic_id,
        now=now,
        after={"patient_ids": [p.id for p in patients], "searched": bool(query)},
    )
    return patients, total


async def update_patient(
    db: AsyncSession,
    *,
    clinic_id: uuid.UUID,
    patient_id: uuid.UUID,
    data: PatientUpdate,
    actor: Actor,
    now: datetime,
) -> PatientWithWeights:
    """Change MRN, name, birth date or sex; audited with the non-PHI before/after."""
    _check_birth_date(data, now)
    repo = PatientRepository(db)
    patient = await _get(db, clinic_id, patient_id)
    before = {"mrn": patient.mrn, "sex": patient.sex}
    changed_phi = [
        f
        for f in PHI_FIELDS
        if getattr(data, f) is not None and getattr(data, f) != getattr(patient, f)
    ]
    if data.mrn is not None and data.mrn != patient.mrn:
        if await repo.by_mrn(clinic_id, data.mrn) is not None:
            raise Conflict(f"a patient with MRN {data.mrn!r} already exists in this clinic")
        patient.mrn = data.mrn
    if data.name is not None:
        patient.name = data.name
    if data.birth_date is not None:
        patient.birth_date = data.birth_date
    if data.sex is not None:
        patient.sex = data.sex
    patient.updated_at = now
    await db.flush()
    await _audit(
        db,
        "PATIENT_UPDATED",
        patient,
        actor,
        now,
        before=before,
        after={"mrn": patient.mrn, "sex": patient.sex, "phi_fields_changed": changed_phi},
    )
    return PatientWithWeights(patient, await repo.weights(patient.id))


async def record_weight(
    db: AsyncSession,
    *,
    clinic_id: uuid.UUID,
    patient_id: uuid.UUID,
    data: WeightCreate,
    actor: Actor,
    now: datetime,
) -> PatientWeight:
    """Add a weight measurement (kg, with the time it was measured). Audited."""
    patient = await _get(db, clinic_id, patient_id)
    return await _add_weight(db, patient, data, actor, now)


# Lookups for other domains' rules (eligibility, dosing). Not audited as a staff member viewing
# the record: the caller's own use case is audited instead.


async def birth_date_of(
    db: AsyncSession, *, clinic_id: uuid.UUID, patient_id: uuid.UUID
) -> date | None:
    return await PatientRepository(db).birth_date(clinic_id, patient_id)


async def newest_weight(
    db: AsyncSession, *, patient_id: uuid.UUID, measured_by: datetime
) -> PatientWeight | None:
    """The most recent weight measured at or before ``measured_by``."""
    return await PatientRepository(db).newest_weight(patient_id, measured_by=measured_by)


async def initials_of(db: AsyncSession, *, clinic_id: uuid.UUID, patient_id: uuid.UUID) -> str:
    """The patient's initials: what a board tile or a pager message may show (DESIGN §9)."""
    return domain.initials((await _get(db, clinic_id, patient_id)).name)


async def mrn_of(db: AsyncSession, *, clinic_id: uuid.UUID, patient_id: uuid.UUID) -> str:
    """A patient's medical record number, unaudited (interop checks an HL7 PID-3 against it)."""
    return (await _get(db, clinic_id, patient_id)).mrn


async def import_patient(
    db: AsyncSession, *, clinic_id: uuid.UUID, data: PatientCreate, actor: Actor, now: datetime
) -> tuple[Patient, bool]:
    """Create or update a patient matched by MRN (EHR import, e.g. FHIR Patient); returns the
    patient and whether it was created. Audited like create/update."""
    existing = await PatientRepository(db).by_mrn(clinic_id, data.mrn)
    if existing is None:
        created = await create_patient(db, clinic_id=clinic_id, data=data, actor=actor, now=now)
        return created.patient, True
    update = PatientUpdate(name=data.name, birth_date=data.birth_date, sex=data.sex)
    found = await update_patient(
        db, clinic_id=clinic_id, patient_id=existing.id, data=update, actor=actor, now=now
    )
    return found.patient, False
