"""Realtime: board presence per instance and clinic.

Revision ID: 7c3e4a5b6d8f
Revises: 6b2d3f4a5c7e
Create Date: 2026-11-28 18:50:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "7c3e4a5b6d8f"
down_revision: str | None = "6b2d3f4a5c7e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "board_presence",
        sa.Column("instance_id", sa.String(length=64), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("boards", sa.Integer(), nullable=False),
        sa.Column("seen_at", app.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_board_presence_clinic_id_clinic")
        ),
        sa.PrimaryKeyConstraint("instance_id", "clinic_id", name=op.f("pk_board_presence")),
    )


def downgrade() -> None:
    op.drop_table("board_presence")
