"""Interop: device profiles, HL7 message log and unmapped observations.

Revision ID: 8e4f5a6b7c9d
Revises: 7c3e4a5b6d8f
Create Date: 2026-11-28 19:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "8e4f5a6b7c9d"
down_revision: str | None = "7c3e4a5b6d8f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "interop_device_profile",
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("message_format", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("sending_application", sa.String(length=227), nullable=True),
        sa.Column("sending_facility", sa.String(length=227), nullable=True),
        sa.Column("allowed_addresses", sa.JSON(), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=True),
        sa.Column("code_map", sa.JSON(), nullable=False),
        sa.Column("unit_map", sa.JSON(), nullable=False),
        sa.Column("sentinels", sa.JSON(), nullable=True),
        sa.Column("updated_at", app.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_interop_device_profile_clinic_id_clinic")
        ),
        sa.ForeignKeyConstraint(
            ["device_id"], ["device.id"], name=op.f("fk_interop_device_profile_device_id_device")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interop_device_profile")),
        sa.UniqueConstraint("device_id", name=op.f("uq_interop_device_profile_device_id")),
        sa.UniqueConstraint(
            "sending_application",
            "sending_facility",
            name=op.f("uq_interop_device_profile_sending_application_sending_facility"),
        ),
    )
    op.create_index(
        op.f("ix_interop_device_profile_clinic_id"),
        "interop_device_profile",
        ["clinic_id"],
        unique=False,
    )
    op.create_table(
        "interop_hl7_message",
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("control_id", sa.String(length=199), nullable=False),
        sa.Column("sender", sa.String(length=500), nullable=False),
        sa.Column("peer", sa.String(length=64), nullable=True),
        sa.Column("transport", sa.String(length=8), nullable=False),
        sa.Column("ack_code", sa.String(length=2), nullable=False),
        sa.Column("ack", sa.Text(), nullable=False),
        sa.Column("readings_created", sa.Integer(), nullable=False),
        sa.Column("unmapped_rows", sa.JSON(), nullable=False),
        sa.Column("received_at", app.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_interop_hl7_message_clinic_id_clinic")
        ),
        sa.ForeignKeyConstraint(
            ["device_id"], ["device.id"], name=op.f("fk_interop_hl7_message_device_id_device")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interop_hl7_message")),
        sa.UniqueConstraint(
            "device_id", "control_id", name=op.f("uq_interop_hl7_message_device_id_control_id")
        ),
    )
    op.create_index(
        op.f("ix_interop_hl7_message_clinic_id"), "interop_hl7_message", ["clinic_id"], unique=False
    )
    op.create_table(
        "interop_unmapped_code",
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=300), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", app.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", app.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["device.id"], name=op.f("fk_interop_unmapped_code_device_id_device")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interop_unmapped_code")),
        sa.UniqueConstraint(
            "device_id", "code", name=op.f("uq_interop_unmapped_code_device_id_code")
        ),
    )
    op.create_index(
        op.f("ix_interop_unmapped_code_device_id"),
        "interop_unmapped_code",
        ["device_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_interop_unmapped_code_device_id"), table_name="interop_unmapped_code")
    op.drop_table("interop_unmapped_code")
    op.drop_index(op.f("ix_interop_hl7_message_clinic_id"), table_name="interop_hl7_message")
    op.drop_table("interop_hl7_message")
    op.drop_index(op.f("ix_interop_device_profile_clinic_id"), table_name="interop_device_profile")
    op.drop_table("interop_device_profile")
