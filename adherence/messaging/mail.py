"""E-mail through the outbox: invitations and care-team messages are rows first.

An e-mail row has ``channel = "email"`` and a JSON body (subject, text and, for an
invitation, the iCalendar object and its METHOD). ``deliver_email`` sends due rows one by
one (e-mail volume is small: a clinic's invitations and digests) through the outbox's one
delivery loop, with the same retry and backoff rules as texts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlmodel import Session

from adherence.core.config import Settings
from adherence.messaging.outbox import Route, deliver_due, enqueue
from adherence.storage.models import OutboxMessage
from notifiers.email import ConsoleEmail, Email, EmailChannel, SmtpEmail
from notifiers.sms import SendResult

log = logging.getLogger("adherence.mail")

EMAIL_VALID_FOR = timedelta(days=2)  # an invitation or digest older than this is stale


def make_email_channel(settings: Settings) -> EmailChannel:
    smtp = settings.smtp
    if not smtp.host:
        return ConsoleEmail()
    return SmtpEmail(
        host=smtp.host,
        port=smtp.port,
        security=smtp.security,
        username=smtp.username,
        password=smtp.password.get_secret_value(),
        from_address=smtp.from_address,
        timeout=smtp.timeout_seconds,
    )


def enqueue_email(
    session: Session,
    *,
    key: str,
    to: str,
    subject: str,
    text: str,
    purpose: str,
    now: datetime,
    calendar: str | None = None,
    method: str | None = None,
    patient_id: int | None = None,
    valid_for: timedelta = EMAIL_VALID_FOR,
) -> bool:
    """Queue an e-mail (part of the caller's transaction); a second call with the same
    ``key`` does nothing. True if queued."""
    body = json.dumps(
        {"subject": subject, "text": text, "calendar": calendar, "method": method},
        ensure_ascii=False,
    )
    return enqueue(
        session,
        key=key,
        to=to,
        body=body,
        purpose=purpose,
        now=now,
        valid_until=now + valid_for,
        patient_id=patient_id,
        channel="email",
    )


def email_of(key: str, to: str, body: str) -> Email:
    data = json.loads(body)
    return Email(
        key=key,
        to=to,
        subject=data["subject"],
        text=data["text"],
        calendar=data.get("calendar"),
        method=data.get("method"),
    )


def email_route(channel: EmailChannel) -> Route:
    """E-mail rows: the JSON body is read when the e-mail is sent, so a body that cannot be
    read is that send's error, like any other."""

    def prepare(msg: OutboxMessage) -> Callable[[], SendResult]:
        key, to, body = msg.key, msg.to, msg.body
        return lambda: channel.send(email_of(key, to, body))

    return Route(kind="email", prepare=prepare)


def deliver_email(
    session: Session, *, now: datetime, channel: EmailChannel, limit: int = 50
) -> int:
    """Send due e-mails; returns how many the server accepted. A server that is itself
    unavailable costs one attempt: the rest of the batch waits, untried, for the failed
    one's retry time (``deliver_due``)."""
    return deliver_due(session, now=now, routes=[email_route(channel)], limit=limit)
