"""The outbox: a message is a row before it is a network call.

``enqueue`` writes the row (unique key: a second enqueue of the same key is a no-op), in
the same transaction as the state change that caused it. ``deliver_due`` is the one
delivery loop for every channel (texts, e-mail): it claims due rows (``sending``,
committed before any network call), sends each through its channel's ``Route`` (texts on
a bounded thread pool at a configured rate), and records each outcome with the same
permanent / transient / validity rules. A row left in ``sending`` by a crash or a
timed-out request is reconciled with the provider before anything is resent: found ->
sent; not found -> pending again while still valid. Each text's status callback URL
carries its row id, so a delivery status applies to its row at once (``apply_status``).
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from adherence.storage.db import insert_ignoring_existing
from adherence.storage.models import OutboxMessage, Patient
from notifiers.sms import SendResult, SmsChannel, SmsMessage, TransportError

log = logging.getLogger("adherence.outbox")

BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_MAX = timedelta(minutes=10)
RECONCILE_AFTER = timedelta(seconds=30)
# When a server is unavailable and the failed message has no retry time (it expired).
RETRY_WHEN_UNAVAILABLE = timedelta(minutes=1)
# The query parameter of a text's status callback URL that names its outbox row.
CALLBACK_PARAM = "outbox"

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


def settle(msg: OutboxMessage) -> None:
    """A row reached a final status: drop what must not linger in it."""
    if msg.purpose in SECRET_PURPOSES:
        msg.body = redact(msg.body)


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


@dataclass(frozen=True)
class Route:
    """One channel as the delivery loop sees it: its rows (``kind``, the row's ``channel``)
    and how a row is sent."""

    kind: str
    # Reads the row (in the session's thread) and returns the send, which touches no row:
    # it may run on the sender's pool.
    prepare: Callable[[OutboxMessage], Callable[[], SendResult]]
    # What an unexpected exception from the channel means: "uncertain" when the message
    # may have left (the provider is asked before any resend), "failed" when it is simply
    # tried again later.
    unexpected: str = "failed"


def sms_route(channel: SmsChannel, status_callback: str | None = None) -> Route:
    """Texts: a Twilio request that raised may still have created the message."""
    return Route(
        kind="sms",
        prepare=lambda msg: partial(channel.send, sms_message(msg, status_callback)),
        unexpected="uncertain",
    )


def status_callback_url(base: str | None, outbox_id: int | None) -> str | None:
    """Where Twilio posts one text's delivery status: ``base`` with our row id in the query,
    so the webhook finds the row at once, before the send's own answer is recorded (which
    happens on the next pass of the delivery loop). Twilio signs the whole URL."""
    if not base or outbox_id is None:
        return base
    return f"{base}{'&' if '?' in base else '?'}{CALLBACK_PARAM}={outbox_id}"


@dataclass
class Sender:
    """The SMS channel plus how to use it: concurrency, rate, status callback URL. Its sends
    run on a thread pool; the delivery loop records their outcomes on its next pass."""

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
        self.route = sms_route(self.channel, self.status_callback)

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
        return _record_all(session, [(self.in_flight.pop(f), f.result(), now) for f in done])

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


_DEFERRED = "adherence.messaging.outbox.deferred"


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
            settle(msg)
            log.info("outbox expired id=%s purpose=%s", msg.id, msg.purpose)
            continue
        msg.status = "sending"
        msg.attempts += 1
        claimed.append(msg)
    session.commit()  # the claim is durable before any network call
    return claimed


def sms_message(msg: OutboxMessage, status_callback: str | None) -> SmsMessage:
    return SmsMessage(
        key=msg.key,
        to=msg.to,
        body=msg.body,
        valid_until=msg.valid_until,
        status_callback=status_callback_url(status_callback, msg.id),
        purpose=msg.purpose,
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
    """Send due texts (``deliver_due`` for the SMS channel); returns how many the channel
    accepted. With a ``sender`` they go out on its pool; with a bare ``channel``
    (simulation, tests) one by one here."""
    routes = [] if sender is not None else [sms_route(_given(channel), status_callback)]
    return deliver_due(session, now=now, routes=routes, sender=sender, limit=limit, clock=clock)


def _given(channel: SmsChannel | None) -> SmsChannel:
    if channel is None:
        raise ValueError("deliver needs a channel or a sender")
    return channel


def deliver_due(
    session: Session,
    *,
    now: datetime,
    routes: Sequence[Route] = (),
    sender: Sender | None = None,
    limit: int = 200,
    clock: Callable[[], datetime] | None = None,
) -> int:
    """The delivery loop, for every channel: claim each route's due rows (committed before
    any network call), send them, record each outcome (sent; retried with backoff while
    still valid; failed for good). Returns how many the channels accepted.

    The ``sender``'s texts run on its thread pool at its rate and this returns once they
    are on the wire: outcomes of earlier requests are recorded first, and a call never
    waits for the network (rows stay ``sending`` meanwhile, which a crash leaves for
    ``reconcile_in_flight``). ``routes`` are sent one by one here.

    When a server itself is unavailable (unreachable, refusing our login), the rest of its
    batch is given back untried, to be retried with the failed one: each attempt may wait
    out the connection timeout, and this runs inside the engine's tick, whose reminders
    must not wait behind a dead mail server.
    """
    handed = 0
    if sender is not None:
        handed += sender.collect(session, clock() if clock else now)
        _submit(session, sender, now, limit)
    for route in routes:
        handed += _send_here(session, route, now, limit, clock)
    return handed


def _submit(session: Session, sender: Sender, now: datetime, limit: int) -> None:
    """Claim as many texts as the pool has room for and put them on the wire."""
    route = sender.route
    room = sender.workers * 4 - len(sender.in_flight)
    while room > 0:
        claimed = _claim(session, now, min(limit, room), route.kind)
        for msg in claimed:
            assert msg.id is not None
            fut = sender.pool.submit(_attempt, route, route.prepare(msg), sender.limiter)
            sender.in_flight[fut] = msg.id
        room -= len(claimed)
        if len(claimed) < limit:
            break


def _send_here(
    session: Session,
    route: Route,
    now: datetime,
    limit: int,
    clock: Callable[[], datetime] | None,
) -> int:
    handed = 0
    while True:
        claimed = _claim(session, now, limit, route.kind)
        outcomes: list[tuple[int, SendResult | TransportError, datetime]] = []
        held: list[OutboxMessage] = []
        unavailable = False
        for n, msg in enumerate(claimed):
            assert msg.id is not None
            outcome = _attempt(route, route.prepare(msg))
            outcomes.append((msg.id, outcome, clock() if clock else now))
            if isinstance(outcome, TransportError) and outcome.outcome == "unavailable":
                unavailable, held = True, claimed[n + 1 :]
                break
        handed += _record_all(session, outcomes, hold_back=held)
        if unavailable or len(claimed) < limit:
            return handed


def _attempt(
    route: Route, send: Callable[[], SendResult], limiter: RateLimiter | None = None
) -> SendResult | TransportError:
    """The one error handler of every channel: a send's outcome, never an exception."""
    if limiter is not None:
        limiter.acquire()
    try:
        return send()
    except TransportError as exc:
        return exc
    except Exception as exc:  # a bug or an unexpected library error: never crash the daemon
        log.exception("%s channel raised unexpectedly", route.kind)
        return TransportError(
            f"unexpected {type(exc).__name__}", permanent=False, outcome=route.unexpected
        )


