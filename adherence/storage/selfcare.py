"""The self-care tables: symptom check-ins and their answers, the questions a patient has
been asked and not yet answered (check-ins, flare triage), and opt-in self-care nudges.

Nothing here holds a message body: an answer is stored as the value it parsed to (a 0-10
score, yes/no), the text itself stays in ``inbound`` like every other reply.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from adherence.storage.utc import utc_field


class PromptStatus(StrEnum):
    OPEN = "open"  # asked, waiting for the answer
    ANSWERED = "answered"
    EXPIRED = "expired"  # no answer before ``expires_at``
    CANCELLED = "cancelled"  # superseded (a newer check-in, STOP, a coordinator)


class Observation(SQLModel, table=True):
    """One patient-reported value: a check-in score, a yes/no, a triage answer.

    ``item`` is the clinic's question code (``fatigue``, ``mood``, ``walking``,
    ``new_symptoms``, ``triage_new``, ``triage_24h``); ``value`` is 0-10 for a score and
    1.0 / 0.0 for yes / no (``value_type`` says which).
    """

    __tablename__ = "observation"
    __table_args__ = (
        Index("ix_observation_patient_item_at", "patient_id", "item", "observed_at"),
        UniqueConstraint("prompt_id", name="uq_observation_prompt"),
    )
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id")
    item: str = Field(max_length=32)
    value_type: str = Field(max_length=8)  # score | yes_no
    value: float
    observed_at: datetime = utc_field(nullable=False)
    prompt_id: int | None = Field(default=None, foreign_key="prompt.id")
    source: str = Field(default="sms", max_length=16)  # sms | clinic | import
    recorded_by: str = Field(default="", max_length=200)  # a coordinator, for source=clinic


class Prompt(SQLModel, table=True):
    """A question sent to a patient that a reply may answer (a check-in item, a triage
    question). At most one is open per patient at a time: the reply router asks it first.

    ``conversation`` groups the questions of one check-in or one triage
    (``checkin:<schedule id>:<local date>``, ``triage:<flag id>``); ``step`` is the
    question's place in it, from 0.
    """

    __tablename__ = "prompt"
    __table_args__ = (
        Index("ix_prompt_patient_status", "patient_id", "status"),
        UniqueConstraint("conversation", "step", name="uq_prompt_conversation_step"),
    )
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id")
    kind: str = Field(max_length=16)  # checkin | triage
    conversation: str = Field(max_length=80)
    step: int = 0
    item: str = Field(max_length=32)
    status: str = Field(default=PromptStatus.OPEN, max_length=16)
    asked_at: datetime = utc_field(nullable=False)
    expires_at: datetime = utc_field(nullable=False)
    answered_at: datetime | None = utc_field()
    flag_id: int | None = Field(default=None, foreign_key="flag.id")  # triage: the FLARE flag


class CheckinSchedule(SQLModel, table=True):
    """A patient's symptom check-in cadence (off unless the care team sets one)."""

    __tablename__ = "checkin_schedule"
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", unique=True)
    items: str = Field(default="", max_length=400)  # comma-separated item codes; "" = clinic's
    every_days: int = 7
    local_time: str = Field(max_length=5)  # "18:30", the patient's zone
    next_at: datetime | None = utc_field(index=True)  # None: stopped
    active: bool = True
    created_at: datetime = utc_field(nullable=False)
    created_by: str = Field(default="", max_length=200)
    stopped_at: datetime | None = utc_field()


class NudgeSubscription(SQLModel, table=True):
    """One opt-in self-care nudge a patient chose with the care team (exercise, hydration
    and cooling, stress breaks, smoking-cessation support). Off by default; STOP ends all."""

    __tablename__ = "nudge_subscription"
    __table_args__ = (UniqueConstraint("patient_id", "topic", name="uq_nudge_patient_topic"),)
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    topic: str = Field(max_length=32)
    every_days: int = 7
    local_time: str = Field(max_length=5)
    next_at: datetime | None = utc_field(index=True)  # None: stopped
    active: bool = True
    created_at: datetime = utc_field(nullable=False)
    created_by: str = Field(default="", max_length=200)
    stopped_at: datetime | None = utc_field()
    note: str = Field(default="", sa_type=Text)
