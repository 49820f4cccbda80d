"""Scheduler at scale: dose-progress claims per session, newest receive time per metric by index.

Revision ID: a0b1c2d3e4f5
Revises: 9f5a6b7c8d0e
Create Date: 2026-11-28 21:10:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "a0b1c2d3e4f5"
down_revision: str | None = "9f5a6b7c8d0e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dose_progress_mark",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("published_at", app.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_session.id"],
            name=op.f("fk_dose_progress_mark_session_id_infusion_session"),
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_dose_progress_mark")),
    )
    op.create_index(
        "ix_vital_reading_session_metric_received",
        "vital_reading",
        ["session_id", "metric", "received_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_vital_reading_session_metric_received", table_name="vital_reading")
    op.drop_table("dose_progress_mark")
