"""E-mail through the outbox: invitations and care-team messages are rows first.

An e-mail row has ``channel = "email"`` and a JSON body (subject, text and, for an
invitation, the iCalendar object and its METHOD). ``deliver_email`` sends due rows one by
one (e-mail volume is small: a clinic's invitations and digests) and records each outcome
with the same retry and backoff rules as texts.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from sqlmodel import Session

from adherence.config import Settings
from adherence.outbox import claim_due, enqueue, record_outcome, release
from notifiers.email import ConsoleEmail, Email, EmailChannel, SmtpEmail
from notifiers.sms import SendResult, TransportError

log = logging.getLogger("adherence.mail")

EMAIL_VALID_FOR = timedelta(days=2)  # an invitation or digest older than this is stale
# When the server is unavailable and the failed e-mail has no retry time (it expired).
RETRY_WHEN_UNAVAILABLE = timedelta(minutes=1)


def make_email_channel(settings: Settings) -> EmailChannel:
    smtp = settings.smtp
    if not smtp.host:
        return ConsoleEmail()
    return SmtpEmail(
        host=smtp.host,
        port=smtp.port,
        security=smtp.security,
        username=smtp.username,
        password=smtp.password,
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


def deliver_email(
    session: Session, *, now: datetime, channel: EmailChannel, limit: int = 50
) -> int:
    """Send due e-mails; returns how many the server accepted.

    When the server itself is unavailable (unreachable, refusing our login, 421), the rest
    of the batch is given back untried, to be retried with the failed one: each attempt may
    wait out the connection timeout, and this runs inside the engine's tick, whose
    reminders must not wait behind a dead mail server."""
    sent = 0
    while True:
        claimed = claim_due(session, now, limit, "email")
        for n, msg in enumerate(claimed):
            outcome: SendResult | TransportError
            try:
                outcome = channel.send(email_of(msg.key, msg.to, msg.body))
            except TransportError as exc:
                outcome = exc
            except Exception as exc:  # never let a library surprise stop the daemon
                log.exception("e-mail channel raised unexpectedly")
                outcome = TransportError(f"unexpected {type(exc).__name__}", permanent=False)
            if isinstance(outcome, SendResult) and len(outcome.provider_id) > 255:
                # Message-IDs have no length limit; the head still finds it in the server's logs.
                outcome = SendResult(provider_id=outcome.provider_id[:255], status=outcome.status)
            sent += record_outcome(session, msg, outcome, now)
            if isinstance(outcome, TransportError) and outcome.outcome == "unavailable":
                rest = claimed[n + 1 :]
                retry_at = msg.next_attempt_at or now + RETRY_WHEN_UNAVAILABLE
                release(session, rest, retry_at)
                session.commit()
                log.warning(
                    "mail server unavailable (%s): %d e-mail(s) held back until %s",
                    outcome,
                    len(rest),
                    retry_at.isoformat(),
                )
                return sent
        session.commit()
        if len(claimed) < limit:
            return sent
