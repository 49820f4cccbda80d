"""The session summary for the medical record: the PDF and the FHIR Bundle wrapping it with
the structured Observations (issue 11 point 4). Identified documents: each one is audited."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.auth.domain import Principal
from app.core.errors import Conflict
from app.patients import service as patients_service
from app.registry.service import fhir
from app.registry.service.pdf import PatientHeader, render_summary_pdf
from app.registry.service.session_data import SessionData, session_data


async def _discharged(
    db: AsyncSession, principal: Principal, session_id: uuid.UUID, now: datetime
) -> tuple[SessionData, PatientHeader]:
    data = await session_data(db, clinic_id=principal.clinic_id, session_id=session_id, now=now)
    if data.read.state != "discharged":
        raise Conflict(f"the summary is made once the session is discharged, not {data.read.state}")
    found = await patients_service.get_patient(
        db,
        clinic_id=principal.clinic_id,
        patient_id=data.read.patient_id,
        actor=principal.actor,
        now=now,
    )
    p = found.patient
    return data, PatientHeader(name=p.name, mrn=p.mrn, birth_date=p.birth_date)


async def _audit(
    db: AsyncSession, principal: Principal, session_id: uuid.UUID, fmt: str, now: datetime
) -> None:
    await audit_service.record(
        db,
        actor=principal.actor,
        action="SESSION_SUMMARY_EXPORTED",
        entity_type="session",
        entity_id=session_id,
        clinic_id=principal.clinic_id,
        now=now,
        after={"format": fmt, "identified": True},
    )


async def summary_pdf(
    db: AsyncSession, *, principal: Principal, session_id: uuid.UUID, now: datetime, tz: ZoneInfo
) -> bytes:
    """The PDF of a discharged session (409 before discharge). Audited as
    SESSION_SUMMARY_EXPORTED (format pdf)."""
    data, patient = await _discharged(db, principal, session_id, now)
    await _audit(db, principal, session_id, "pdf", now)
    return render_summary_pdf(data, patient, tz=tz, generated_at=now)


async def summary_fhir(
    db: AsyncSession, *, principal: Principal, session_id: uuid.UUID, now: datetime, tz: ZoneInfo
) -> dict[str, Any]:
    """A FHIR R4B collection Bundle: the DocumentReference wrapping the PDF, the Encounter and
    the summary Observations. Audited as SESSION_SUMMARY_EXPORTED (format fhir)."""
    data, patient = await _discharged(db, principal, session_id, now)
    await _audit(db, principal, session_id, "fhir", now)
    pdf = render_summary_pdf(data, patient, tz=tz, generated_at=now)
    subject = f"Patient/{data.read.patient_id}"
    resources = [
        fhir.document_reference(data, subject, pdf, created_at=now),
        fhir.encounter(data, subject),
        *fhir.session_observations(data, subject),
    ]
    return fhir.bundle(
        resources, bundle_id=fhir.derived_id(str(session_id), "summary", now.isoformat()), at=now
    )
