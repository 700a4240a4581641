"""visits: neurology visits and MRI booked like infusion appointments

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-03

* ``visit``: a booked, cancelled or attended visit of one of the clinic's regular visit
  types (``[visits] cadences``) for a patient.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "visit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=128), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("visit_type", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("booked_by", sa.String(length=200), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uid"),
    )
    with op.batch_alter_table("visit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visit_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_visit_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(
            "ix_visit_patient_type_status", ["patient_id", "visit_type", "status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("visit", schema=None) as batch_op:
        batch_op.drop_index("ix_visit_patient_type_status")
        batch_op.drop_index(batch_op.f("ix_visit_patient_id"))
        batch_op.drop_index(batch_op.f("ix_visit_at"))
    op.drop_table("visit")
