"""Writing outbox rows: ``enqueue`` (one row per key, in the caller's transaction, or
batched with ``defer`` and ``flush_deferred``), when the next pending row is due, and
what a final row keeps (``settle`` blanks a secret out of its body)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from adherence.storage.db import insert_ignoring_existing
from adherence.storage.models import OutboxMessage

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
        .order_by(col(OutboxMessage.next_attempt_at))
        .limit(1)
    ).first()
