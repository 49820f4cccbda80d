"""Notification deliveries: signed webhook POSTs for escalated alarms, retried with backoff.

Revision ID: 5a1c2e3f4b6d
Revises: 32994370c13d
Create Date: 2026-11-28 18:50:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "5a1c2e3f4b6d"
down_revision: str | None = "32994370c13d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification_delivery",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", app.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", app.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("delivered_at", app.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", app.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_notification_delivery_clinic_id_clinic")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_delivery")),
        sa.UniqueConstraint(
            "subject_id",
            "kind",
            "url",
            "dedupe_key",
            name=op.f("uq_notification_delivery_subject_id_kind_url_dedupe_key"),
        ),
    )
    op.create_index(
        op.f("ix_notification_delivery_clinic_id"),
        "notification_delivery",
        ["clinic_id"],
        unique=False,
    )
    op.create_index(
        "ix_notification_delivery_status_next_attempt",
        "notification_delivery",
        ["status", "next_attempt_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        "ix_notification_delivery_status_next_attempt", table_name="notification_delivery"
    )
    op.drop_index(op.f("ix_notification_delivery_clinic_id"), table_name="notification_delivery")
    op.drop_table("notification_delivery")
