"""dose reply codes: the short code a reminder names when a reply could mean two doses

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-04

* ``dose.reply_code``: the code ("A7") the dose's texts carry when more than one dose is
  open for the phone they go to; null for a dose that never needed one. Given once and
  kept, so the code in a text stays the dose's while a reply can still be about it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("dose", sa.Column("reply_code", sa.String(length=4), nullable=True))


def downgrade() -> None:
    op.drop_column("dose", "reply_code")
