"""patients already on therapy: imported dose details, dispensing records, refill state

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

* ``dose.source`` and ``dose.note``: where an imported or entered dose record came from;
* ``dispense``: pharmacy fills of a plan's home supply (unique per plan, date, days
  supplied and source, so importing a file twice records each fill once);
* ``plan.supply_checked_on``, ``plan.refill_remind_at``, ``plan.refill_overdue_at``: the
  supply state the engine keeps per plan (recomputed daily and on every fill), claimed with
  conditional updates like the digest instants of 0004.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "dose", sa.Column("source", sa.String(length=200), nullable=False, server_default="")
    )
    op.add_column(
        "dose", sa.Column("note", sa.String(length=500), nullable=False, server_default="")
    )
    op.create_table(
        "dispense",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("dispensed_on", sa.Date(), nullable=False),
        sa.Column("days_supply", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("recorded_via", sa.String(length=16), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"]),
        sa.ForeignKeyConstraint(["plan_id"], ["plan.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "plan_id", "dispensed_on", "days_supply", "source", name="uq_dispense_fill"
        ),
    )
    op.create_index(op.f("ix_dispense_plan_id"), "dispense", ["plan_id"], unique=False)
    op.create_index(op.f("ix_dispense_patient_id"), "dispense", ["patient_id"], unique=False)
    op.add_column("plan", sa.Column("supply_checked_on", sa.Date(), nullable=True))
    op.add_column("plan", sa.Column("refill_remind_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("plan", sa.Column("refill_overdue_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_plan_refill_remind_at"), "plan", ["refill_remind_at"], unique=False)
    op.create_index(op.f("ix_plan_refill_overdue_at"), "plan", ["refill_overdue_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_plan_refill_overdue_at"), table_name="plan")
    op.drop_index(op.f("ix_plan_refill_remind_at"), table_name="plan")
    op.drop_column("plan", "refill_overdue_at")
    op.drop_column("plan", "refill_remind_at")
    op.drop_column("plan", "supply_checked_on")
    op.drop_index(op.f("ix_dispense_patient_id"), table_name="dispense")
    op.drop_index(op.f("ix_dispense_plan_id"), table_name="dispense")
    op.drop_table("dispense")
    op.drop_column("dose", "note")
    op.drop_column("dose", "source")
