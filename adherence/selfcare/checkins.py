"""Symptom check-ins: the questions of a due check-in, one at a time.

The engine's step sends the first question of each due cadence (``send_due``); the reply
router answers a question with the next one (``answer_checkin``), until the last answer
gets a thank-you. A question that expires unanswered ends that check-in: the remaining
questions wait for the next one. A check-in due while a flare triage is under way is
skipped (the triage is not interrupted). Nothing is sent to a patient who opted out (STOP) or who
cannot be texted; their cadence still moves on, so nothing piles up.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from adherence.core.selfcare_config import CheckinSettings
from adherence.selfcare.cadence import next_local
from adherence.selfcare.prompts import ask, open_prompt, record_answer
from adherence.selfcare.questions import QuestionError, QuestionSet
from adherence.selfcare.symptoms import evaluate_checkin
from adherence.storage.models import CareTeam, Patient
from adherence.storage.selfcare import CheckinSchedule, Observation, Prompt
from notifiers.selfcare_texts import checkin_done, noted, question_text
from schedules.localtime import load_zone

log = logging.getLogger("adherence.selfcare")

BATCH = 200
KIND = "checkin"


def send_due(
    session: Session, *, now: datetime, settings: CheckinSettings, questions: QuestionSet
) -> int:
    """Open the first question of every check-in due by ``now``; move each cadence on.
    Returns how many check-ins started."""
    rows = session.exec(
        select(CheckinSchedule, Patient)
        .join(Patient, col(Patient.id) == CheckinSchedule.patient_id)
        .where(
            col(CheckinSchedule.active).is_(True),
            col(CheckinSchedule.next_at).is_not(None),
            col(CheckinSchedule.next_at) <= now,
        )
        .order_by(col(CheckinSchedule.next_at))
        .limit(BATCH)
        .with_for_update(skip_locked=True, of=CheckinSchedule)
    ).all()
    started = 0
    for schedule, patient in rows:
        assert schedule.next_at is not None
        due = schedule.next_at
        # The next one counts from the local day this one was due, however late the tick.
        schedule.next_at = next_local(
            patient, schedule.local_time, max(due, now - timedelta(days=1)), schedule.every_days
        )
        if schedule.next_at <= now:
            schedule.next_at = next_local(patient, schedule.local_time, now, 1)
        session.add(schedule)
        if not patient.active or patient.sms_status != "active":
            continue  # STOP (or no way to text): nothing goes out, the cadence moves on
        assert patient.id is not None
        waiting = open_prompt(session, patient.id, now)
        if waiting is not None and waiting.kind == "triage":
            continue  # a flare triage under way is not interrupted; this one is skipped
        try:
            items = questions.resolve(schedule.items)
        except QuestionError as exc:
            log.warning("check-in not sent schedule=%s: %s", schedule.id, exc)
            continue
        team = session.get(CareTeam, patient.team_id)
        assert team is not None
        day = due.astimezone(load_zone(patient.tz)).date().isoformat()
        first = items[0]
        prompt = ask(
            session,
            patient=patient,
            kind=KIND,
            conversation=f"checkin:{schedule.id}:{day}",
            step=0,
            item=first.code,
            body=question_text(team.name, first, patient.language, 1, len(items)),
            now=now,
            expires_at=now + timedelta(hours=settings.expires_hours),
        )
        if prompt is not None:
            started += 1
            log.info("check-in started patient=%s schedule=%s", patient.id, schedule.id)
    return started


def answer_checkin(
    session: Session,
    *,
    prompt: Prompt,
    patient: Patient,
    value: float,
    now: datetime,
    settings: CheckinSettings,
    questions: QuestionSet,
) -> tuple[Observation, str]:
    """Record the answer, raise a flag if it calls for one, and say what comes next: the
    next question (opened here, sent as the answer to the reply) or the thank-you."""
    schedule_id = int(prompt.conversation.split(":")[1])
    schedule = session.get(CheckinSchedule, schedule_id)
    items = questions.resolve(schedule.items if schedule else "")
    question = questions.questions.get(prompt.item) or next(
        q for q in items if q.code == prompt.item
    )
    observation = record_answer(
        session, prompt=prompt, value=value, value_type=question.value_type, now=now
    )
    evaluate_checkin(
        session,
        patient=patient,
        conversation=prompt.conversation,
        settings=settings,
        questions=questions,
        now=now,
    )
    said = noted(question, value, patient.language)
    team = session.get(CareTeam, patient.team_id)
    assert team is not None
    step = prompt.step + 1
    if step >= len(items):
        return observation, checkin_done(team.name, patient.language, said)
    nxt = items[step]
    body = question_text(team.name, nxt, patient.language, step + 1, len(items), said)
    ask(
        session,
        patient=patient,
        kind=KIND,
        conversation=prompt.conversation,
        step=step,
        item=nxt.code,
        body=body,
        now=now,
        expires_at=now + timedelta(hours=settings.expires_hours),
        send=False,  # it goes back as the answer to this reply
    )
    return observation, body
