"""Twilio's webhooks over real HTTP, on SQLite and PostgreSQL: the app built by
``create_app`` served by uvicorn on loopback, requests signed with the ``twilio`` library's
own validator, texts sent with the real ``twilio`` client to the fake Twilio API.

A text's status callback URL names its outbox row, so a delivery status applies at once,
even when it arrives before the send's own answer (with the sid) is recorded. Inbound
texts are recorded once and answered with TwiML.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import wait
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from twilio.request_validator import RequestValidator

from adherence.bootstrap import App
from adherence.core.config import settings_from_mapping
from adherence.dosing.dispatch import DispatchPolicy, dispatch_due
from adherence.dosing.materialize import materialize
from adherence.messaging.outbox import Sender, enqueue
from adherence.patients.enrollment import create_patient, create_team
from adherence.storage.models import Dose, InboundMessage, OutboxMessage, Patient
from adherence.web import create_app
from notifiers.twilio_sms import TwilioConfig, TwilioSms
from schedules import Catalog
from tests.adherence.engine_helpers import at, enroll
from tests.adherence.web.server import serve
from tests.fakes.twilio_api import FakeTwilio

FROM = "+12025550100"
PHONE = "+12025550143"
STATUS = "/webhooks/twilio/status"


@dataclass
class Webhooks:
    """The served app, as Twilio reaches it."""

    base: str
    auth_token: str
    engine: Engine
    http: requests.Session
    clock: list[datetime]  # what the app's clock says; tests move it

    def post(
        self, path: str, params: dict[str, str], *, signed_for: str | None = None
    ) -> requests.Response:
        """POST the form as Twilio does, signed for ``signed_for`` (default: this URL)."""
        url = self.base + path
        signature = RequestValidator(self.auth_token).compute_signature(
            self.base + signed_for if signed_for is not None else url, params
        )
        return self.http.post(
            url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10
        )

    def outbox(self, row_id: int) -> OutboxMessage:
        with Session(self.engine) as s:  # a fresh read, its transaction closed at once
            row = s.get(OutboxMessage, row_id)
            assert row is not None
            return row


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


@pytest.fixture
def hooks(db_url: str, engine: Engine, catalog: Catalog, fake: FakeTwilio) -> Iterator[Webhooks]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    settings = settings_from_mapping(
        {
            "database": {"url": db_url},
            "twilio": {
                "account_sid": fake.account_sid,
                "auth_token": fake.auth_token,
                "from_number": FROM,
                "api_base_url": fake.url,
            },
            "http": {"public_base_url": base},
        }
    )
    clock = [datetime.now(UTC)]
    web = create_app(App(settings=settings, engine=engine, catalog=catalog), clock=lambda: clock[0])
    with serve(web, port), requests.Session() as http:
        yield Webhooks(base, fake.auth_token, engine, http, clock)


def _sender(fake: FakeTwilio, hooks: Webhooks) -> Sender:
    channel = TwilioSms(
        TwilioConfig(
            account_sid=fake.account_sid,
            auth_token=fake.auth_token,
            from_number=FROM,
            api_base_url=fake.url,
        )
    )
    return Sender(
        channel=channel, workers=2, rate_per_second=100, status_callback=hooks.base + STATUS
    )


def _queue_text(session: Session, now: datetime, key: str = "k1") -> int:
    team = create_team(session, name="Clinic", tz="UTC", now=now)
    patient = create_patient(session, team=team, name="Ana", phone=PHONE, tz="UTC", now=now)
    enqueue(
        session,
        key=key,
        to=PHONE,
        body=f"body {key}",
        purpose="reminder",
        now=now,
        valid_until=now + timedelta(hours=1),
        patient_id=patient.id,
    )
    session.commit()
    row = session.exec(select(OutboxMessage).where(OutboxMessage.key == key)).one()
    session.commit()  # no transaction left open: on SQLite it would hold the write lock
    assert row.id is not None
    return row.id


def _on_the_wire(
    session: Session, fake: FakeTwilio, hooks: Webhooks, sender: Sender
) -> dict[str, Any]:
    """Hand the queued text to Twilio and wait for Twilio's answer without recording it:
    the row is still ``sending``, without a sid, as in the moment before the next tick."""
    from adherence.messaging.outbox import deliver

    deliver(session, now=datetime.now(UTC), sender=sender)
    wait(list(sender.in_flight))
    [created] = fake.sent_to(PHONE)
    return created


def test_a_status_callback_that_overtakes_the_sends_answer_applies_at_once(
    session: Session, fake: FakeTwilio, hooks: Webhooks
) -> None:
    row_id = _queue_text(session, datetime.now(UTC))
    sender = _sender(fake, hooks)
    try:
        created = _on_the_wire(session, fake, hooks, sender)
        row = hooks.outbox(row_id)
        assert (row.status, row.provider_id) == ("sending", None)
        # The URL Twilio was given names our row.
        assert created["status_callback"] == f"{hooks.base}{STATUS}?outbox={row_id}"

        answered = hooks.post(
            f"{STATUS}?outbox={row_id}",
            {"MessageSid": created["sid"], "MessageStatus": "delivered", "To": PHONE},
        )

        assert answered.status_code == 204
        row = hooks.outbox(row_id)  # applied before the webhook answered: no waiting
        assert (row.status, row.provider_id) == ("delivered", created["sid"])
        # The send's own answer, recorded afterwards, never takes the row back to "sent".
        assert sender.collect(session, datetime.now(UTC)) == 1
        row = hooks.outbox(row_id)
        assert (row.status, row.provider_id) == ("delivered", created["sid"])
        assert row.sent_at is not None and row.error == ""
    finally:
        sender.close()


def test_a_carrier_failure_reported_before_the_sends_answer_is_kept(
    session: Session, fake: FakeTwilio, hooks: Webhooks
) -> None:
    row_id = _queue_text(session, datetime.now(UTC))
    sender = _sender(fake, hooks)
    try:
        created = _on_the_wire(session, fake, hooks, sender)
        params = {
            "MessageSid": created["sid"],
            "MessageStatus": "undelivered",
            "ErrorCode": "30003",
        }
        assert hooks.post(f"{STATUS}?outbox={row_id}", params).status_code == 204
        sender.collect(session, datetime.now(UTC))
        row = hooks.outbox(row_id)
        assert (row.status, row.error) == ("undelivered", "twilio 30003")
    finally:
        sender.close()


def test_the_signature_covers_the_row_id_and_a_wrong_sid_changes_nothing(
    session: Session, fake: FakeTwilio, hooks: Webhooks
) -> None:
    row_id = _queue_text(session, datetime.now(UTC))
    sender = _sender(fake, hooks)
    try:
        created = _on_the_wire(session, fake, hooks, sender)
        sender.collect(session, datetime.now(UTC))
        delivered = {"MessageSid": created["sid"], "MessageStatus": "delivered"}

        # Signed for another row's URL: the row id cannot be swapped under a valid signature.
        moved = hooks.post(f"{STATUS}?outbox={row_id}", delivered, signed_for=f"{STATUS}?outbox=9")
        # Signed, but another message's sid for this row.
        other = hooks.post(
            f"{STATUS}?outbox={row_id}", {"MessageSid": "SMother", "MessageStatus": "failed"}
        )

        assert (moved.status_code, other.status_code) == (403, 204)
        assert hooks.outbox(row_id).status == "sent"
    finally:
        sender.close()


def test_a_text_sent_with_the_old_callback_url_is_found_by_its_sid(
    session: Session, fake: FakeTwilio, hooks: Webhooks
) -> None:
    row_id = _queue_text(session, datetime.now(UTC))
    sender = _sender(fake, hooks)
    try:
        created = _on_the_wire(session, fake, hooks, sender)
        sender.collect(session, datetime.now(UTC))
        for status in ("delivered", "sent"):  # forward only
            params = {"MessageSid": created["sid"], "MessageStatus": status}
            assert hooks.post(STATUS, params).status_code == 204
        assert hooks.outbox(row_id).status == "delivered"
        unknown = hooks.post(STATUS, {"MessageSid": "SMnobody", "MessageStatus": "failed"})
        assert unknown.status_code == 204
    finally:
        sender.close()


def _inbound(hooks: Webhooks) -> list[InboundMessage]:
    with Session(hooks.engine) as s:
        return list(s.exec(select(InboundMessage).order_by(col(InboundMessage.id))).all())


def test_a_signed_reply_is_recorded_once_and_answered_with_twiml(
    session: Session, catalog: Catalog, hooks: Webhooks
) -> None:
    now = at(2026, 3, 2, 0, 5)
    e = enroll(session, catalog, "Aubagio", date(2026, 3, 2), now=now, times=["08:00"])
    materialize(session, now=now, catalog=catalog, horizon_days=3)
    dispatch_due(session, now=at(2026, 3, 2, 8), catalog=catalog, policy=DispatchPolicy())
    session.commit()
    hooks.clock[0] = at(2026, 3, 2, 8, 10).astimezone(UTC)
    reply = {"MessageSid": "SMreply1", "From": e.patient.phone, "To": FROM, "Body": " t! "}

    first = hooks.post("/webhooks/twilio/sms", reply)
    again = hooks.post("/webhooks/twilio/sms", reply)  # Twilio retrying the webhook
    stranger = hooks.post(
        "/webhooks/twilio/sms", {"MessageSid": "SMx", "From": "+12025550199", "Body": "T"}
    )
    forged = hooks.post(
        "/webhooks/twilio/sms", {**reply, "MessageSid": "SMforged"}, signed_for="/elsewhere"
    )

    assert first.status_code == 200 and "<Message>Thanks, recorded.</Message>" in first.text
    assert again.status_code == stranger.status_code == 200
    assert "<Message>" not in again.text and "<Message>" not in stranger.text
    assert forged.status_code == 403
    rows = _inbound(hooks)
    assert [(r.provider_sid, r.intent) for r in rows] == [("SMreply1", "taken"), ("SMx", "")]
    assert rows[0].patient_id == e.patient.id and rows[1].patient_id is None
    with Session(hooks.engine) as s:
        dose = s.get(Dose, rows[0].dose_id)
        assert dose is not None and (dose.status, dose.confirmed_via) == ("taken", "sms")


def test_an_inactive_patients_number_is_recorded_but_not_acted_on(
    session: Session, hooks: Webhooks
) -> None:
    now = datetime.now(UTC)
    team = create_team(session, name="Clinic", tz="UTC", now=now)
    patient = create_patient(session, team=team, name="Ana", phone=PHONE, tz="UTC", now=now)
    patient.active = False
    session.add(patient)
    session.commit()

    answered = hooks.post(
        "/webhooks/twilio/sms", {"MessageSid": "SM1", "From": PHONE, "Body": "STOP"}
    )

    assert answered.status_code == 200 and "<Message>" not in answered.text
    assert [(r.provider_sid, r.patient_id) for r in _inbound(hooks)] == [("SM1", None)]
    with Session(hooks.engine) as s:
        found = s.get(Patient, patient.id)
        assert found is not None and found.sms_status == "active"  # not opted out


def test_a_checkin_answer_through_the_webhook_is_stored_and_the_next_question_answered(
    session: Session, catalog: Catalog, hooks: Webhooks
) -> None:
    from adherence.core.selfcare_config import CheckinSettings, TriageSettings
    from adherence.selfcare.cadence import set_cadence
    from adherence.selfcare.step import selfcare_step
    from adherence.storage.selfcare import Observation

    now = at(2026, 3, 2, 8)
    e = enroll(session, catalog, "Aubagio", date(2026, 3, 2), now=now, times=["08:00"])
    set_cadence(session, patient=e.patient, every_days=7, local_time="18:30",
                items="fatigue,new_symptoms", settings=CheckinSettings(), now=now, by="x")  # fmt: skip
    session.commit()
    selfcare_step(session, now=at(2026, 3, 2, 18, 30), checkin_settings=CheckinSettings(),
                  triage_settings=TriageSettings())  # fmt: skip
    hooks.clock[0] = at(2026, 3, 2, 18, 40).astimezone(UTC)
    answered = hooks.post(
        "/webhooks/twilio/sms", {"MessageSid": "SMc1", "From": e.patient.phone, "Body": "6"}
    )
    assert answered.status_code == 200
    assert (
        "<Message>Noted: fatigue 6. (2/2) Any new symptoms this week? Reply Y or N.</Message>"
        in answered.text
    )
    rows = _inbound(hooks)
    assert [(r.provider_sid, r.intent) for r in rows] == [("SMc1", "checkin")]
    with Session(hooks.engine) as s:
        [obs] = s.exec(select(Observation)).all()
        assert (obs.item, obs.value) == ("fatigue", 6.0)
