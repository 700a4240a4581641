"""watermarks: what the care step's periodic passes read up to, and the index they read by

Revision ID: 0015
Revises: 0011
Create Date: 2026-12-04

* ``watermark``: one row per pass (name, the instant read up to, the basis it decided on).
* ``ix_dose_updated_at``: the doses changed since a mark, read without a scan.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "watermark",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("basis", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("dose", schema=None) as batch_op:
        batch_op.create_index("ix_dose_updated_at", ["updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dose", schema=None) as batch_op:
        batch_op.drop_index("ix_dose_updated_at")
    op.drop_table("watermark")
