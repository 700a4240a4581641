"""The delivery loop, for every channel: claim due rows (committed before any network
call), send them (texts on the ``Sender``'s pool, other routes here), record each outcome
with the same permanent / transient / validity rules."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from adherence.messaging.outbox.channels import RateLimiter, Route, attempt, sms_route
from adherence.messaging.outbox.rows import settle
from adherence.storage.models import OutboxMessage, Patient
from notifiers.sms import SendResult, SmsChannel, TransportError

log = logging.getLogger("adherence.outbox")

BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_MAX = timedelta(minutes=10)
RECONCILE_AFTER = timedelta(seconds=30)
# When a server is unavailable and the failed message has no retry time (it expired).
RETRY_WHEN_UNAVAILABLE = timedelta(minutes=1)


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


def _claim(
    session: Session, now: datetime, limit: int, channel: str = "sms"
) -> list[OutboxMessage]:
    rows = session.exec(
        select(OutboxMessage)
        .where(
            OutboxMessage.status == "pending",
            col(OutboxMessage.next_attempt_at) <= now,
            OutboxMessage.channel == channel,
        )
        .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
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
            fut = sender.pool.submit(attempt, route, route.prepare(msg), sender.limiter)
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
            outcome = attempt(route, route.prepare(msg))
            outcomes.append((msg.id, outcome, clock() if clock else now))
            if isinstance(outcome, TransportError) and outcome.outcome == "unavailable":
                unavailable, held = True, claimed[n + 1 :]
                break
        handed += _record_all(session, outcomes, hold_back=held)
        if unavailable or len(claimed) < limit:
            return handed


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
                .where(col(Patient.id) == msg.patient_id)
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
