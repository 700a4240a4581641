"""E-mail delivery through the outbox when the mail server is down: one attempt waits out
the timeout, the rest of the batch is held back untried, and all of it goes out once a real
SMTP server on loopback answers again."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlmodel import Session, select

from adherence.messaging.mail import deliver_email, enqueue_email
from adherence.storage.models import OutboxMessage
from notifiers.email import SmtpEmail
from tests.fakes.smtp_server import smtp_server


@contextmanager
def silent_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP port on loopback that accepts connections and never sends a greeting (a hung
    mail server); yields the port and the connections it accepted."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


def _queue(session: Session, now: datetime, count: int) -> None:
    for n in range(count):
        enqueue_email(
            session,
            key=f"digest:test:{n}",
            to=f"coord{n}@example.org",
            subject="Flags",
            text=f"digest {n}",
            purpose="digest",
            now=now,
        )
    session.commit()


def _rows(session: Session) -> list[OutboxMessage]:
    session.expire_all()
    return list(
        session.exec(
            select(OutboxMessage).where(OutboxMessage.channel == "email").order_by(OutboxMessage.id)  # type: ignore[arg-type]
        ).all()
    )


def test_a_hung_mail_server_costs_one_timeout_per_tick_and_loses_nothing(
    session: Session, t0: datetime
) -> None:
    _queue(session, t0, 5)
    with silent_server() as (port, accepted):
        hung = SmtpEmail(host="127.0.0.1", port=port, security="none", timeout=0.5)
        started = time.monotonic()
        assert deliver_email(session, now=t0, channel=hung) == 0
        waited = time.monotonic() - started
        connections = len(accepted)
    # One connection, one timeout: not five in a row inside the engine's tick.
    assert connections == 1
    assert waited < 2.0, waited
    rows = _rows(session)
    assert [r.status for r in rows] == ["pending"] * 5
    assert [r.attempts for r in rows] == [1, 0, 0, 0, 0]
    assert "unreachable" in rows[0].error and all(r.error == "" for r in rows[1:])
    # The untried ones wait for the same retry time as the one that failed.
    retry_at = rows[0].next_attempt_at
    assert retry_at is not None and retry_at > t0
    assert {r.next_attempt_at for r in rows} == {retry_at}

    # Before the retry time nothing is tried; after it, a working server takes all five.
    with smtp_server() as (server, inbox):
        good = SmtpEmail(host="127.0.0.1", port=server.port, security="none")
        assert deliver_email(session, now=t0, channel=good) == 0
        assert deliver_email(session, now=retry_at + timedelta(seconds=1), channel=good) == 5
        got = inbox.wait_for(5)
    assert sorted(m.rcpt_tos[0] for m in got) == [f"coord{n}@example.org" for n in range(5)]
    assert [r.status for r in _rows(session)] == ["sent"] * 5


def test_one_refused_recipient_does_not_hold_back_the_others(
    session: Session, t0: datetime
) -> None:
    _queue(session, t0, 3)
    with smtp_server() as (server, inbox):
        inbox.refuse["coord1@example.org"] = "550 5.1.1 no such mailbox"
        channel = SmtpEmail(host="127.0.0.1", port=server.port, security="none")
        assert deliver_email(session, now=t0, channel=channel) == 2
        got = inbox.wait_for(2)
    assert sorted(m.rcpt_tos[0] for m in got) == ["coord0@example.org", "coord2@example.org"]
    assert [r.status for r in _rows(session)] == ["sent", "undeliverable", "sent"]
