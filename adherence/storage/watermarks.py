"""Watermarks: how far a periodic pass has read, kept in a row (never in process memory).

A pass that only needs what changed since it last ran (the care step's low-PDC and
missed-run checks) reads ``dose.updated_at`` past its watermark (the ``ix_dose_updated_at``
index), then moves the mark in the same commit as what it decided. ``basis`` is what the
pass's decisions depended on (the thresholds of the config it ran with): a different basis
means the mark no longer holds and the pass reads everything once more.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from adherence.storage.utc import utc_field


class Watermark(SQLModel, table=True):
    __tablename__ = "watermark"
    name: str = Field(primary_key=True, max_length=64)
    at: datetime = utc_field(nullable=False)
    basis: str = Field(default="", max_length=500)
