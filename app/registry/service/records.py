"""Writing registry records: a session's side effects and adverse events, a course's scales,
liver tests and psychologist evaluations. Each write is audited in the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.auth.domain import Principal
from app.core.errors import Conflict, NotFound, Unprocessable
from app.patients import service as patients_service
from app.registry.domain import MADRS, PHQ9
from app.registry.domain.events import INTERVENTION_ITEMS, SIDE_EFFECT_ITEMS, check_adverse_event
from app.registry.models import (
    CourseEvaluation,
    CourseLiverTest,
    CourseScaleEntry,
    SessionAdverseEvent,
    SessionSideEffects,
)
from app.registry.repository import RegistryRepository
from app.registry.schemas import (
    AdverseEventCreate,
    CourseScaleCreate,
    EvaluationCreate,
    LiverTestCreate,
    SideEffectsCreate,
)
from app.scales.domain import InvalidScaleAnswers, score
from app.sessions import service as sessions_service
from app.sessions.service.common import scale_definition

COURSE_SCALES = (MADRS, PHQ9)
_NOT_RECORDABLE = {"scheduled", "cancelled"}


async def _audit(
    db: AsyncSession,
    principal: Principal,
    action: str,
    entity_type: str,
    entity_id: uuid.UUID,
    now: datetime,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    await audit_service.record(
        db,
        actor=principal.actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        clinic_id=principal.clinic_id,
        now=now,
        before=before,
        after=after,
    )


def _side_effect_values(row: SessionSideEffects) -> dict[str, Any]:
    return {name: getattr(row, name) for name in (*SIDE_EFFECT_ITEMS, *INTERVENTION_ITEMS, "note")}


async def _require_recordable(
    db: AsyncSession, principal: Principal, session_id: uuid.UUID, now: datetime
) -> None:
    read = await sessions_service.get_session(
        db, clinic_id=principal.clinic_id, session_id=session_id, now=now
    )
    if read.state in _NOT_RECORDABLE:
        raise Conflict(f"side effects are recorded from check-in on, not when {read.state}")


async def record_side_effects(
    db: AsyncSession,
    *,
    principal: Principal,
    session_id: uuid.UUID,
    data: SideEffectsCreate,
    now: datetime,
) -> None:
    """Record (or correct) the session's side-effect checklist and interventions. 404 outside
    the clinic, 409 before check-in. Audited as REGISTRY_SIDE_EFFECTS_RECORDED (before/after)."""
    await _require_recordable(db, principal, session_id, now)
    repo = RegistryRepository(db)
    row = await repo.side_effects(session_id, for_update=True)
    before = None if row is None else _side_effect_values(row)
    values = data.model_dump()
    if row is None:
        row = SessionSideEffects(id=uuid.uuid4(), session_id=session_id, **values)
        repo.add(row)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    row.recorded_at = now
    row.recorded_by = principal.user_id
    await _audit(
        db,
        principal,
        "REGISTRY_SIDE_EFFECTS_RECORDED",
        "session",
        session_id,
        now,
        before=before,
        after=_side_effect_values(row),
    )
    await repo.flush()


async def record_adverse_event(
    db: AsyncSession,
    *,
    principal: Principal,
    session_id: uuid.UUID,
    data: AdverseEventCreate,
    now: datetime,
) -> None:
    """Record an adverse event of the session (CTCAE grade, seriousness, outcome); 422 naming
    the field when they do not fit together. Audited as REGISTRY_ADVERSE_EVENT_RECORDED."""
    await _require_recordable(db, principal, session_id, now)
    problem = check_adverse_event(data.grade, data.serious, data.outcome)
    if problem is not None:
        raise Unprocessable(f"{problem.field}: {problem.reason}")
    if data.onset_at > now:
        raise Unprocessable("onset_at: is in the future")
    row = SessionAdverseEvent(
        id=uuid.uuid4(),
        session_id=session_id,
        term=data.term,
        grade=data.grade,
        serious=data.serious,
        outcome=str(data.outcome),
        description=data.description,
        onset_at=data.onset_at,
        recorded_at=now,
        recorded_by=principal.user_id,
    )
    repo = RegistryRepository(db)
    repo.add(row)
    await _audit(
        db,
        principal,
        "REGISTRY_ADVERSE_EVENT_RECORDED",
        "session",
        session_id,
        now,
        after={
            "term": data.term,
            "grade": data.grade,
            "serious": data.serious,
            "outcome": str(data.outcome),
        },
    )
    await repo.flush()


async def _require_patient(db: AsyncSession, principal: Principal, patient_id: uuid.UUID) -> None:
    found = await patients_service.birth_date_of(
        db, clinic_id=principal.clinic_id, patient_id=patient_id
    )
    if found is None:
        raise NotFound("patient not found")


async def record_course_scale(
    db: AsyncSession,
    *,
    principal: Principal,
    patient_id: uuid.UUID,
    data: CourseScaleCreate,
    now: datetime,
    today: date,
) -> None:
    """A course scale (MADRS or PHQ-9) at a schedule timepoint: every item validated and scored
    (422 naming the item). Audited as REGISTRY_COURSE_SCALE_RECORDED."""
    await _require_patient(db, principal, patient_id)
    if data.scale_id not in COURSE_SCALES:
        raise Unprocessable(f"scale_id: course scales are {', '.join(COURSE_SCALES)}")
    try:
        scored = score(scale_definition(data.scale_id), data.answers)
    except InvalidScaleAnswers as exc:
        raise Unprocessable(str(exc)) from exc
    if data.taken_date > today:
        raise Unprocessable("taken_date: is in the future")
    row = CourseScaleEntry(
        id=uuid.uuid4(),
        patient_id=patient_id,
        scale_id=data.scale_id,
        timepoint=str(data.timepoint),
        taken_date=data.taken_date,
        answers=dict(scored.answers),
        total=scored.total,
        band=None if scored.band is None else scored.band.id,
        recorded_at=now,
        recorded_by=principal.user_id,
    )
    repo = RegistryRepository(db)
    repo.add(row)
    await _audit(
        db,
        principal,
        "REGISTRY_COURSE_SCALE_RECORDED",
        "patient",
        patient_id,
        now,
        after={
            "scale_id": data.scale_id,
            "timepoint": str(data.timepoint),
            "taken_date": data.taken_date.isoformat(),
            "total": scored.total,
        },
    )
    await repo.flush()


async def record_liver_test(
    db: AsyncSession,
    *,
    principal: Principal,
    patient_id: uuid.UUID,
    data: LiverTestCreate,
    now: datetime,
    today: date,
) -> None:
    """Liver tests of one sample (ALT/AST/GGT, U/L; at least one, 422 otherwise). Audited as
    REGISTRY_LIVER_TEST_RECORDED."""
    await _require_patient(db, principal, patient_id)
    values = (data.alt_u_per_l, data.ast_u_per_l, data.ggt_u_per_l)
    if all(v is None for v in values):
        raise Unprocessable("alt_u_per_l: give at least one of ALT, AST, GGT")
    if data.sample_date > today:
        raise Unprocessable("sample_date: is in the future")
    row = CourseLiverTest(
        id=uuid.uuid4(),
        patient_id=patient_id,
        **data.model_dump(),
        recorded_at=now,
        recorded_by=principal.user_id,
    )
    repo = RegistryRepository(db)
    repo.add(row)
    await _audit(
        db,
        principal,
        "REGISTRY_LIVER_TEST_RECORDED",
        "patient",
        patient_id,
        now,
        after={
            "sample_date": data.sample_date.isoformat(),
            "alt_u_per_l": data.alt_u_per_l,
            "ast_u_per_l": data.ast_u_per_l,
            "ggt_u_per_l": data.ggt_u_per_l,
        },
    )
    await repo.flush()


async def record_evaluation(
    db: AsyncSession,
    *,
    principal: Principal,
    patient_id: uuid.UUID,
    data: EvaluationCreate,
    now: datetime,
    today: date,
) -> None:
    """A psychologist's mid-course or final evaluation. Audited as
    REGISTRY_EVALUATION_RECORDED (kind and date; the text stays in the record)."""
    await _require_patient(db, principal, patient_id)
    if data.evaluation_date > today:
        raise Unprocessable("evaluation_date: is in the future")
    row = CourseEvaluation(
        id=uuid.uuid4(),
        patient_id=patient_id,
        kind=str(data.kind),
        evaluation_date=data.evaluation_date,
        clinician=data.clinician,
        summary=data.summary,
        recommendation=data.recommendation,
        recorded_at=now,
        recorded_by=principal.user_id,
    )
    repo = RegistryRepository(db)
    repo.add(row)
    await _audit(
        db,
        principal,
        "REGISTRY_EVALUATION_RECORDED",
        "patient",
        patient_id,
        now,
        after={
            "kind": str(data.kind),
            "evaluation_date": data.evaluation_date.isoformat(),
            "clinician": data.clinician,
        },
    )
    await repo.flush()
