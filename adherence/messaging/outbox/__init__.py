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

The package: ``rows`` writes the rows, ``channels`` says how a row is sent, ``delivery``
is the loop; every public name is importable from ``adherence.messaging.outbox``.
"""

from adherence.messaging.outbox.channels import (
    CALLBACK_PARAM,
    RateLimiter,
    Route,
    attempt,
    sms_message,
    sms_route,
    status_callback_url,
)
from adherence.messaging.outbox.delivery import (
    BACKOFF_BASE,
    BACKOFF_MAX,
    RECONCILE_AFTER,
    RETRY_WHEN_UNAVAILABLE,
    STATUS_ORDER,
    Sender,
    deliver,
    deliver_due,
)
from adherence.messaging.outbox.rows import (
    REDACTED,
    SECRET_PURPOSES,
    enqueue,
    flush_deferred,
    next_pending,
    redact,
    settle,
)

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_MAX",
    "CALLBACK_PARAM",
    "RECONCILE_AFTER",
    "REDACTED",
    "RETRY_WHEN_UNAVAILABLE",
    "SECRET_PURPOSES",
    "STATUS_ORDER",
    "RateLimiter",
    "Route",
    "Sender",
    "attempt",
    "deliver",
    "deliver_due",
    "enqueue",
    "flush_deferred",
    "next_pending",
    "redact",
    "settle",
    "sms_message",
    "sms_route",
    "status_callback_url",
]
