"""The outbox: a message is a row before it is a network call.

``enqueue`` writes the row (unique key: a second enqueue of the same key is a no-op), in
the same transaction as the state change that caused it. ``deliver`` claims due rows
(``sending``, committed before any network call), sends them through the channel on a
bounded thread pool at a configured rate, and records each outcome. A row left in
``sending`` by a crash or a timed-out request is reconciled with the provider before
anything is resent: found -> sent; not found -> pending again while still valid.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import update
from sqlmodel import Session, select

from adherence.db import insert_ignoring_existing
from adherence.models import OutboxMessage, Patient
from notifiers.sms import SendResult, SmsChannel, SmsMessage, TransportError

log = logging.getLogger("adherence.outbox")

BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_MAX = timedelta(minutes=10)
RECONCILE_AFTER = timedelta(seconds=30)

# Texts that carry a secret (a calendar feed URL is a bearer token): once the row is final
# (sent, failed for good, expired) nothing needs the text again, so the secret is blanked
# out of the stored body. Kept while a send may be retried or reconciled (Twilio's
# reconciliation matches on the body).
SECRET_PURPOSES = frozenset({"calendar_link"})
_FEED_TOKEN = re.compile(r"(/calendar/(?:team/)?)[^/\s?#]+?(\.ics)")
REDACTED = "…"


def redact(body: str) -> str:
    """``body`` with every feed token replaced by "…" (the rest of the URL stays, so the
    row still shows what was sent)."""
    return _FEED_TOKEN.sub(rf"\g<1>{REDACTED}\g<2>", body)


def _settle(msg: OutboxMessage) -> None:
    """A row reached a final status: drop what must not linger in it."""
    if msg.purpose in SECRET_PURPOSES:
        msg.body = redact(msg.body)


class Reconciler(Protocol):
    def reconcile(self, message: SmsMessage, since: datetime) -> str | None: ...


class RateLimiter:
    """A token bucket shared by the sending threads (messages per second)."""

    def __init__(
        self,
        per_second: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = per_second
        self.capacity = burst if burst is not None else max(1.0, per_second)
        self.tokens = self.capacity
        self.clock = clock
        self.stamp = clock()
        self.sleep = sleep
        self.lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self.lock:
                now = self.clock()
                self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                wait = (1 - self.tokens) / self.rate
            self.sleep(wait)


@dataclass
class Sender:
    """The channel plus how to use it: concurrency, rate, status callback URL."""

    channel: SmsChannel
    workers: int = 8
    rate_per_second: float = 1.0
    status_callback: str | None = None

    def __post_init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="sms")
        self.limiter = RateLimiter(self.rate_per_second)
        # Requests on the wire, by outbox row id; outcomes are recorded by the next tick
        # (or by ``finish``), so the engine never waits for the network to dispatch more.
        self.in_flight: dict[Future[SendResult | TransportError], int] = {}

    @property
    def busy(self) -> bool:
        return bool(self.in_flight)

    def close(self, wait: bool = True) -> None:
        self.pool.shutdown(wait=wait, cancel_futures=False)

    def collect(self, session: Session, now: datetime, *, block: bool = False) -> int:
        """Record the outcome of every finished request (all of them with ``block``)."""
        if not self.in_flight:
            return 0
        if block:
            wait(list(self.in_flight))
        done = [f for f in self.in_flight if f.done()]
        if not done:
            return 0
        ids = {self.in_flight[f] for f in done}
        rows = {
            m.id: m for m in session.exec(select(OutboxMessage).where(OutboxMessage.id.in_(ids)))
        }
        handed = 0
        for fut in done:
            msg = rows.get(self.in_flight.pop(fut))
            if msg is not None:
                handed += _record(session, msg, fut.result(), now)
        session.commit()
        return handed

    def finish(self, session: Session, now: datetime) -> int:
        """On shutdown: wait for requests on the wire and record them."""
        return self.collect(session, now, block=True)


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
    defer: bool = False,
    not_sent: str = "",
) -> bool:
    """Add a message unless one with ``key`` exists (then nothing happens, even when
    another worker raced us to it). Part of the caller's transaction. True if added
    (with ``defer``: queued for ``flush_deferred``, which the caller must call before
    committing). ``not_sent`` records a message that will never go out, with the reason
    (a reminder whose window closed while the daemon was down)."""
    row = {
        "key": key,
        "to": to,
        "body": body,
        "purpose": purpose,
        "channel": channel,
        "patient_id": patient_id,
        "dose_id": dose_id,
        "status": "not_sent" if not_sent else "pending",
        "attempts": 0,
        "next_attempt_at": None if not_sent else now,
        "valid_until": valid_until,
        "error": not_sent,
        "created_at": now,
        "updated_at": now,
    }
    if defer:
        # Batched by the caller's flush_deferred() (one executemany per dispatch batch).
        session.info.setdefault(_DEFERRED, []).append(row)
        return True
    stmt = _insert_ignore(session).returning(OutboxMessage.id)
    return session.connection().execute(stmt, row).first() is not None


_DEFERRED = "adherence.outbox.deferred"


def flush_deferred(session: Session) -> int:
    """Insert the messages enqueued with ``defer=True`` (duplicates ignored by key)."""
    rows = session.info.pop(_DEFERRED, None)
    if not rows:
        return 0
    session.connection().execute(_insert_ignore(session), rows)
    return len(rows)


def _insert_ignore(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    return insert_ignoring_existing(dialect, OutboxMessage, ["key"])


def next_pending(session: Session) -> datetime | None:
    return session.exec(
        select(OutboxMessage.next_attempt_at)
        .where(OutboxMessage.status == "pending")
        .order_by(OutboxMessage.next_attempt_at)
        .limit(1)
    ).first()


def _claim(
    session: Session, now: datetime, limit: int, channel: str = "sms"
) -> list[OutboxMessage]:
    rows = session.exec(
        select(OutboxMessage)
        .where(
            OutboxMessage.status == "pending",
            OutboxMessage.next_attempt_at <= now,
            OutboxMessage.channel == channel,
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    claimed = []
    for msg in rows:
        msg.updated_at = now
        if msg.valid_until <= now:
            msg.status = "expired"
            msg.next_attempt_at = None
            _settle(msg)
            log.info("outbox expired id=%s purpose=%s", msg.id, msg.purpose)
            continue
        msg.status = "sending"
        msg.attempts += 1
        claimed.append(msg)
    session.commit()  # the claim is durable before any network call
    return claimed


def _message(msg: OutboxMessage, status_callback: str | None) -> SmsMessage:
    return SmsMessage(
        key=msg.key,
        to=msg.to,
        body=msg.body,
        valid_until=msg.valid_until,
        status_callback=status_callback,
    )


def deliver(
    session: Session,
    *,
    now: datetime,
    channel: SmsChannel | None = None,
    sender: Sender | None = None,
    limit: int = 200,
    status_callback: str | None = None,
    clock: Callable[[], datetime] | None = None,
) -> int:
    """Send due pending messages; returns how many the channel accepted.

    With a ``sender`` the sends run on its thread pool at its rate and this returns once
    they are on the wire: outcomes of earlier requests are recorded first, and a call never
    waits for the network (rows stay ``sending`` meanwhile, which a crash leaves for
    ``reconcile_in_flight``). With a bare ``channel`` (simulation, tests) they run one by
    one here.
    """
    if sender is None:
        assert channel is not None
        handed = 0
        while True:
            claimed = _claim(session, now, limit)
            for msg in claimed:
                outcome = _attempt(channel, None, _message(msg, status_callback))
                handed += _record(session, msg, outcome, clock() if clock else now)
            session.commit()
            if len(claimed) < limit:
                return handed
    done_at = clock() if clock else now
    handed = sender.collect(session, done_at)
    room = sender.workers * 4 - len(sender.in_flight)
    while room > 0:
        claimed = _claim(session, now, min(limit, room))
        for msg in claimed:
            fut = sender.pool.submit(
                _attempt, sender.channel, sender.limiter, _message(msg, sender.status_callback)
            )
            assert msg.id is not None
            sender.in_flight[fut] = msg.id
        room -= len(claimed)
        if len(claimed) < limit:
            break
    return handed


def _attempt(
    channel: SmsChannel, limiter: RateLimiter | None, message: SmsMessage
) -> SendResult | TransportError:
    if limiter is not None:
        limiter.acquire()
    try:
        return channel.send(message)
    except TransportError as exc:
        return exc
    except Exception as exc:  # a bug or an unexpected library error: never crash the daemon
        log.exception("channel raised unexpectedly")
        return TransportError(
            f"unexpected {type(exc).__name__}", permanent=False, outcome="uncertain"
        )


def claim_due(session: Session, now: datetime, limit: int, channel: str) -> list[OutboxMessage]:
    """Claim due pending messages of one channel (committed before any network call)."""
    return _claim(session, now, limit, channel)


def release(session: Session, messages: list[OutboxMessage], at: datetime) -> None:
    """Give claimed messages back untried: pending again from ``at``, the claim's attempt
    not counted (used when the server is down, so trying them would only wait it out)."""
    for msg in messages:
        msg.status = "pending"
        msg.attempts = max(0, msg.attempts - 1)
        msg.next_attempt_at = at


def record_outcome(
    session: Session, msg: OutboxMessage, outcome: SendResult | TransportError, now: datetime
) -> bool:
    """Record a send's outcome on its row: sent, retry later with backoff, or failed."""
    return _record(session, msg, outcome, now)


