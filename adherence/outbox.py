"""The outbox: a message is a row before it is a network call.

``enqueue`` writes the row (unique key: a second enqueue of the same key is a no-op), in
the same transaction as the state change that caused it. ``deliver`` sends due rows
through a channel and records the outcome; a crash between the two leaves a ``sending``
row that the next start reconciles instead of blindly resending.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from adherence.models import OutboxMessage, Patient
from notifiers.sms import SmsChannel, SmsMessage, TransportError

log = logging.getLogger("adherence.outbox")

BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_MAX = timedelta(minutes=10)


def enqueue(
    session: Session,
    *,
    key: str,
    to: str,
    body: str,
    purpose: str,
    now: datetime,
    valid_until: datetime,
    patient_id: int | None = None,
    dose_id: int | None = None,
    channel: str = "sms",
) -> OutboxMessage | None:
    """Add a message unless one with ``key`` exists. Returns the new row or None."""
    exists = session.exec(select(OutboxMessage.id).where(OutboxMessage.key == key)).first()
    if exists is not None:
        return None
    msg = OutboxMessage(
        key=key,
        to=to,
        body=body,
        purpose=purpose,
        channel=channel,
        patient_id=patient_id,
        dose_id=dose_id,
        status="pending",
        next_attempt_at=now,
        valid_until=valid_until,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(msg)
    except IntegrityError:
        return None  # another worker enqueued it first
    return msg


def next_pending(session: Session) -> datetime | None:
    return session.exec(
        select(OutboxMessage.next_attempt_at)
        .where(OutboxMessage.status == "pending")
        .order_by(OutboxMessage.next_attempt_at)
        .limit(1)
    ).first()


def deliver(
    session: Session,
    *,
    now: datetime,
    channel: SmsChannel,
    limit: int = 200,
    status_callback: str | None = None,
) -> int:
    """Send due pending messages; returns how many were handed to the channel."""
    rows = session.exec(
        select(OutboxMessage)
        .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    claimed: list[OutboxMessage] = []
    for msg in rows:
        msg = msg[0] if isinstance(msg, tuple) else msg
        if msg.valid_until <= now:
            msg.status = "expired"
            msg.next_attempt_at = None
            msg.updated_at = now
            log.info("outbox expired id=%s purpose=%s", msg.id, msg.purpose)
            continue
        msg.status = "sending"
        msg.attempts += 1
        msg.updated_at = now
        claimed.append(msg)
    session.commit()  # the claim is durable before any network call
    handed = 0
    for msg in claimed:
        outcome = send_one(channel, msg, now=now, status_callback=status_callback)
        session.add(msg)
        session.commit()
        if outcome:
            handed += 1
    return handed


def send_one(
    channel: SmsChannel, msg: OutboxMessage, *, now: datetime, status_callback: str | None
) -> bool:
    try:
        result = channel.send(
            SmsMessage(
                key=msg.key,
                to=msg.to,
                body=msg.body,
                valid_until=msg.valid_until,
                status_callback=status_callback,
            )
        )
    except TransportError as exc:
        msg.error = str(exc)[:500]
        if exc.permanent:
            msg.status = "failed" if exc.outcome == "failed" else exc.outcome
            msg.next_attempt_at = None
        elif exc.outcome == "uncertain":
            msg.status = "sending"  # reconcile with the provider before any retry
        else:
            delay = min(BACKOFF_MAX, BACKOFF_BASE * (2 ** max(0, msg.attempts - 1)))
            delay = delay * (0.5 + random.random())  # jitter
            retry_at = now + delay
            if retry_at >= msg.valid_until:
                msg.status = "expired"
                msg.next_attempt_at = None
            else:
                msg.status = "pending"
                msg.next_attempt_at = retry_at
        log.info("outbox send failed id=%s purpose=%s status=%s", msg.id, msg.purpose, msg.status)
        msg.updated_at = now
        return False
    msg.status = result.status if result.status in ("sent", "delivered") else "sent"
    msg.provider_id = result.provider_id
    msg.sent_at = now
    msg.next_attempt_at = None
    msg.updated_at = now
    log.info("outbox sent id=%s purpose=%s channel=%s", msg.id, msg.purpose, channel.name)
    return True


def mark_patient_undeliverable(session: Session, patient_id: int, now: datetime) -> None:
    session.execute(
        update(Patient)
        .where(Patient.id == patient_id)
        .values(sms_status="undeliverable", updated_at=now)
    )
