"""The outbox: written before sending, sent once, retried or given up honestly."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from adherence.messaging.mail import email_route, enqueue_email
from adherence.messaging.outbox import RateLimiter, deliver, deliver_due, enqueue, sms_route
from adherence.messaging.receipts import apply_status, reconcile_in_flight
from adherence.patients.enrollment import create_patient, create_team
from adherence.storage.models import OutboxMessage, Patient
from notifiers.email import Email
from notifiers.sms import MemorySms, SendResult, SmsMessage, TransportError

PHONE = "+12025550143"


@dataclass
class Scripted:
    """A channel that answers from a script: an exception or a result per call."""

    script: list[TransportError | None]
    name: str = "scripted"
    calls: list[SmsMessage] = field(default_factory=list)
    known: dict[str, str] = field(default_factory=dict)

    def send(self, message: SmsMessage) -> SendResult:
        self.calls.append(message)
        step = self.script.pop(0) if self.script else None
        if step is not None:
            raise step
        return SendResult(provider_id=f"SM{len(self.calls)}")

    def reconcile(self, message: SmsMessage, since: datetime) -> str | None:
        return self.known.get(message.body)


def _patient(session: Session, now: datetime) -> Patient:
    team = create_team(session, name="Clinic", tz="UTC", now=now)
    return create_patient(session, team=team, name="Ana", phone=PHONE, tz="UTC", now=now)


def _enqueue(
    session: Session,
    now: datetime,
    patient: Patient,
    key: str = "k1",
    valid: timedelta = timedelta(hours=1),
) -> bool:
    msg = enqueue(
        session,
        key=key,
        to=PHONE,
        body=f"body {key}",
        purpose="reminder",
        now=now,
        valid_until=now + valid,
        patient_id=patient.id,
    )
    session.commit()
    return msg


def test_enqueue_is_idempotent_by_key(session: Session, t0: datetime) -> None:
    p = _patient(session, t0)
    assert _enqueue(session, t0, p) is True
    assert _enqueue(session, t0, p) is False
    assert len(session.exec(select(OutboxMessage)).all()) == 1


def test_enqueue_then_rollback_leaves_nothing(engine: Engine, t0: datetime) -> None:
    with Session(engine) as s:
        p = _patient(s, t0)
    with Session(engine) as s:
        enqueue(
            s,
            key="k1",
            to=PHONE,
            body="hi",
            purpose="reminder",
            now=t0,
            valid_until=t0 + timedelta(hours=1),
            patient_id=p.id,
        )
        s.rollback()
    with Session(engine) as s:
        assert s.execute(text("select count(*) from outbox")).scalar() == 0


def test_deliver_sends_once_and_records_the_provider_id(session: Session, t0: datetime) -> None:
    p = _patient(session, t0)
    _enqueue(session, t0, p)
    channel = MemorySms()
    assert deliver(session, now=t0, channel=channel) == 1
    assert deliver(session, now=t0 + timedelta(minutes=1), channel=channel) == 0
    row = session.exec(select(OutboxMessage)).one()
    assert row.status == "sent" and row.provider_id == "SIM00000001" and len(channel.sent) == 1


def test_transient_errors_back_off_then_expire_with_the_message(
    session: Session, t0: datetime
) -> None:
    p = _patient(session, t0)
    _enqueue(session, t0, p, valid=timedelta(minutes=2))
    fail = TransportError("429", permanent=False, code=20429)
    channel = Scripted([fail] * 20)
    deliver(session, now=t0, channel=channel)
    row = session.exec(select(OutboxMessage)).one()
    assert row.status == "pending" and row.next_attempt_at > t0 and row.attempts == 1
    now = t0
    while row.status == "pending":
        now = row.next_attempt_at
        deliver(session, now=now, channel=channel)
        session.refresh(row)
    assert row.status == "expired" and now < t0 + timedelta(minutes=2)  # never sent late


def test_permanent_error_marks_the_phone_undeliverable(session: Session, t0: datetime) -> None:
    p = _patient(session, t0)
    _enqueue(session, t0, p)
    channel = Scripted(
        [TransportError("21211", permanent=True, code=21211, outcome="undeliverable")]
    )
    deliver(session, now=t0, channel=channel)
    session.refresh(p)
    row = session.exec(select(OutboxMessage)).one()
    assert row.status == "undeliverable" and p.sms_status == "undeliverable"
    deliver(session, now=t0 + timedelta(hours=1), channel=channel)
    assert len(channel.calls) == 1  # never retried


def test_carrier_opt_out_21610_marks_the_patient_opted_out(session: Session, t0: datetime) -> None:
    p = _patient(session, t0)
    _enqueue(session, t0, p)
    deliver(
        session,
        now=t0,
        channel=Scripted([TransportError("x", permanent=True, code=21610, outcome="opted_out")]),
    )
    session.refresh(p)
    assert p.sms_status == "opted_out"


@pytest.mark.parametrize("exists", [True, False])
def test_uncertain_send_is_reconciled_not_blindly_resent(
    session: Session, t0: datetime, exists: bool
) -> None:
    p = _patient(session, t0)
    _enqueue(session, t0, p)
    channel = Scripted([TransportError("timeout", permanent=False, outcome="uncertain")])
    deliver(session, now=t0, channel=channel)
    row = session.exec(select(OutboxMessage)).one()
    assert row.status == "sending"
    deliver(session, now=t0 + timedelta(minutes=1), channel=channel)
    assert len(channel.calls) == 1  # a "sending" row is never picked up by deliver
    if exists:
        channel.known["body k1"] = "SMfound"
    reconcile_in_flight(session, now=t0 + timedelta(minutes=1), channel=channel)
    session.refresh(row)
    if exists:
        assert row.status == "sent" and row.provider_id == "SMfound"
    else:
        assert row.status == "pending"
        deliver(session, now=t0 + timedelta(minutes=1), channel=channel)
        session.refresh(row)
        assert row.status == "sent" and len(channel.calls) == 2


def test_status_callbacks_only_move_forward(session: Session, t0: datetime) -> None:
    p = _patient(session, t0)
    _enqueue(session, t0, p)
    deliver(session, now=t0, channel=MemorySms())
    sid = session.exec(select(OutboxMessage)).one().provider_id
    assert sid
    for status in ("delivered", "sent", "queued"):
        apply_status(session, provider_id=sid, status=status, error_code=None, now=t0)
    assert session.exec(select(OutboxMessage)).one().status == "delivered"


def test_repeated_carrier_failures_mark_the_phone_undeliverable(
    session: Session, t0: datetime
) -> None:
    p = _patient(session, t0)
    for key in ("a", "b"):
        _enqueue(session, t0, p, key=key)
    deliver(session, now=t0, channel=MemorySms())
    sids = [m.provider_id for m in session.exec(select(OutboxMessage)).all()]
    apply_status(session, provider_id=sids[0], status="undelivered", error_code=30003, now=t0)
    session.refresh(p)
    assert p.sms_status == "active"  # one failure is not enough
    apply_status(session, provider_id=sids[1], status="undelivered", error_code=30005, now=t0)
    session.refresh(p)
    assert p.sms_status == "undeliverable"


def test_rate_limiter_spaces_sends() -> None:
    clock = [0.0]
    slept: list[float] = []

    def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    limiter = RateLimiter(2.0, burst=1, clock=lambda: clock[0], sleep=fake_sleep)
    for _ in range(5):
        limiter.acquire()
    assert clock[0] == pytest.approx(2.0)  # 5 sends at 2/s with a burst of 1: 4 waits of 0.5 s


def test_a_reminder_whose_window_closed_while_down_is_recorded_not_sent(
    session: Session, t0: datetime
) -> None:
    from datetime import date

    from adherence.dosing.dispatch import DispatchPolicy, dispatch_due
    from adherence.dosing.materialize import materialize
    from adherence.patients.enrollment import create_plan
    from adherence.storage.models import Dose
    from schedules import load_catalog

    catalog = load_catalog()
    p = _patient(session, t0)
    plan = create_plan(
        session,
        catalog=catalog,
        patient=p,
        regimen="Aubagio",
        start=date(2026, 3, 1),
        now=t0,
        times=["09:00"],
    )
    materialize(session, now=t0, catalog=catalog, horizon_days=3, plan_ids=[plan.id])
    # Nothing ran from 09:00 until the next morning: the 12-hour window is long closed.
    later = t0 + timedelta(days=1, hours=4)
    dispatch_due(session, now=later, catalog=catalog, policy=DispatchPolicy(nudges=0))
    first = session.exec(select(Dose).order_by(Dose.due_at)).first()
    assert first is not None and first.status == "missed"
    row = session.exec(select(OutboxMessage).where(OutboxMessage.dose_id == first.id)).one()
    assert row.status == "not_sent" and "window closed" in row.error
    channel = MemorySms()
    deliver(session, now=later, channel=channel)
    assert [m.key for m in channel.sent] != [row.key]  # never sent late
    assert all(m.key != row.key for m in channel.sent)


@dataclass
class Down:
    """A mail server that cannot be reached: every send says so."""

    name: str = "down"
    calls: int = 0

    def send(self, email: Email) -> SendResult:
        self.calls += 1
        raise TransportError("mail server unreachable", permanent=False, outcome="unavailable")


@dataclass
class Broken:
    """A channel with a bug: it raises something no channel should."""

    name: str = "broken"

    def send(self, message: object) -> SendResult:
        raise RuntimeError("bug")


def _queue_email(session: Session, now: datetime, count: int) -> None:
    for n in range(count):
        enqueue_email(
            session,
            key=f"mail:{n}",
            to=f"coord{n}@example.org",
            subject="Flags",
            text="digest",
            purpose="digest",
            now=now,
        )
    session.commit()


def _by_channel(session: Session, channel: str) -> list[OutboxMessage]:
    session.expire_all()
    return list(
        session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.channel == channel)
            .order_by(col(OutboxMessage.id))
        ).all()
    )


def test_one_delivery_pass_sends_every_channel_and_a_dead_mail_server_holds_back_only_mail(
    session: Session, t0: datetime
) -> None:
    p = _patient(session, t0)
    _enqueue(session, t0, p, key="t1")
    _enqueue(session, t0, p, key="t2")
    _queue_email(session, t0, 3)
    texts, mail = MemorySms(), Down()

    handed = deliver_due(session, now=t0, routes=[sms_route(texts), email_route(mail)])

    assert handed == 2 and len(texts.sent) == 2
    assert [r.status for r in _by_channel(session, "sms")] == ["sent", "sent"]
    # One attempt waited out the dead server; the other two were given back untried.
    assert mail.calls == 1
    rows = _by_channel(session, "email")
    assert [(r.status, r.attempts) for r in rows] == [
        ("pending", 1),
        ("pending", 0),
        ("pending", 0),
    ]
    assert len({r.next_attempt_at for r in rows}) == 1


def test_a_channel_raising_something_unexpected_never_stops_the_loop(
    session: Session, t0: datetime
) -> None:
    p = _patient(session, t0)
    _enqueue(session, t0, p, key="t1")
    _queue_email(session, t0, 1)

    assert deliver_due(session, now=t0, routes=[sms_route(Broken()), email_route(Broken())]) == 0

    # A text may have left before the library raised: asked about before any resend. An
    # e-mail is simply tried again later.
    [text_row] = _by_channel(session, "sms")
    [mail_row] = _by_channel(session, "email")
    assert (text_row.status, text_row.next_attempt_at) == ("sending", None)
    assert mail_row.status == "pending" and mail_row.next_attempt_at is not None
    assert mail_row.next_attempt_at > t0 and "unexpected RuntimeError" in mail_row.error


def test_each_text_is_sent_with_a_status_callback_url_naming_its_row(
    session: Session, t0: datetime
) -> None:
    p = _patient(session, t0)
    for key in ("a", "b"):
        _enqueue(session, t0, p, key=key)
    channel = MemorySms()

    deliver(session, now=t0, channel=channel, status_callback="https://clinic.example/hooks/status")

    ids = [r.id for r in _by_channel(session, "sms")]
    assert [m.status_callback for m in channel.sent] == [
        f"https://clinic.example/hooks/status?outbox={row_id}" for row_id in ids
    ]
