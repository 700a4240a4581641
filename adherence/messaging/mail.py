"""E-mail through the outbox: invitations and care-team messages are rows first.

An e-mail row has ``channel = "email"`` and a JSON body (subject, text and, for an
invitation, the iCalendar object and its METHOD). ``deliver_email`` sends due rows one by
one (e-mail volume is small: a clinic's invitations and digests) through the outbox's one
delivery loop, with the same retry and backoff rules as texts.

The daemon sends e-mail off its tick, as it sends texts: ``MailSender`` runs
``deliver_email`` on a thread of its own with its own session, woken by each tick (and every
``poll`` seconds for retries), so a slow mail server delays e-mail, never reminders. It
claims one row at a time: a claim is never left waiting behind slower sends, where the
tick's reconciliation of rows stuck in ``sending`` would take it for a lost one. The
simulation and tests call ``deliver_email`` inline, on their own clock.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
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


class MailSender:
    """E-mail off the engine's tick: ``wake()`` (the tick) asks for a pass, a thread of its
    own runs it (``deliver_email``, one row per claim, in its own session and on
    ``clock``); ``stop()`` runs a last pass and waits for it. A pass that fails is logged
    and retried on the next wake: it never reaches the tick."""

    def __init__(
        self,
        channel: EmailChannel,
        *,
        session: Callable[[], AbstractContextManager[Session]],
        clock: Callable[[], datetime],
        poll: float = 30.0,
    ) -> None:
        self.channel = channel
        self._session = session
        self._clock = clock
        self._poll = poll
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.passes = 0

    def wake(self) -> None:
        """A pass soon (from the tick: returns at once). Starts the thread on first use."""
        with self._start_lock:
            if self._thread is None and not self._stopping.is_set():
                self._thread = threading.Thread(target=self._run, name="mail", daemon=True)
                self._thread.start()
        self._wake.set()

    def stop(self, timeout: float = 60.0) -> None:
        """A last pass for what is due, then the thread ends (on the daemon's stop)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            self._wake.wait(self._poll)
            self._wake.clear()
            try:
                with self._session() as s:
                    deliver_email(s, now=self._clock(), channel=self.channel, limit=1)
            except Exception:
                log.exception("e-mail pass failed; retrying on the next one")
            self.passes += 1
            if self._stopping.is_set():
                return
