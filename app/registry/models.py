"""Registry records (issue 11, DESIGN §10): per session the side-effect checklist with its
interventions and the adverse events; per patient course the course scales (MADRS, PHQ-9 at
their timepoints), liver tests and psychologist evaluations.

There is no course table: a course is derived from the patient's sessions (induction
infusions 1..N, later ones linked as maintenance), see `app.registry.course`.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, IdMixin

SeverityColumn = String(10)


class SessionSideEffects(IdMixin, Base):
    """The side-effect checklist of one session (severity none/mild/moderate/severe per item)
    and the interventions given. One row per session; a correction replaces it (audited)."""

    __tablename__ = "registry_side_effects"
    __table_args__ = (UniqueConstraint("session_id"),)

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("infusion_session.id"))
    nausea_vomiting: Mapped[str] = mapped_column(SeverityColumn)
    headache: Mapped[str] = mapped_column(SeverityColumn)
    dizziness: Mapped[str] = mapped_column(SeverityColumn)
    sedation: Mapped[str] = mapped_column(SeverityColumn)
    blurred_double_vision: Mapped[str] = mapped_column(SeverityColumn)
    anxiety: Mapped[str] = mapped_column(SeverityColumn)
    distressing_dissociation: Mapped[str] = mapped_column(SeverityColumn)
    bladder_frequency: Mapped[str] = mapped_column(SeverityColumn)
    bladder_urgency: Mapped[str] = mapped_column(SeverityColumn)
    bladder_dysuria: Mapped[str] = mapped_column(SeverityColumn)
    bladder_haematuria: Mapped[str] = mapped_column(SeverityColumn)
    antiemetic: Mapped[bool]
    rate_reduced: Mapped[bool]
    paused: Mapped[bool]
    oxygen: Mapped[bool]
    note: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_user.id"))


class SessionAdverseEvent(IdMixin, Base):
    """An adverse event of a session: CTCAE grade 1-5, seriousness, outcome, description."""

    __tablename__ = "registry_adverse_event"

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("infusion_session.id"), index=True)
    term: Mapped[str] = mapped_column(String(200))
    grade: Mapped[int] = mapped_column(Integer)
    serious: Mapped[bool]
    outcome: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)
    onset_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_user.id"))


class CourseScaleEntry(IdMixin, Base):
    """A course outcome scale (MADRS, PHQ-9) of a patient at a schedule timepoint."""

    __tablename__ = "registry_course_scale"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id"), index=True)
    scale_id: Mapped[str] = mapped_column(String(64))
    timepoint: Mapped[str] = mapped_column(String(32))
    taken_date: Mapped[date]
    answers: Mapped[dict[str, int]] = mapped_column(JSON)
    total: Mapped[int] = mapped_column(Integer)
    band: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_user.id"))


class CourseLiverTest(IdMixin, Base):
    """Liver tests of a patient (clinical.md §6 hepatobiliary signal [S14][S33])."""

    __tablename__ = "registry_liver_test"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id"), index=True)
    sample_date: Mapped[date]
    alt_u_per_l: Mapped[float | None]
    ast_u_per_l: Mapped[float | None]
    ggt_u_per_l: Mapped[float | None]
    note: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_user.id"))


class CourseEvaluation(IdMixin, Base):
    """A psychologist evaluation of the course: mid-course or final (clinic article)."""

    __tablename__ = "registry_evaluation"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    evaluation_date: Mapped[date]
    clinician: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    recommendation: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_user.id"))
