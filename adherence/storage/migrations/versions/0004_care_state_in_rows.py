"""care-team state in rows: next digest per coordinator, PDC check day per plan

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

What each daemon used to keep in memory between ticks is now in the database, so a
restart or a second daemon sees it:
* ``coordinator.next_digest_at`` (indexed): the next digest instant, claimed with a
  conditional update; NULL until the engine first sees the coordinator;
* ``plan.pdc_checked_on``: the local day the low-PDC rule last measured the plan;
* ``ix_rule_event_pending`` (notified, type): a missed dose is now a rule event that the
  care step consumes, so the events not consumed yet are read on every tick.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, no batch mode: SQLite adds and (since 3.35) drops a plain column in
# place, where batch mode would copy the table, and dropping the old copy of ``plan`` fails
# on the doses that reference it (foreign keys are on).


def upgrade() -> None:
    op.add_column(
        "coordinator", sa.Column("next_digest_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(
        op.f("ix_coordinator_next_digest_at"), "coordinator", ["next_digest_at"], unique=False
    )
    op.add_column("plan", sa.Column("pdc_checked_on", sa.Date(), nullable=True))
    op.create_index("ix_rule_event_pending", "rule_event", ["notified", "type"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_rule_event_pending", table_name="rule_event")
    op.drop_column("plan", "pdc_checked_on")
    op.drop_index(op.f("ix_coordinator_next_digest_at"), table_name="coordinator")
    op.drop_column("coordinator", "next_digest_at")
