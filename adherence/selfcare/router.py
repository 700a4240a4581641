"""The reply router: a patient's text answers their open question first, when it can.

A reply answers the open question (a check-in item or a triage question) when it has the
answer's shape (0-10 for a score, Y/N/yes/no/si for a yes/no question) and the question
was asked after the latest reminder of the dose a dose reply would be about (or no such
dose is open). Otherwise it is a dose reply, as ``adherence.dosing.replies.handle_reply``
has always handled it: "1", "Y", "yes" and "si" mean taken, "2", "N" and "no" skip. STOP
also cancels the open question.

``ReplyRouter`` has ``handle_reply``'s signature: ``receive_sms`` (webhook) and the
simulation take it in place of the plain dose handler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from adherence.core.selfcare_config import CheckinSettings, TriageSettings
from adherence.dosing.confirm import open_dose_for_reply
from adherence.dosing.replies import Intent, ReplyOutcome, handle_reply
from adherence.selfcare import checkins, triage
from adherence.selfcare.prompts import answer_shape, cancel_open, open_prompt
from adherence.selfcare.questions import QuestionSet, load_questions
from adherence.storage.models import OutboxMessage, Patient
from adherence.storage.selfcare import Prompt
from notifiers.selfcare_texts import YES_NO
from schedules import Catalog


@dataclass
class ReplyRouter:
    checkins: CheckinSettings = field(default_factory=CheckinSettings)
    triage: TriageSettings = field(default_factory=TriageSettings)
    questions: QuestionSet | None = None

    def __post_init__(self) -> None:
        if self.questions is None:
            self.questions = load_questions(self.checkins)

    def __call__(
        self,
        session: Session,
        *,
        catalog: Catalog,
        patient: Patient,
        text: str,
        now: datetime,
        snooze_minutes: int = 30,
        horizon_days: int = 35,
    ) -> ReplyOutcome:
        assert patient.id is not None and self.questions is not None
        prompt = open_prompt(session, patient.id, now)
        if prompt is not None:
            value = answer_shape(text, self._value_type(prompt))
            if value is not None and prompt_wins(session, prompt, patient.id, now):
                return self._answer(session, prompt, patient, value, now)
        outcome = handle_reply(
            session,
            catalog=catalog,
            patient=patient,
            text=text,
            now=now,
            snooze_minutes=snooze_minutes,
            horizon_days=horizon_days,
        )
        if outcome.intent.kind == "stop":
            cancel_open(session, patient.id, now)
            session.commit()
        return outcome

    def _value_type(self, prompt: Prompt) -> str:
        assert self.questions is not None
        if prompt.kind == triage.KIND:
            return YES_NO
        question = self.questions.questions.get(prompt.item)
        return question.value_type if question else YES_NO

    def _answer(
        self, session: Session, prompt: Prompt, patient: Patient, value: float, now: datetime
    ) -> ReplyOutcome:
        assert self.questions is not None
        if prompt.kind == triage.KIND:
            _, answer = triage.answer_triage(
                session, prompt=prompt, patient=patient, value=value, now=now, settings=self.triage
            )
        else:
            _, answer = checkins.answer_checkin(
                session,
                prompt=prompt,
                patient=patient,
                value=value,
                now=now,
                settings=self.checkins,
                questions=self.questions,
            )
        session.commit()
        return ReplyOutcome(Intent(prompt.kind), answer=answer)


def prompt_wins(session: Session, prompt: Prompt, patient_id: int, now: datetime) -> bool:
    """True when an answer-shaped reply is about the question rather than a dose: no dose
    is open for a reply, or the question was asked after that dose's latest reminder."""
    dose = open_dose_for_reply(session, patient_id, now)
    if dose is None:
        return True
    reminded = session.exec(
        select(OutboxMessage.created_at)
        .where(OutboxMessage.dose_id == dose.id)
        .order_by(col(OutboxMessage.created_at).desc())
        .limit(1)
    ).first()
    return reminded is None or prompt.asked_at > reminded
