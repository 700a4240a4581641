"""injection sites: the site a dose was injected at, and a note when it broke the rotation rule

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

* ``dose.site``: the catalog's site code the patient's reply named ("LT"), null when none;
* ``dose.site_note``: why that use repeated against the therapy's rotation rule, empty when
  it did not (kept as recorded at the reply, so later history edits do not rewrite it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("dose", sa.Column("site", sa.String(length=16), nullable=True))
    op.add_column(
        "dose", sa.Column("site_note", sa.String(length=200), nullable=False, server_default="")
    )


def downgrade() -> None:
    op.drop_column("dose", "site_note")
    op.drop_column("dose", "site")
