"""Alarms: alarm records, per-session engine state, technical alarm keys.

Revision ID: 6b2d3f4a5c7e
Revises: 5a1c2e3f4b6d
Create Date: 2026-11-28 18:50:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "6b2d3f4a5c7e"
down_revision: str | None = "5a1c2e3f4b6d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alarm",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("episode", sa.String(length=40), nullable=False),
        sa.Column("open_episode", sa.String(length=40), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("metric", sa.String(length=10), nullable=True),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("limit_value", sa.Double(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=True),
        sa.Column("protocol_version_id", sa.Uuid(), nullable=False),
        sa.Column("protocol_sha256", sa.String(length=64), nullable=False),
        sa.Column("phase", sa.String(length=20), nullable=False),
        sa.Column("reading_ids", sa.JSON(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("condition_present", sa.Boolean(), nullable=False),
        sa.Column("raised_at", app.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("priority_since", app.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_annunciated_at", app.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", app.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Uuid(), nullable=True),
        sa.Column("acknowledged_by_name", sa.String(length=200), nullable=True),
        sa.Column("acknowledge_note", sa.Text(), nullable=True),
        sa.Column("escalated_at", app.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("silenced_until", app.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("silenced_by_name", sa.String(length=200), nullable=True),
        sa.Column("silence_reason", sa.Text(), nullable=True),
        sa.Column("cleared_at", app.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("cleared_reason", sa.Text(), nullable=True),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"], ["staff_user.id"], name=op.f("fk_alarm_acknowledged_by_staff_user")
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_alarm_clinic_id_clinic")
        ),
        sa.ForeignKeyConstraint(
            ["protocol_version_id"],
            ["protocol_version.id"],
            name=op.f("fk_alarm_protocol_version_id_protocol_version"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_session.id"],
            name=op.f("fk_alarm_session_id_infusion_session"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm")),
        sa.UniqueConstraint(
            "session_id", "open_episode", name=op.f("uq_alarm_session_id_open_episode")
        ),
    )
    op.create_index(op.f("ix_alarm_clinic_id"), "alarm", ["clinic_id"], unique=False)
    op.create_index(op.f("ix_alarm_session_id"), "alarm", ["session_id"], unique=False)
    op.create_index(op.f("ix_alarm_state"), "alarm", ["state"], unique=False)
    op.create_table(
        "alarm_engine_state",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("updated_at", app.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_session.id"],
            name=op.f("fk_alarm_engine_state_session_id_infusion_session"),
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_alarm_engine_state")),
    )
    op.add_column(
        "device",
        sa.Column("ingest_socket_closed_at", app.core.db.UtcDateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("device", "ingest_socket_closed_at")
    op.drop_table("alarm_engine_state")
    op.drop_index(op.f("ix_alarm_state"), table_name="alarm")
    op.drop_index(op.f("ix_alarm_session_id"), table_name="alarm")
    op.drop_index(op.f("ix_alarm_clinic_id"), table_name="alarm")
    op.drop_table("alarm")
