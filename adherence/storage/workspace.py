"""The coordinator workspace's tables: sign-in sessions, call results, one-tap links.

Tokens (the session cookie, the one-tap link) are stored as their SHA-256 only
(``adherence.core.tokens``), so a copy of the database opens no session and confirms no dose.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from adherence.storage.utc import utc_field


class CallOutcome(StrEnum):
    """What a coordinator records after calling a patient from the call list."""

    REACHED = "reached"
    VOICEMAIL = "voicemail"
    NO_ANSWER = "no_answer"
    WRONG_NUMBER = "wrong_number"
    AGREED_RESTART = "agreed_restart"
    CALL_BACK = "call_back"
    REMOVED = "removed"


class WorkspaceSession(SQLModel, table=True):
    """A coordinator signed in to the workspace (the cookie holds the token, we its hash)."""

    __tablename__ = "workspace_session"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=128, unique=True)
    coordinator_id: int = Field(foreign_key="coordinator.id", index=True)
    team_id: int = Field(foreign_key="care_team.id")
    created_at: datetime = utc_field(nullable=False)
    last_seen_at: datetime = utc_field(nullable=False)
    expires_at: datetime = utc_field(nullable=False)  # absolute end, whatever the activity
    ended_at: datetime | None = utc_field()  # signed out


class CallResult(SQLModel, table=True):
    """One call to a patient and its result, kept with who and when.

    ``requeue_at`` is when the patient comes back on the call list whatever happens (call
    back later, no answer); None means only a reason newer than the call brings them back.
    """

    __tablename__ = "call_result"
    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="care_team.id", index=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    coordinator_id: int | None = Field(default=None, foreign_key="coordinator.id")
    by: str = Field(max_length=200)
    outcome: str = Field(max_length=24)  # CallOutcome
    note: str = Field(default="", sa_type=Text)  # the reason, for "removed"
    at: datetime = utc_field(nullable=False, index=True)
    requeue_at: datetime | None = utc_field()


class ConfirmLink(SQLModel, table=True):
    """A one-tap link in a reminder text: confirms one dose, until its late window closes."""

    __tablename__ = "confirm_link"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=128, unique=True)
    dose_id: int = Field(foreign_key="dose.id", index=True)
    created_at: datetime = utc_field(nullable=False)
    expires_at: datetime = utc_field(nullable=False)
    used_at: datetime | None = utc_field()
