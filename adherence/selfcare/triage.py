"""Flare triage: two yes/no questions after a FLARE / RELAPSE reply.

The reply itself is handled as before (a ``flare_reported`` rule event, then an urgent
flag from the care step). Once that flag is raised, ``start_due`` asks "new or worse
symptoms?"; its answer is followed by "lasting more than 24 hours?". The flag's urgency then
follows the answers: both yes stays urgent (possible relapse); anything else becomes normal,
with the answers in its details. No answer (the question expires) leaves it urgent. The last
answer is told only the clinic's closing text (``[triage]``): the care team will call, and
the emergency number; never medical advice.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from adherence.core.selfcare_config import TriageSettings
from adherence.selfcare.prompts import ask, record_answer
from adherence.storage.models import FLAG_OPEN, CareTeam, Flag, Patient
from adherence.storage.selfcare import Observation, Prompt, PromptStatus
from notifiers.selfcare_texts import TRIAGE, YES_NO, noted, triage_text

log = logging.getLogger("adherence.selfcare")

KIND = "triage"
FLARE_RULE = "flare_reported"
ANSWER_KEYS = {"triage_new": "new_or_worse", "triage_24h": "over_24_hours"}


def _conversation(flag: Flag) -> str:
    # One triage per FLARE reply: a second FLARE while the flag is open recurs on it.
    return f"triage:{flag.id}:{flag.occurrences}"


def start_due(session: Session, *, now: datetime, settings: TriageSettings) -> int:
    """Ask the first question for each open flare flag that has not had its triage."""
    since = now - timedelta(hours=settings.expires_hours)
    flags = session.exec(
        select(Flag, Patient)
        .join(Patient, col(Patient.id) == Flag.patient_id)
        .where(
            Flag.rule == FLARE_RULE,
            col(Flag.status).in_(FLAG_OPEN),
            Flag.last_at > since,
        )
        .order_by(col(Flag.id))
    ).all()
    started = 0
    for flag, patient in flags:
        if not patient.active or patient.sms_status != "active":
            continue
        team = session.get(CareTeam, patient.team_id)
        assert team is not None and flag.id is not None
        first = TRIAGE[0]
        prompt = ask(
            session,
            patient=patient,
            kind=KIND,
            conversation=_conversation(flag),
            step=0,
            item=first.code,
            body=triage_text(team.name, first, patient.language),
            now=now,
            expires_at=now + timedelta(hours=settings.expires_hours),
            flag_id=flag.id,
        )
        if prompt is not None:
            started += 1
            _set_triage(flag, {"status": "asked"})
            session.add(flag)
            log.info("triage started patient=%s flag=%s", patient.id, flag.id)
    return started


def answer_triage(
    session: Session,
    *,
    prompt: Prompt,
    patient: Patient,
    value: float,
    now: datetime,
    settings: TriageSettings,
) -> tuple[Observation, str]:
    """Record a triage answer; ask the second question or settle the flag's urgency."""
    question = TRIAGE[prompt.step] if prompt.step < len(TRIAGE) else TRIAGE[-1]
    observation = record_answer(session, prompt=prompt, value=value, value_type=YES_NO, now=now)
    said = noted(question, value, patient.language)
    team = session.get(CareTeam, patient.team_id)
    assert team is not None
    flag = session.get(Flag, prompt.flag_id) if prompt.flag_id is not None else None
    step = prompt.step + 1
    if step < len(TRIAGE):
        body = triage_text(team.name, TRIAGE[step], patient.language, said)
        ask(
            session,
            patient=patient,
            kind=KIND,
            conversation=prompt.conversation,
            step=step,
            item=TRIAGE[step].code,
            body=body,
            now=now,
            expires_at=now + timedelta(hours=settings.expires_hours),
            flag_id=prompt.flag_id,
            send=False,
        )
        return observation, body
    if flag is not None:
        answers = _answers(session, prompt.conversation)
        both = all(answers.get(key) is True for key in ANSWER_KEYS.values())
        flag.severity = "urgent" if both else "normal"
        _set_triage(flag, {"status": "answered", "possible_relapse": both, **answers, "at": now})
        session.add(flag)
        log.info("triage answered flag=%s severity=%s", flag.id, flag.severity)
    closing = settings.closing_es if patient.language == "es" else settings.closing_en
    return observation, f"{said} {closing.format(team=team.name)}"


def expired(session: Session, *, prompt: Prompt, now: datetime) -> None:
    """A triage question nobody answered: the flag stays urgent, and says so."""
    flag = session.get(Flag, prompt.flag_id) if prompt.flag_id is not None else None
    if flag is None:
        return
    answers = _answers(session, prompt.conversation)
    flag.severity = "urgent"
    _set_triage(flag, {"status": "no answer", **answers, "at": now})
    session.add(flag)


def _answers(session: Session, conversation: str) -> dict[str, bool]:
    rows = session.exec(
        select(Prompt.item, Observation.value)
        .join(Observation, col(Observation.prompt_id) == Prompt.id)
        .where(Prompt.conversation == conversation, Prompt.status == PromptStatus.ANSWERED)
    ).all()
    return {ANSWER_KEYS[item]: value >= 1 for item, value in rows if item in ANSWER_KEYS}


def _set_triage(flag: Flag, triage: dict[str, object]) -> None:
    details = json.loads(flag.details_json or "{}")
    details["triage"] = triage
    flag.details_json = json.dumps(details, sort_keys=True, default=str)
