"""Neurology visits and MRI: the booked (or attended) slot of one of the clinic's regular
visit types for a patient.

A visit is not a plan's dose, so it has its own row; what it sends (reminder texts at
``[calendar] appointment_reminder_days``, the calendar feed's event) goes through the same
outbox and feed as an infusion appointment. When the next visit of a type is due is not
stored: it follows from the last attended one and ``[visits] cadences``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from adherence.storage.utc import utc_field


class Visit(SQLModel, table=True):
    """``uid`` never changes; ``sequence`` goes up with every move or cancellation (as an
    infusion appointment's). ``status``: booked | cancelled | done (attended)."""

    __tablename__ = "visit"
    __table_args__ = (Index("ix_visit_patient_type_status", "patient_id", "visit_type", "status"),)
    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(max_length=128, unique=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    visit_type: str = Field(max_length=16)  # a code from [visits] cadences: neurology, mri
    at: datetime = utc_field(nullable=False, index=True)
    duration_minutes: int = 60
    location: str = Field(default="", max_length=300)
    status: str = Field(default="booked", max_length=16)
    sequence: int = 0
    booked_by: str = Field(default="", max_length=200)
    done_at: datetime | None = utc_field()
    created_at: datetime = utc_field(nullable=False)
    updated_at: datetime = utc_field(nullable=False)
