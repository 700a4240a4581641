"""self-care: symptom check-ins, patient-reported observations, open questions, nudges

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

* ``checkin_schedule``: a patient's symptom check-in cadence (none unless the team sets one);
* ``prompt``: a question sent to a patient that a reply may answer (check-in item, flare
  triage question), open until answered, expired or cancelled;
* ``observation``: a patient-reported value (0-10 score or yes/no), never the message text;
* ``nudge_subscription``: an opt-in self-care nudge the patient chose with the care team.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checkin_schedule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("items", sa.String(length=400), nullable=False),
        sa.Column("every_days", sa.Integer(), nullable=False),
        sa.Column("local_time", sa.String(length=5), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patient_id"),
    )
    with op.batch_alter_table("checkin_schedule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_checkin_schedule_next_at"), ["next_at"], unique=False)

    op.create_table(
        "nudge_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("every_days", sa.Integer(), nullable=False),
        sa.Column("local_time", sa.String(length=5), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patient_id", "topic", name="uq_nudge_patient_topic"),
    )
    with op.batch_alter_table("nudge_subscription", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_nudge_subscription_next_at"), ["next_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_nudge_subscription_patient_id"), ["patient_id"], unique=False
        )

    op.create_table(
        "prompt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("conversation", sa.String(length=80), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("item", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("flag_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["flag_id"],
            ["flag.id"],
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation", "step", name="uq_prompt_conversation_step"),
    )
    with op.batch_alter_table("prompt", schema=None) as batch_op:
        batch_op.create_index("ix_prompt_patient_status", ["patient_id", "status"], unique=False)

    op.create_table(
        "observation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("item", sa.String(length=32), nullable=False),
        sa.Column("value_type", sa.String(length=8), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["prompt.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("prompt_id", name="uq_observation_prompt"),
    )
    with op.batch_alter_table("observation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_observation_patient_item_at", ["patient_id", "item", "observed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("observation", schema=None) as batch_op:
        batch_op.drop_index("ix_observation_patient_item_at")

    op.drop_table("observation")
    with op.batch_alter_table("prompt", schema=None) as batch_op:
        batch_op.drop_index("ix_prompt_patient_status")

    op.drop_table("prompt")
    with op.batch_alter_table("nudge_subscription", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_nudge_subscription_patient_id"))
        batch_op.drop_index(batch_op.f("ix_nudge_subscription_next_at"))

    op.drop_table("nudge_subscription")
    with op.batch_alter_table("checkin_schedule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkin_schedule_next_at"))

    op.drop_table("checkin_schedule")
