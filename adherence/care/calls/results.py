"""Recording a call result: who called, when, what came of it, and when the patient comes back.

A result takes the patient off today's call list (``adherence.care.calls.queue`` decides).
"No answer" and "left voicemail" bring them back after ``[workspace] retry_days``, "call back
later" after ``call_back_days``; the others (reached, agreed to restart, wrong number,
removed) set no time: only a reason newer than the call brings the patient back.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import Session

from adherence.core.config import Settings
from adherence.storage.models import Patient
from adherence.storage.workspace import CallOutcome, CallResult

log = logging.getLogger("adherence.care")

MAX_NOTE = 2000
OUTCOMES = tuple(CallOutcome)
# What the coordinator reads on the button and in the history, by outcome.
OUTCOME_WORDS: dict[str, str] = {
    CallOutcome.REACHED: "reached",
    CallOutcome.VOICEMAIL: "left voicemail",
    CallOutcome.NO_ANSWER: "no answer",
    CallOutcome.WRONG_NUMBER: "wrong number",
    CallOutcome.AGREED_RESTART: "agreed to restart",
    CallOutcome.CALL_BACK: "call back later",
    CallOutcome.REMOVED: "removed",
}


class CallError(ValueError):
    """A call result that cannot be recorded as given; ``field`` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class CallNotFound(LookupError):
    """No such patient in this care team."""


def requeue_at(outcome: str, at: datetime, settings: Settings) -> datetime | None:
    """When the patient comes back on the list whatever happens, or None (only a newer
    reason brings them back)."""
    ws = settings.workspace
    if outcome in (CallOutcome.NO_ANSWER, CallOutcome.VOICEMAIL):
        return at + timedelta(days=ws.retry_days)
    if outcome == CallOutcome.CALL_BACK:
        return at + timedelta(days=ws.call_back_days)
    return None


def record_call(
    session: Session,
    *,
    team_id: int,
    patient_id: int,
    coordinator_id: int | None,
    by: str,
    outcome: str,
    note: str,
    now: datetime,
    settings: Settings,
) -> CallResult:
    """Check and store one call result (committed). Raises ``CallError`` for an unknown
    outcome, a removal without a reason or an over-long note (nothing is stored), and
    ``CallNotFound`` for a patient of another team."""
    outcome = outcome.strip()
    note = note.strip()
    if outcome not in OUTCOMES:
        raise CallError("outcome", f"{outcome!r} is not one of {', '.join(OUTCOMES)}")
    if outcome == CallOutcome.REMOVED and not note:
        raise CallError("note", "give a reason to remove the patient from the call list")
    if len(note) > MAX_NOTE:
        raise CallError("note", f"keep the note under {MAX_NOTE} characters")
    patient = session.get(Patient, patient_id)
    if patient is None or patient.team_id != team_id:
        raise CallNotFound(f"no patient {patient_id}")
    result = CallResult(
        team_id=team_id,
        patient_id=patient_id,
        coordinator_id=coordinator_id,
        by=by,
        outcome=outcome,
        note=note,
        at=now,
        requeue_at=requeue_at(outcome, now, settings),
    )
    session.add(result)
    session.commit()
    session.refresh(result)
    log.info("call recorded id=%s patient=%s outcome=%s", result.id, patient_id, outcome)
    return result
