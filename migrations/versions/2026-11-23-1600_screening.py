"""Screening versions: content, rule results and content hash, with the physician's signature.

Revision ID: e66e899d3edb
Revises: 447058edbc13
Create Date: 2026-11-23 16:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "e66e899d3edb"
down_revision: str | None = "447058edbc13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "screening_version",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("protocol_version_id", sa.Uuid(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("evaluation", sa.JSON(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", app.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("decision", sa.String(length=20), nullable=True),
        sa.Column("signed_by", sa.Uuid(), nullable=True),
        sa.Column("signed_at", app.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("signed_sha256", sa.String(length=64), nullable=True),
        sa.Column("justifications", sa.JSON(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("expires_at", app.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("signature_sha256", sa.String(length=64), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_screening_version_clinic_id_clinic")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["staff_user.id"],
            name=op.f("fk_screening_version_created_by_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_screening_version_patient_id_patient")
        ),
        sa.ForeignKeyConstraint(
            ["protocol_version_id"],
            ["protocol_version.id"],
            name=op.f("fk_screening_version_protocol_version_id_protocol_version"),
        ),
        sa.ForeignKeyConstraint(
            ["signed_by"], ["staff_user.id"], name=op.f("fk_screening_version_signed_by_staff_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screening_version")),
        sa.UniqueConstraint(
            "patient_id", "version", name=op.f("uq_screening_version_patient_id_version")
        ),
    )
    with op.batch_alter_table("screening_version", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_screening_version_clinic_id"), ["clinic_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("screening_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_screening_version_clinic_id"))

    op.drop_table("screening_version")