def _record(
    session: Session, msg: OutboxMessage, outcome: SendResult | TransportError, now: datetime
) -> bool:
    msg.updated_at = now
    if isinstance(outcome, SendResult):
        msg.status = "sent"
        msg.provider_id = outcome.provider_id
        msg.sent_at = now
        msg.next_attempt_at = None
        msg.error = ""
        _settle(msg)
        log.info("outbox sent id=%s purpose=%s", msg.id, msg.purpose)
        return True
    exc = outcome
    msg.error = str(exc)[:500]
    if exc.permanent:
        msg.status = {"undeliverable": "undeliverable", "opted_out": "opted_out"}.get(
            exc.outcome, "failed"
        )
        msg.next_attempt_at = None
        _settle(msg)
        if (
            msg.channel == "sms"
            and msg.patient_id is not None
            and exc.outcome in ("undeliverable", "opted_out")
        ):
            new = "undeliverable" if exc.outcome == "undeliverable" else "opted_out"
            session.execute(
                update(Patient)
                .where(Patient.id == msg.patient_id)
                .values(sms_status=new, updated_at=now)
            )
    elif exc.outcome == "uncertain":
        msg.status = "sending"  # reconcile with the provider before any retry
        msg.next_attempt_at = None
    else:
        delay = min(BACKOFF_MAX, BACKOFF_BASE * (2 ** max(0, msg.attempts - 1)))
        retry_at = now + delay * (0.5 + random.random())  # jitter
        if retry_at >= msg.valid_until:
            msg.status = "expired"
            msg.next_attempt_at = None
            _settle(msg)
        else:
            msg.status = "pending"
            msg.next_attempt_at = retry_at
    log.info(
        "outbox send failed id=%s purpose=%s status=%s code=%s",
        msg.id,
        msg.purpose,
        msg.status,
        exc.code,
    )
    return False


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
                found = reconcile(_message(msg, status_callback), msg.created_at)
            except TransportError:
                continue  # cannot ask now; next tick
        msg.updated_at = now
        if found:
            msg.status = "sent"
            msg.provider_id = found
            msg.sent_at = msg.sent_at or now
            _settle(msg)
            log.info("outbox reconciled id=%s found=yes", msg.id)
        elif msg.valid_until > now:
            msg.status = "pending"
            msg.next_attempt_at = now
            log.info("outbox reconciled id=%s found=no resend=yes", msg.id)
        else:
            msg.status = "expired"
            _settle(msg)
            log.info("outbox reconciled id=%s found=no resend=no (expired)", msg.id)
        settled += 1
    session.commit()
    return settled