def _record_all(
    session: Session,
    outcomes: Sequence[tuple[int, SendResult | TransportError, datetime]],
    *,
    hold_back: Sequence[OutboxMessage] = (),
) -> int:
    """Record sends' outcomes (row id, outcome, when) and give ``hold_back`` back untried;
    commit. Returns how many were accepted. The rows are read again first, locked
    (PostgreSQL; on SQLite the transaction holds the write lock): a status callback may
    have moved one on while its send was on the wire, and must not be undone."""
    if not outcomes:
        return 0
    rows = {
        m.id: m
        for m in session.exec(
            select(OutboxMessage)
            .where(col(OutboxMessage.id).in_([row_id for row_id, _, _ in outcomes]))
            .order_by(col(OutboxMessage.id))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    handed = 0
    for row_id, outcome, at in outcomes:
        msg = rows.get(row_id)
        if msg is None:
            continue
        handed += _record(session, msg, outcome, at)
        if hold_back and isinstance(outcome, TransportError) and outcome.outcome == "unavailable":
            retry_at = msg.next_attempt_at or at + RETRY_WHEN_UNAVAILABLE
            for untried in hold_back:
                # Pending again from the failed one's retry time, the claim's attempt not
                # counted: trying them now would only wait the dead server out again.
                untried.status = "pending"
                untried.attempts = max(0, untried.attempts - 1)
                untried.next_attempt_at = retry_at
            log.warning(
                "%s server unavailable (%s): %d message(s) held back until %s",
                msg.channel,
                outcome,
                len(hold_back),
                retry_at.isoformat(),
            )
    session.commit()
    return handed


# How far along a message is; a delivery status callback only ever moves it forward.
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


def _record(
    session: Session, msg: OutboxMessage, outcome: SendResult | TransportError, now: datetime
) -> bool:
    msg.updated_at = now
    # A status callback names its row and may come before the send's own answer is
    # recorded: the row has then moved past "sending", and the provider has the message.
    overtaken = STATUS_ORDER.get(msg.status, -1) > STATUS_ORDER["sending"]
    if isinstance(outcome, SendResult):
        if STATUS_ORDER.get(msg.status, -1) < STATUS_ORDER["sent"]:
            msg.status = "sent"  # never back from what a callback reported (delivered)
        # Message-IDs have no length limit; the head still finds it in the server's logs.
        msg.provider_id = outcome.provider_id[:255]
        msg.sent_at = msg.sent_at or now
        msg.next_attempt_at = None
        if not overtaken:
            msg.error = ""  # an earlier attempt's; a callback's carrier error is kept
        settle(msg)
        log.info("outbox sent id=%s purpose=%s", msg.id, msg.purpose)
        return True
    exc = outcome
    if overtaken:
        # A timeout after the message was created, say: the callback proved it exists.
        log.info("outbox send error after a status callback id=%s status=%s", msg.id, msg.status)
        return False
    msg.error = str(exc)[:500]
    if exc.permanent:
        msg.status = {"undeliverable": "undeliverable", "opted_out": "opted_out"}.get(
            exc.outcome, "failed"
        )
        msg.next_attempt_at = None
        settle(msg)
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
            settle(msg)
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
