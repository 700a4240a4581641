"""Open questions: the one question a patient has been asked and not yet answered.

A question is a ``Prompt`` row, written with its outbox text in one transaction (the outbox
key is the prompt's conversation and step, so a retry never sends it twice). At most one
is open per patient: asking a new one cancels the one before. ``answer_shape`` says
whether a reply is an answer to it (a whole number 0-10 for a score; Y/N, yes/no, si/no for
a yes/no question, English and Spanish).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from adherence.messaging.outbox import enqueue
from adherence.storage.models import Patient
from adherence.storage.selfcare import Observation, Prompt, PromptStatus
from notifiers.selfcare_texts import SCORE, YES_NO

YES = {"y", "yes", "yeah", "yep", "s", "si"}
NO = {"n", "no", "nope"}


def answer_shape(text: str, value_type: str) -> float | None:
    """The value ``text`` answers with, or None when it is not an answer of that shape."""
    folded = unicodedata.normalize("NFKD", text.strip().lower())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    words = re.findall(r"[a-z0-9]+", folded)
    if len(words) != 1:
        return None
    word = words[0]
    if value_type == SCORE:
        return float(word) if word.isdigit() and 0 <= int(word) <= 10 else None
    if value_type == YES_NO:
        if word in YES:
            return 1.0
        if word in NO:
            return 0.0
    return None


def open_prompt(session: Session, patient_id: int, now: datetime) -> Prompt | None:
    """The patient's open question, if it has not expired."""
    return session.exec(
        select(Prompt)
        .where(
            Prompt.patient_id == patient_id,
            Prompt.status == PromptStatus.OPEN,
            Prompt.expires_at > now,
        )
        .order_by(col(Prompt.asked_at).desc(), col(Prompt.id).desc())
        .limit(1)
    ).first()


def ask(
    session: Session,
    *,
    patient: Patient,
    kind: str,
    conversation: str,
    step: int,
    item: str,
    body: str,
    now: datetime,
    expires_at: datetime,
    flag_id: int | None = None,
    send: bool = True,
) -> Prompt | None:
    """Open a question (and queue its text unless ``send`` is False: the caller answers
    with it directly). None when that step of the conversation was asked already. Part of
    the caller's transaction."""
    assert patient.id is not None
    exists = session.exec(
        select(Prompt.id).where(Prompt.conversation == conversation, Prompt.step == step)
    ).first()
    if exists is not None:
        return None
    cancel_open(session, patient.id, now)
    prompt = Prompt(
        patient_id=patient.id,
        kind=kind,
        conversation=conversation,
        step=step,
        item=item,
        asked_at=now,
        expires_at=expires_at,
        flag_id=flag_id,
    )
    session.add(prompt)
    session.flush()
    if send:
        enqueue(
            session,
            key=f"prompt:{conversation}:{step}",
            to=patient.phone,
            body=body,
            purpose=kind,
            now=now,
            valid_until=min(expires_at, now + timedelta(hours=2)),
            patient_id=patient.id,
        )
    return prompt


def record_answer(
    session: Session, *, prompt: Prompt, value: float, value_type: str, now: datetime
) -> Observation:
    """Close ``prompt`` as answered and store the value (never the text)."""
    prompt.status = PromptStatus.ANSWERED
    prompt.answered_at = now
    session.add(prompt)
    observation = Observation(
        patient_id=prompt.patient_id,
        item=prompt.item,
        value_type=value_type,
        value=value,
        observed_at=now,
        prompt_id=prompt.id,
        source="sms",
    )
    session.add(observation)
    session.flush()
    return observation


def cancel_open(session: Session, patient_id: int, now: datetime) -> int:
    """Cancel the patient's open questions (a newer question, STOP)."""
    result = session.execute(
        update(Prompt)
        .where(col(Prompt.patient_id) == patient_id, col(Prompt.status) == PromptStatus.OPEN)
        .values(status=PromptStatus.CANCELLED)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def due_to_expire(session: Session, now: datetime) -> list[Prompt]:
    """Open questions whose time ran out, oldest first."""
    return list(
        session.exec(
            select(Prompt)
            .where(Prompt.status == PromptStatus.OPEN, Prompt.expires_at <= now)
            .order_by(col(Prompt.expires_at), col(Prompt.id))
        ).all()
    )


def next_expiry(session: Session) -> datetime | None:
    return session.exec(
        select(Prompt.expires_at)
        .where(Prompt.status == PromptStatus.OPEN)
        .order_by(col(Prompt.expires_at))
        .limit(1)
    ).first()
