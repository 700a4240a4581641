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

from adherence.dosing.replies import ReplyOutcome, handle_reply
from adherence.storage.db import insert_ignoring_existing
from adherence.storage.models import InboundMessage, Patient
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
    message is still recorded)."""
    patient = session.exec(
        select(Patient)
        .where(col(Patient.phone) == sms.from_number, col(Patient.active).is_(True))
        .order_by(col(Patient.id))
    ).first()
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
    if patient is None:
        log.info("inbound from an unknown number ignored")
        return None
    outcome = reply(
        session,
        catalog=catalog,
        patient=patient,
        text=sms.body,
        now=now,
        snooze_minutes=snooze_minutes,
        horizon_days=horizon_days,
    )
    session.execute(
        update(InboundMessage)
        .where(col(InboundMessage.id) == row_id)
        .values(intent=outcome.intent.kind, dose_id=outcome.dose.id if outcome.dose else None)
    )
    session.commit()
    log.info("inbound reply intent=%s patient=%s", outcome.intent.kind, patient.id)
    return outcome
