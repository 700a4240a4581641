"""dose index by patient and time, covering updated_at

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

Replaces ix_dose_patient_id (patient_id) with ix_dose_patient_due (patient_id, due_at,
updated_at): the same lookups by patient, and the calendar feed's version check answered
from the index alone. The number of indexes on dose, and so the cost of writing a dose,
stays the same.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dose", schema=None) as batch_op:
        batch_op.create_index(
            "ix_dose_patient_due", ["patient_id", "due_at", "updated_at"], unique=False
        )
        batch_op.drop_index("ix_dose_patient_id")


def downgrade() -> None:
    with op.batch_alter_table("dose", schema=None) as batch_op:
        batch_op.create_index("ix_dose_patient_id", ["patient_id"], unique=False)
        batch_op.drop_index("ix_dose_patient_due")
