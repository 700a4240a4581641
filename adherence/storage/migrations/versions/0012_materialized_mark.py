"""per-plan materialised-until mark; dose lookup by plan and time

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04

* ``plan.materialized_until`` (the patient's local date up to which the plan's doses are
  written) and ``plan.materialized_at`` (when): a materialising pass skips a plan whose
  horizon is already written and which has not changed since.
* Replaces ``ix_dose_plan_id`` (plan_id) with ``ix_dose_plan_due`` (plan_id, due_at): each
  materialise batch looks up a batch of plans' doses from two days ago on, and the index
  answers exactly that. Lookups by plan alone use its leading column; the number of indexes
  on dose, and so the cost of writing a dose, stays the same.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("plan", sa.Column("materialized_until", sa.Date(), nullable=True))
    op.add_column("plan", sa.Column("materialized_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_dose_plan_due", "dose", ["plan_id", "due_at"], unique=False)
    op.drop_index("ix_dose_plan_id", table_name="dose")


def downgrade() -> None:
    op.create_index("ix_dose_plan_id", "dose", ["plan_id"], unique=False)
    op.drop_index("ix_dose_plan_due", table_name="dose")
    op.drop_column("plan", "materialized_at")
    op.drop_column("plan", "materialized_until")
