"""Texts people send us: recorded once, then applied as a patient's reply.

``receive_sms`` writes the inbound message first (once per provider sid, however often
the provider retries its webhook), finds the active patient with the sender's number and
applies the text as that patient's reply (``adherence.dosing.replies``, or the ``reply``
handler the caller passes). The web layer only
checks the webhook's signature, parses its form into an ``InboundSms`` and renders the
answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from adherence.dosing import codes
from adherence.dosing.confirm import open_dose_for_reply
from adherence.dosing.replies import ReplyOutcome, handle_reply, parse_reply
from adherence.storage.db import insert_ignoring_existing
from adherence.storage.models import CareTeam, InboundMessage, OutboxMessage, Patient
from notifiers import texts
from notifiers.twilio_sms import InboundSms
from schedules import Catalog

log = logging.getLogger("adherence.inbound")

# What applies a patient's text: ``handle_reply`` itself, or a router above this layer that
# answers open questions first (``adherence.selfcare.router.ReplyRouter``).
ReplyHandler = Callable[..., ReplyOutcome]


def receive_sms(
    session: Session,
    sms: InboundSms,
    *,
    catalog: Catalog,
    now: datetime,
    snooze_minutes: int = 30,
    horizon_days: int = 35,
    reply: ReplyHandler = handle_reply,
) -> ReplyOutcome | None:
    """Record ``sms`` and apply it as a reply. None when there is nothing to answer: a
    retry of a message already recorded, or a number that is no active patient's (the
    message is still recorded).

    A number shared by patients (a family phone) is answered for the patient the reply is
    about (``_shared``), never guessed: the message is recorded without a patient until
    one is known."""
    patients = codes.phone_patients(session, sms.from_number)
    patient = patients[0] if len(patients) == 1 else None
    dialect = session.get_bind().dialect.name
    stmt = insert_ignoring_existing(dialect, InboundMessage, ["provider_sid"]).returning(
        col(InboundMessage.id)
    )
    row_id = (
        session.connection()
        .execute(
            stmt,
            {
                "provider_sid": sms.sid,
                "patient_id": patient.id if patient else None,
                "from_number": sms.from_number,
                "body": sms.body,
                "intent": "",
                "dose_id": None,
                "received_at": now,
            },
        )
        .scalar()
    )
    # Committed before the reply is applied: the message is on record whatever happens next.
    session.commit()
    if row_id is None:
        log.info("inbound duplicate ignored")  # a webhook retry: recorded once
        return None
    if not patients:
        log.info("inbound from an unknown number ignored")
        return None

    def apply(p: Patient) -> ReplyOutcome:
        return reply(
            session,
            catalog=catalog,
            patient=p,
            text=sms.body,
            now=now,
            snooze_minutes=snooze_minutes,
            horizon_days=horizon_days,
        )

    if patient is not None:
        outcome = apply(patient)
    else:
        patient, outcome = _shared(session, patients, sms.body, now, apply)
    session.execute(
        update(InboundMessage)
        .where(col(InboundMessage.id) == row_id)
        .values(
            intent=outcome.intent.kind,
            dose_id=outcome.dose.id if outcome.dose else None,
            patient_id=patient.id if patient is not None else None,
        )
    )
    session.commit()
    log.info(
        "inbound reply intent=%s patient=%s shared=%s",
        outcome.intent.kind,
        patient.id if patient is not None else None,
        len(patients) > 1,
    )
    return outcome


# Replies that are about the number, not one patient: every patient on it follows.
_WHOLE_NUMBER = ("stop", "start", "tips_off")


def _shared(
    session: Session,
    patients: list[Patient],
    text: str,
    now: datetime,
    apply: Callable[[Patient], ReplyOutcome],
) -> tuple[Patient | None, ReplyOutcome]:
    """A text from a number shared by ``patients``: whose it is, and its outcome.

    STOP, START and TIPS OFF apply to every patient on the number (the carrier stops the
    number, not a person). A reply naming a code applies to that code's dose, whoever's it
    is. T, S or Z without a code applies to the one patient with a dose open; when several
    have one nothing is guessed: the answer asks for the code. FLARE without a code is
    recorded for every patient on the number (a symptom report is never dropped; the team
    calls back). Anything else (HELP, R, an answer to a question) goes to the patient last
    texted at the number."""
    intent = parse_reply(text)
    if intent.kind in _WHOLE_NUMBER or (intent.kind == "flare" and intent.code is None):
        outcomes = [apply(p) for p in patients]
        return patients[0], outcomes[0]
    ids = [p.id for p in patients if p.id is not None]
    by_id = {p.id: p for p in patients}
    first = patients[0]
    team = session.get(CareTeam, first.team_id)
    team_name = team.name if team is not None else ""
    if intent.code is not None:
        dose = codes.find_by_code(session, ids, intent.code, now)
        if dose is None:
            return None, ReplyOutcome(
                intent, answer=texts.unknown_code(team_name, intent.code, first.language)
            )
        return by_id[dose.patient_id], apply(by_id[dose.patient_id])
    if intent.kind in ("taken", "skip", "snooze"):
        waiting = [
            (by_id[i], d) for i in ids if (d := open_dose_for_reply(session, i, now)) is not None
        ]
        if len(waiting) == 1:
            return waiting[0][0], apply(waiting[0][0])
        if not waiting:
            return first, apply(first)
        choices = []
        for p, d in waiting:
            code = codes.code_for(session, d, p, now)
            if code is not None:
                choices.append((code, codes.whose(p)))
        session.commit()
        letter = {"taken": "T", "skip": "S", "snooze": "Z"}[intent.kind]
        return None, ReplyOutcome(
            intent, answer=texts.which_dose(team_name, choices, letter, first.language)
        )
    last = session.exec(
        select(OutboxMessage.patient_id)
        .where(col(OutboxMessage.patient_id).in_(ids))
        .order_by(col(OutboxMessage.created_at).desc(), col(OutboxMessage.id).desc())
        .limit(1)
    ).first()
    chosen = by_id.get(last, first) if last is not None else first
    return chosen, apply(chosen)
