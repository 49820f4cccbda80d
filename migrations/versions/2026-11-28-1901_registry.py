"""Registry: side effects, adverse events, course evaluations and liver tests.

Revision ID: 9f5a6b7c8d0e
Revises: 8e4f5a6b7c9d
Create Date: 2026-11-28 19:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "9f5a6b7c8d0e"
down_revision: str | None = "8e4f5a6b7c9d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "registry_course_scale",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("scale_id", sa.String(length=64), nullable=False),
        sa.Column("timepoint", sa.String(length=32), nullable=False),
        sa.Column("taken_date", sa.Date(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("band", sa.String(length=64), nullable=True),
        sa.Column("recorded_at", app.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_registry_course_scale_patient_id_patient")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["staff_user.id"],
            name=op.f("fk_registry_course_scale_recorded_by_staff_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_course_scale")),
    )
    with op.batch_alter_table("registry_course_scale", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_registry_course_scale_patient_id"), ["patient_id"], unique=False
        )

    op.create_table(
        "registry_evaluation",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("evaluation_date", sa.Date(), nullable=False),
        sa.Column("clinician", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("recommendation", sa.Text(), nullable=False),
        sa.Column("recorded_at", app.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_registry_evaluation_patient_id_patient")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["staff_user.id"],
            name=op.f("fk_registry_evaluation_recorded_by_staff_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_evaluation")),
    )
    with op.batch_alter_table("registry_evaluation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_registry_evaluation_patient_id"), ["patient_id"], unique=False
        )

    op.create_table(
        "registry_liver_test",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("sample_date", sa.Date(), nullable=False),
        sa.Column("alt_u_per_l", sa.Double(), nullable=True),
        sa.Column("ast_u_per_l", sa.Double(), nullable=True),
        sa.Column("ggt_u_per_l", sa.Double(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_at", app.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_registry_liver_test_patient_id_patient")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["staff_user.id"],
            name=op.f("fk_registry_liver_test_recorded_by_staff_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_liver_test")),
    )
    with op.batch_alter_table("registry_liver_test", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_registry_liver_test_patient_id"), ["patient_id"], unique=False
        )

    op.create_table(
        "registry_adverse_event",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("term", sa.String(length=200), nullable=False),
        sa.Column("grade", sa.Integer(), nullable=False),
        sa.Column("serious", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("onset_at", app.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", app.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["staff_user.id"],
            name=op.f("fk_registry_adverse_event_recorded_by_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_session.id"],
            name=op.f("fk_registry_adverse_event_session_id_infusion_session"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_adverse_event")),
    )
    with op.batch_alter_table("registry_adverse_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_registry_adverse_event_session_id"), ["session_id"], unique=False
        )

    op.create_table(
        "registry_side_effects",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("nausea_vomiting", sa.String(length=10), nullable=False),
        sa.Column("headache", sa.String(length=10), nullable=False),
        sa.Column("dizziness", sa.String(length=10), nullable=False),
        sa.Column("sedation", sa.String(length=10), nullable=False),
        sa.Column("blurred_double_vision", sa.String(length=10), nullable=False),
        sa.Column("anxiety", sa.String(length=10), nullable=False),
        sa.Column("distressing_dissociation", sa.String(length=10), nullable=False),
        sa.Column("bladder_frequency", sa.String(length=10), nullable=False),
        sa.Column("bladder_urgency", sa.String(length=10), nullable=False),
        sa.Column("bladder_dysuria", sa.String(length=10), nullable=False),
        sa.Column("bladder_haematuria", sa.String(length=10), nullable=False),
        sa.Column("antiemetic", sa.Boolean(), nullable=False),
        sa.Column("rate_reduced", sa.Boolean(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("oxygen", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_at", app.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["staff_user.id"],
            name=op.f("fk_registry_side_effects_recorded_by_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_session.id"],
            name=op.f("fk_registry_side_effects_session_id_infusion_session"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_side_effects")),
        sa.UniqueConstraint("session_id", name=op.f("uq_registry_side_effects_session_id")),
    )


def downgrade() -> None:
    op.drop_table("registry_side_effects")
    with op.batch_alter_table("registry_adverse_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registry_adverse_event_session_id"))

    op.drop_table("registry_adverse_event")
    with op.batch_alter_table("registry_liver_test", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registry_liver_test_patient_id"))

    op.drop_table("registry_liver_test")
    with op.batch_alter_table("registry_evaluation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registry_evaluation_patient_id"))

    op.drop_table("registry_evaluation")
    with op.batch_alter_table("registry_course_scale", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registry_course_scale_patient_id"))

    op.drop_table("registry_course_scale")
