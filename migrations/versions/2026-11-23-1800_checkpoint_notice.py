"""Checkpoint notices: each overdue checkpoint announced once per (session, checkpoint, due time).

Revision ID: 32994370c13d
Revises: 644d38d97e2d
Create Date: 2026-11-23 16:39:23.352611+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "32994370c13d"
down_revision: str | None = "644d38d97e2d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "checkpoint_notice",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("checkpoint_id", sa.String(length=64), nullable=False),
        sa.Column("due_at", app.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("announced_at", app.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_session.id"],
            name=op.f("fk_checkpoint_notice_session_id_infusion_session"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkpoint_notice")),
        sa.UniqueConstraint(
            "session_id",
            "checkpoint_id",
            "due_at",
            name=op.f("uq_checkpoint_notice_session_id_checkpoint_id_due_at"),
        ),
    )


def downgrade() -> None:
    op.drop_table("checkpoint_notice")
