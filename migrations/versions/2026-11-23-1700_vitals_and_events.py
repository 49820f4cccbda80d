"""Vital readings (idempotent per device reading id), the event log with per-stream sequences,
and the device clock-skew flag.

Revision ID: 644d38d97e2d
Revises: d3bf5bd9b33f
Create Date: 2026-11-23 16:09:08.276076+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "644d38d97e2d"
down_revision: str | None = "d3bf5bd9b33f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_stream",
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("stream", name=op.f("pk_event_stream")),
    )
    op.create_table(
        "event",
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", app.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_event_clinic_id_clinic")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event")),
        sa.UniqueConstraint("stream", "seq", name=op.f("uq_event_stream_seq")),
    )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_clinic_id"), ["clinic_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_event_session_id"), ["session_id"], unique=False)

    op.create_table(
        "vital_reading",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=True),
        sa.Column("source_id", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("metric", sa.String(length=8), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("observed_at", app.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("utc_offset_minutes", sa.Integer(), nullable=False),
        sa.Column("measurement_id", sa.String(length=128), nullable=True),
        sa.Column("original_value", sa.Double(), nullable=False),
        sa.Column("original_unit", sa.String(length=32), nullable=False),
        sa.Column("received_at", app.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("entered_by", sa.Uuid(), nullable=True),
        sa.Column("excluded_at", app.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("excluded_reason", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_vital_reading_clinic_id_clinic")
        ),
        sa.ForeignKeyConstraint(
            ["device_id"], ["device.id"], name=op.f("fk_vital_reading_device_id_device")
        ),
        sa.ForeignKeyConstraint(
            ["entered_by"], ["staff_user.id"], name=op.f("fk_vital_reading_entered_by_staff_user")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_session.id"],
            name=op.f("fk_vital_reading_session_id_infusion_session"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vital_reading")),
        sa.UniqueConstraint(
            "device_id", "source_id", name=op.f("uq_vital_reading_device_id_source_id")
        ),
    )
    with op.batch_alter_table("vital_reading", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vital_reading_clinic_id"), ["clinic_id"], unique=False)
        batch_op.create_index(
            "ix_vital_reading_session_metric_observed",
            ["session_id", "metric", "observed_at"],
            unique=False,
        )

    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clock_skew_s", sa.Double(), nullable=True))
        batch_op.add_column(
            sa.Column("clock_skewed_since", app.core.db.UtcDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.drop_column("clock_skewed_since")
        batch_op.drop_column("clock_skew_s")

    with op.batch_alter_table("vital_reading", schema=None) as batch_op:
        batch_op.drop_index("ix_vital_reading_session_metric_observed")
        batch_op.drop_index(batch_op.f("ix_vital_reading_clinic_id"))

    op.drop_table("vital_reading")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_session_id"))
        batch_op.drop_index(batch_op.f("ix_event_clinic_id"))

    op.drop_table("event")
    op.drop_table("event_stream")
