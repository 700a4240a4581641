"""the coordinator workspace: sign-in sessions, call results, one-tap confirm links

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

* ``workspace_session``: a coordinator signed in to the web workspace (token stored hashed);
* ``call_result``: a call to a patient from the call list and its result, with who and when,
  and when the patient comes back on the list;
* ``confirm_link``: the one-tap link of a reminder text (per dose, token stored hashed,
  expiring when the dose's late window closes);
* ``ix_inbound_patient_received`` (patient_id, received_at) replaces ``ix_inbound_patient_id``:
  the call list reads each patient's last answer from the index alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workspace_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("coordinator_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["coordinator_id"], ["coordinator.id"]),
        sa.ForeignKeyConstraint(["team_id"], ["care_team.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(
        op.f("ix_workspace_session_coordinator_id"),
        "workspace_session",
        ["coordinator_id"],
        unique=False,
    )
    op.create_table(
        "call_result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("coordinator_id", sa.Integer(), nullable=True),
        sa.Column("by", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requeue_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["coordinator_id"], ["coordinator.id"]),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"]),
        sa.ForeignKeyConstraint(["team_id"], ["care_team.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_call_result_team_id"), "call_result", ["team_id"], unique=False)
    op.create_index(op.f("ix_call_result_patient_id"), "call_result", ["patient_id"], unique=False)
    op.create_index(op.f("ix_call_result_at"), "call_result", ["at"], unique=False)
    op.create_table(
        "confirm_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("dose_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["dose_id"], ["dose.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(op.f("ix_confirm_link_dose_id"), "confirm_link", ["dose_id"], unique=False)
    with op.batch_alter_table("inbound", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbound_patient_received", ["patient_id", "received_at"], unique=False
        )
        batch_op.drop_index("ix_inbound_patient_id")


def downgrade() -> None:
    with op.batch_alter_table("inbound", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_patient_id", ["patient_id"], unique=False)
        batch_op.drop_index("ix_inbound_patient_received")
    op.drop_index(op.f("ix_confirm_link_dose_id"), table_name="confirm_link")
    op.drop_table("confirm_link")
    op.drop_index(op.f("ix_call_result_at"), table_name="call_result")
    op.drop_index(op.f("ix_call_result_patient_id"), table_name="call_result")
    op.drop_index(op.f("ix_call_result_team_id"), table_name="call_result")
    op.drop_table("call_result")
    op.drop_index(op.f("ix_workspace_session_coordinator_id"), table_name="workspace_session")
    op.drop_table("workspace_session")