STATUS_ORDER = {
    "pending": 0,
    "sending": 1,
    "accepted": 2,
    "scheduled": 2,
    "queued": 3,
    "sent": 4,
    "delivered": 5,
    "read": 6,
    "undelivered": 5,
    "failed": 5,
    "canceled": 5,
}


def apply_status(
    session: Session,
    *,
    provider_id: str,
    status: str,
    error_code: int | None,
    now: datetime,
    undeliverable_after: int = 2,
) -> OutboxMessage | None:
    """A delivery status callback: only ever moves a message forward; repeated carrier
    failures (30003/30005/30006) mark the patient's phone undeliverable."""
    msg = session.exec(
        select(OutboxMessage).where(OutboxMessage.provider_id == provider_id)
    ).first()
    if msg is None:
        return None
    if STATUS_ORDER.get(status, -1) > STATUS_ORDER.get(msg.status, -1):
        msg.status = status
        msg.updated_at = now
        if error_code:
            msg.error = f"twilio {error_code}"
        session.add(msg)
    if error_code in (30003, 30005, 30006) and msg.patient_id is not None:
        recent = session.exec(
            select(OutboxMessage.error)
            .where(OutboxMessage.patient_id == msg.patient_id, OutboxMessage.sent_at.is_not(None))
            .order_by(OutboxMessage.sent_at.desc())
            .limit(undeliverable_after)
        ).all()
        failures = [e for e in recent if e in ("twilio 30003", "twilio 30005", "twilio 30006")]
        if len(failures) >= undeliverable_after:
            session.execute(
                update(Patient)
                .where(Patient.id == msg.patient_id)
                .values(sms_status="undeliverable", updated_at=now)
            )
    session.commit()
    return msg
