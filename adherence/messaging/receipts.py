"""What a provider tells us about messages already handed over.

``apply_status`` applies a delivery status callback to its row at once (the callback URL
names the row: ``outbox.status_callback_url``); ``reconcile_in_flight`` settles rows left
``sending`` by a crash or a timed-out request by asking the provider whether the message
exists, before anything is resent.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from adherence.messaging.outbox import RECONCILE_AFTER, STATUS_ORDER, settle, sms_message
from adherence.storage.models import OutboxMessage, Patient
from notifiers.sms import SmsChannel, TransportError

log = logging.getLogger("adherence.outbox")


def reconcile_in_flight(
    session: Session,
    *,
    now: datetime,
    channel: SmsChannel,
    older_than: timedelta = RECONCILE_AFTER,
    status_callback: str | None = None,
) -> int:
    """Settle rows left ``sending`` (a crash mid-send, a timed-out request): ask the
    provider whether the message exists; if so it was sent; if not, send it again while
    it is still valid. Channels that cannot be asked (the console) resend."""
    rows = session.exec(
        select(OutboxMessage)
        .where(OutboxMessage.status == "sending", OutboxMessage.updated_at <= now - older_than)
        .with_for_update(skip_locked=True)
    ).all()
    settled = 0
    for msg in rows:
        found: str | None = None
        reconcile = getattr(channel, "reconcile", None)
        if reconcile is not None:
            try:
                found = reconcile(sms_message(msg, status_callback), msg.created_at)
            except TransportError:
                continue  # cannot ask now; next tick
        msg.updated_at = now
        if found:
            msg.status = "sent"
            msg.provider_id = found
            msg.sent_at = msg.sent_at or now
            settle(msg)
            log.info("outbox reconciled id=%s found=yes", msg.id)
        elif msg.valid_until > now:
            msg.status = "pending"
            msg.next_attempt_at = now
            log.info("outbox reconciled id=%s found=no resend=yes", msg.id)
        else:
            msg.status = "expired"
            settle(msg)
            log.info("outbox reconciled id=%s found=no resend=no (expired)", msg.id)
        settled += 1
    session.commit()
    return settled


def apply_status(
    session: Session,
    *,
    provider_id: str,
    status: str,
    error_code: int | None,
    now: datetime,
    outbox_id: int | None = None,
    undeliverable_after: int = 2,
) -> OutboxMessage | None:
    """A delivery status callback, applied at once: to row ``outbox_id`` (named by the
    callback URL, so it applies even before the send's own answer, with the sid, is
    recorded; a row that has a sid must have this one), or, for texts sent before the URL
    named the row, to the row with ``provider_id``. Only ever moves a message forward;
    repeated carrier failures (30003/30005/30006) mark the patient's phone undeliverable.
    None (and nothing changes) when no row matches."""
    query = select(OutboxMessage)
    if outbox_id is not None:
        query = query.where(col(OutboxMessage.id) == outbox_id, OutboxMessage.channel == "sms")
    else:
        query = query.where(col(OutboxMessage.provider_id) == provider_id)
    # Locked: the delivery loop may be recording this row's send right now (_record_all).
    msg = session.exec(query.with_for_update()).first()
    if msg is None or (msg.provider_id or provider_id) != provider_id:
        session.rollback()
        log.info("status callback for an unknown message ignored status=%s", status)
        return None
    if STATUS_ORDER.get(status, -1) > STATUS_ORDER.get(msg.status, -1):
        msg.status = status
        msg.updated_at = now
        # The provider has it: it was sent, whether or not the send's answer is in yet.
        msg.provider_id = provider_id
        msg.sent_at = msg.sent_at or now
        if error_code:
            msg.error = f"twilio {error_code}"
        session.add(msg)
    if error_code in (30003, 30005, 30006) and msg.patient_id is not None:
        recent = session.exec(
            select(OutboxMessage.error)
            .where(
                col(OutboxMessage.patient_id) == msg.patient_id,
                col(OutboxMessage.sent_at).is_not(None),
            )
            .order_by(col(OutboxMessage.sent_at).desc())
            .limit(undeliverable_after)
        ).all()
        failures = [e for e in recent if e in ("twilio 30003", "twilio 30005", "twilio 30006")]
        if len(failures) >= undeliverable_after:
            session.execute(
                update(Patient)
                .where(col(Patient.id) == msg.patient_id)
                .values(sms_status="undeliverable", updated_at=now)
            )
    session.commit()
    return msg
