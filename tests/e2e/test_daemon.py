"""The daemon as a process: real twilio client -> fake Twilio on loopback, signed webhooks,
restarts after kill -9, provider faults, two daemons on one PostgreSQL database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.request import urlopen
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from adherence.dosing.materialize import materialize
from adherence.patients.enrollment import create_patient, create_plan, create_team
from adherence.storage.db import make_engine
from adherence.storage.models import InboundMessage, OutboxMessage, Patient, RuleEvent
from schedules import load_catalog
from tests.e2e.conftest import World, wait_for

pytestmark = pytest.mark.slow
TZ = "America/Chicago"


def enrol_due_now(db_url: str, count: int, *, regimen: str = "Aubagio") -> list[str]:
    """``count`` patients whose first dose is due this very minute. Returns phones."""
    engine = make_engine(db_url)
    catalog = load_catalog()
    now = datetime.now(UTC)
    local = now.astimezone(ZoneInfo(TZ))
    phones = []
    with Session(engine, expire_on_commit=False) as s:
        team = s.exec(select(Patient)).first()
        from adherence.storage.models import CareTeam

        team = s.exec(select(CareTeam).where(CareTeam.name == "E2E clinic")).first() or create_team(
            s, name="E2E clinic", tz=TZ, phone="+12025550100", now=now
        )
        plan_ids = []
        for i in range(count):
            phone = f"+1202555{1000 + i:04d}"
            p = create_patient(
                s,
                team=team,
                name=f"P{i}",
                phone=phone,
                tz=TZ,
                now=now,
                external_id=f"e2e-{i}-{phone[-4:]}",
            )
            plan = create_plan(
                s,
                catalog=catalog,
                patient=p,
                regimen=regimen,
                start=local.date(),
                now=now,
                times=[local.strftime("%H:%M")],
            )
            plan_ids.append(plan.id)
            phones.append(phone)
        materialize(s, now=now, catalog=catalog, horizon_days=3, plan_ids=plan_ids)
    engine.dispose()
    return phones


def test_daemon_texts_a_due_dose_and_a_signed_reply_marks_it_taken(world: World) -> None:
    [phone] = enrol_due_now(world.db_url, 1)
    daemon = world.daemon().start()
    [msg] = wait_for(lambda: world.fake.sent_to(phone), 20, "the reminder")
    assert msg["from"] == "+12025550100"
    assert "Aubagio" not in msg["body"] and "teriflunomide" not in msg["body"]  # discreet
    callback = msg["status_callback"]
    assert callback.startswith(f"{daemon.base}/webhooks/twilio/status?outbox=")
    assert 0 < int(msg["validity_period"]) <= 12 * 3600
    status, body = world.post_signed(
        daemon,
        "/webhooks/twilio/sms",
        {"MessageSid": "SMreply1", "From": phone, "Body": " t! ", "To": "+12025550100"},
    )
    assert status == 200 and "<Message>Thanks, recorded.</Message>" in body
    doses = world.doses("e2e-0-1000")
    assert doses[0]["status"] == "taken" and doses[0]["confirmed_via"] == "sms"
    # A delivery status callback moves the message forward, never back: at the URL the
    # message was sent with (naming its row), and at the plain one older texts carry.
    for path, st in (
        (callback.removeprefix(daemon.base), "delivered"),
        ("/webhooks/twilio/status", "sent"),
    ):
        code, _ = world.post_signed(daemon, path, {"MessageSid": msg["sid"], "MessageStatus": st})
        assert code == 204
    engine = make_engine(world.db_url)
    with Session(engine) as s:
        row = s.exec(select(OutboxMessage).where(OutboxMessage.provider_id == msg["sid"])).one()
        assert row.status == "delivered"
        assert callback == f"{daemon.base}/webhooks/twilio/status?outbox={row.id}"
    engine.dispose()
    with urlopen(daemon.base + "/healthz", timeout=5) as r:
        health = json.load(r)
    # The e2e clinic has no coordinator: running, but its urgent flags would reach nobody.
    assert health["status"] == "degraded" and health["database"] and health["scheduler"]
    assert len(health["teams_without_coordinator"]) == 1
    assert 0 <= health["last_tick_age_seconds"] < 10
    with urlopen(daemon.base + "/metrics", timeout=5) as r:
        metrics = r.read().decode()
    assert 'adherence_replies_total{intent="taken"} 1.0' in metrics
    # Labelled with what the message was for (the channel is always SMS here).
    assert 'adherence_messages_sent_total{purpose="reminder"} 1.0' in metrics
    assert 'purpose="sms"' not in metrics
    assert "adherence_send_latency_seconds_count 1.0" in metrics
    assert phone not in metrics  # no phone numbers in metrics
    assert daemon.terminate() == 0  # SIGTERM: a clean exit
    log = daemon.log.read_text()
    assert phone not in log and "medication" not in log  # no numbers or bodies in the log


def test_forged_signature_is_refused_and_changes_nothing(world: World) -> None:
    [phone] = enrol_due_now(world.db_url, 1)
    daemon = world.daemon().start()
    wait_for(lambda: world.fake.sent_to(phone), 20, "the reminder")
    params = {"MessageSid": "SMforged", "From": phone, "Body": "T"}
    status, _ = world.post_signed(daemon, "/webhooks/twilio/sms", params, signature="Zm9yZ2Vk")
    assert status == 403
    status, _ = world.post_signed(
        daemon,
        "/webhooks/twilio/status",
        {"MessageSid": "x", "MessageStatus": "failed"},
        signature="",
    )
    assert status == 403
    assert world.doses("e2e-0-1000")[0]["status"] == "reminded"


def test_replayed_webhook_is_recorded_once(world: World) -> None:
    [phone] = enrol_due_now(world.db_url, 1)
    daemon = world.daemon().start()
    wait_for(lambda: world.fake.sent_to(phone), 20, "the reminder")
    params = {"MessageSid": "SMreplay", "From": phone, "Body": "TAKEN"}
    first = world.post_signed(daemon, "/webhooks/twilio/sms", params)
    again = world.post_signed(
        daemon, "/webhooks/twilio/sms", params, headers={"I-Twilio-Idempotency-Token": "retry-1"}
    )
    assert first[0] == again[0] == 200
    assert "<Message>" in first[1] and "<Message>" not in again[1]
    engine = make_engine(world.db_url)
    with Session(engine) as s:
        assert len(s.exec(select(InboundMessage)).all()) == 1
    engine.dispose()


def test_stop_opts_the_patient_out_and_no_more_texts_go(world: World) -> None:
    [phone] = enrol_due_now(world.db_url, 1)
    daemon = world.daemon(nudges=2, nudge_every_minutes=1).start()
    wait_for(lambda: world.fake.sent_to(phone), 20, "the reminder")
    status, body = world.post_signed(
        daemon, "/webhooks/twilio/sms", {"MessageSid": "SMstop", "From": phone, "Body": "STOP"}
    )
    assert status == 200 and "<Message>" not in body  # the carrier answers STOP itself
    engine = make_engine(world.db_url)
    with Session(engine) as s:
        patient = s.exec(select(Patient).where(Patient.phone == phone)).one()
        assert patient.sms_status == "opted_out"
        events = s.exec(select(RuleEvent).where(RuleEvent.patient_id == patient.id)).all()
        assert [e.type for e in events] == ["opted_out"]  # the care team is told
    engine.dispose()
    sent = len(world.fake.sent_to(phone))
    import time

    time.sleep(70)  # a nudge would be due after a minute
    assert len(world.fake.sent_to(phone)) == sent


def test_restart_after_kill_9_mid_batch_sends_every_reminder_exactly_once(world: World) -> None:
    phones = enrol_due_now(world.db_url, 24)
    world.fake.latency = 0.4  # slow provider: the batch is in flight when we kill
    daemon = world.daemon().start()
    wait_for(lambda: len(world.fake.messages) >= 3, 30, "a few sends")
    daemon.kill9()
    world.fake.latency = 0.0
    world.daemon().start()
    wait_for(lambda: all(world.fake.sent_to(p) for p in phones), 60, "every reminder")
    import time

    time.sleep(3)  # let any (wrong) duplicate show up
    counts = {p: len(world.fake.sent_to(p)) for p in phones}
    assert set(counts.values()) == {1}, counts


def test_429_5xx_and_timeouts_are_retried_or_reconciled_never_doubled(world: World) -> None:
    phones = enrol_due_now(world.db_url, 6)
    world.fake.fail_next = ["429", "500", "timeout_after_create", "503", "drop"]
    world.daemon().start()
    wait_for(lambda: all(world.fake.sent_to(p) for p in phones), 90, "every reminder")
    import time

    time.sleep(3)
    counts = {p: len(world.fake.sent_to(p)) for p in phones}
    assert set(counts.values()) == {1}, counts


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite runs one daemon
def test_two_daemons_on_postgresql_send_each_reminder_once(world: World) -> None:
    assert world.db_url.startswith("postgresql")
    phones = enrol_due_now(world.db_url, 40)
    world.fake.latency = 0.05
    world.daemon().start()
    world.daemon().start()
    wait_for(lambda: all(world.fake.sent_to(p) for p in phones), 60, "every reminder")
    import time

    time.sleep(3)
    counts = {p: len(world.fake.sent_to(p)) for p in phones}
    assert set(counts.values()) == {1}, counts
