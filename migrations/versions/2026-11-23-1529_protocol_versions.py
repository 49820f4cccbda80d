"""Protocol versions: immutable files with SHA-256 and approval status.

Revision ID: 447058edbc13
Revises: 403fc09192c9
Create Date: 2026-11-23 15:29:14.109731+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "447058edbc13"
down_revision: str | None = "403fc09192c9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "protocol_version",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("protocol_key", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("source_name", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("loaded_at", app.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("loaded_by", sa.String(length=100), nullable=False),
        sa.Column("approved_at", app.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.Uuid(), nullable=True),
        sa.Column("retired_at", app.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["approved_by"],
            ["staff_user.id"],
            name=op.f("fk_protocol_version_approved_by_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_protocol_version_clinic_id_clinic")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_protocol_version")),
        sa.UniqueConstraint(
            "clinic_id",
            "protocol_key",
            "version",
            name=op.f("uq_protocol_version_clinic_id_protocol_key_version"),
        ),
        sa.UniqueConstraint(
            "clinic_id", "sha256", name=op.f("uq_protocol_version_clinic_id_sha256")
        ),
    )
    with op.batch_alter_table("protocol_version", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_protocol_version_clinic_id"), ["clinic_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("protocol_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_protocol_version_clinic_id"))

    op.drop_table("protocol_version")
