"""The engine's self-care step: expire unanswered questions, start flare triage for new
flare flags, send the check-ins that are due. Returns when it next needs to run."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session, col, select

from adherence.core.selfcare_config import CheckinSettings, TriageSettings
from adherence.selfcare import checkins, triage
from adherence.selfcare.prompts import due_to_expire, next_expiry
from adherence.selfcare.questions import QuestionError, QuestionSet, load_questions
from adherence.storage.selfcare import CheckinSchedule, PromptStatus

log = logging.getLogger("adherence.selfcare")


def selfcare_step(
    session: Session,
    *,
    now: datetime,
    checkin_settings: CheckinSettings,
    triage_settings: TriageSettings,
    questions: QuestionSet | None = None,
) -> datetime | None:
    if questions is None:
        try:
            questions = load_questions(checkin_settings)
        except QuestionError as exc:
            # A questions file broken since the start: no check-in goes out, the rest runs.
            log.warning("check-ins not sent: %s", exc)
    for prompt in due_to_expire(session, now):
        prompt.status = PromptStatus.EXPIRED
        session.add(prompt)
        if prompt.kind == triage.KIND:
            triage.expired(session, prompt=prompt, now=now)
    triage.start_due(session, now=now, settings=triage_settings)
    if questions is not None:
        checkins.send_due(session, now=now, settings=checkin_settings, questions=questions)
    session.flush()
    next_checkin = session.exec(
        select(CheckinSchedule.next_at)
        .where(col(CheckinSchedule.active).is_(True), col(CheckinSchedule.next_at).is_not(None))
        .order_by(col(CheckinSchedule.next_at))
        .limit(1)
    ).first()
    candidates = [t for t in (next_checkin, next_expiry(session)) if t is not None]
    session.commit()  # last: no transaction (SQLite's lock) is left open between ticks
    return min(candidates) if candidates else None
