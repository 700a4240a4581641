"""How a row is sent: a channel's ``Route`` (texts: ``sms_route``), the one error handler
of every channel (``attempt``: an outcome, never an exception), the rate limiter the
sending threads share, and a text's status callback URL."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from adherence.storage.models import OutboxMessage
from notifiers.sms import SendResult, SmsChannel, SmsMessage, TransportError

log = logging.getLogger("adherence.outbox")

# The query parameter of a text's status callback URL that names its outbox row.
CALLBACK_PARAM = "outbox"


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


def sms_message(msg: OutboxMessage, status_callback: str | None) -> SmsMessage:
    return SmsMessage(
        key=msg.key,
        to=msg.to,
        body=msg.body,
        valid_until=msg.valid_until,
        status_callback=status_callback_url(status_callback, msg.id),
        purpose=msg.purpose,
    )


def attempt(
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
