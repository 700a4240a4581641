"""Who is told about flags, how and when, on SQLite and PostgreSQL: urgent flags at once by
SMS and e-mail (through a real SMTP server on loopback), the daily digest at each
coordinator's local time, the family caregiver only with the patient's consent."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from adherence.care.flags import raise_flag
from adherence.care.step import care_step
from adherence.messaging.mail import deliver_email
from adherence.messaging.outbox import deliver
from adherence.storage.models import Coordinator, Flag, OutboxMessage
from notifiers.email import SmtpEmail
from notifiers.sms import MemorySms
from schedules import Catalog
from tests.adherence.care.test_flags import DEFAULTS, reply, restarted
from tests.adherence.engine_helpers import Enrolled, at, enroll
from tests.fakes.smtp_server import smtp_server

LONDON = ZoneInfo("Europe/London")
DRUG_NAMES = ("teriflunomide", "aubagio")


def coordinator(session: Session, team_id: int, name: str, now: datetime, **kw: Any) -> Coordinator:
    c = Coordinator(team_id=team_id, name=name, created_at=now, **kw)
    session.add(c)
    session.commit()
    return c


def messages(session: Session, purpose: str) -> list[OutboxMessage]:
    session.expire_all()
    return list(
        session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.purpose == purpose)
            .order_by(col(OutboxMessage.id))
        ).all()
    )


def care(session: Session, catalog: Catalog, now: datetime) -> datetime | None:
    return care_step(session, now=now, catalog=catalog, settings=DEFAULTS, full=False)


def _patient(
    session: Session, catalog: Catalog, now: datetime, n: int, team: object = None, **kw: object
) -> Enrolled:
    return enroll(
        session, catalog, "teriflunomide", date(2026, 3, 1), now=now, times=["09:00"],
        team=team, n=n, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_urgent_flare_reaches_coordinators_and_consenting_caregiver_at_once(
    session: Session, catalog: Catalog, db_url: str
) -> None:
    now = at(2026, 3, 2, 14)
    ann = _patient(
        session,
        catalog,
        now,
        0,
        caregiver_name="Ben",
        caregiver_phone="+12025550199",
        caregiver_email="ben@example.org",
        caregiver_consent=True,
    )
    bob = _patient(session, catalog, now, 1, team=ann.team, caregiver_phone="+12025550198")
    team_id = ann.team.id or 0
    coordinator(
        session, team_id, "Kim", now, phone="+12025550180", email="kim@clinic.example",
        notify_sms=True, notify_email=True,
    )  # fmt: skip
    coordinator(session, team_id, "Gone", now, email="gone@clinic.example", active=False)
    coordinator(session, team_id, "Revoked", now, email="rev@clinic.example", revoked_at=now)
    assert ann.patient.caregiver_consent_at is not None
    assert bob.patient.caregiver_consent_at is None

    reply(session, catalog, ann.patient, "FLARE", now)
    reply(session, catalog, bob.patient, "flare", now)  # no consent: no caregiver message
    care(session, catalog, now + timedelta(seconds=5))

    sent = messages(session, "flag")
    got = sorted((m.channel, m.to) for m in sent)
    assert got == sorted(
        [
            ("sms", "+12025550180"),
            ("sms", "+12025550180"),
            ("email", "kim@clinic.example"),
            ("email", "kim@clinic.example"),
            ("sms", "+12025550199"),
            ("email", "ben@example.org"),
        ]
    )
    assert all(m.patient_id is None for m in sent)  # a coordinator's phone is not a patient's

    sms = MemorySms()
    with smtp_server() as (server, inbox):
        channel = SmtpEmail(host="127.0.0.1", port=server.port, security="none")
        assert deliver_email(session, now=now + timedelta(seconds=6), channel=channel) == 3
        inbox.wait_for(3)
        assert deliver(session, now=now + timedelta(seconds=6), channel=sms) == 3
        mails = {r.rcpt_tos[0]: r.message for r in inbox.received}
        to_kim = [r.message for r in inbox.received if r.rcpt_tos == ["kim@clinic.example"]]

    # Coordinator texts: ids only, no patient, no drug.
    for text in (m.body for m in sms.sent if m.to == "+12025550180"):
        assert "urgent flag (#" in text
        assert "Patient 0" not in text and "Patient 1" not in text
        assert not any(d in text.lower() for d in DRUG_NAMES)
    # Coordinator e-mail: the patient's name and the rule, never the drug.
    bodies = sorted(m.get_content() for m in to_kim)
    assert any("Patient 0" in b for b in bodies) and any("Patient 1" in b for b in bodies)
    assert all("patient reported a flare" in b for b in bodies)
    assert not any(d in b.lower() for b in bodies for d in DRUG_NAMES)
    # Caregiver: discreet (no rule, no diagnosis, no drug), names the clinic.
    (care_text,) = [m.body for m in sms.sent if m.to == "+12025550199"]
    care_mail = mails["ben@example.org"].get_content()
    for text in (care_text, care_mail):
        assert ann.team.name in text and "Patient" in text
        own = text.replace(ann.team.name, "").lower()  # the clinic's name is its own choice
        assert not any(w in own for w in ("flare", "ms ", "sclerosis", *DRUG_NAMES))
    assert "+12025550198" not in [m.to for m in sms.sent]

    # Idempotent: later ticks and a restarted process send nothing more ...
    care(session, catalog, now + timedelta(minutes=1))
    with restarted(session, db_url) as fresh:
        care(fresh, catalog, now + timedelta(minutes=2))
    assert len(messages(session, "flag")) == 6
    # ... until the flare recurs: a second occurrence is told again.
    reply(session, catalog, ann.patient, "flare", now + timedelta(hours=1))
    care(session, catalog, now + timedelta(hours=1, seconds=5))
    again = messages(session, "flag")[6:]
    assert len(again) == 4 and all(":2:" in m.key for m in again)
    kinds = {json.loads(m.body)["subject"] for m in again if m.channel == "email"}
    assert any("Urgent flag" in s for s in kinds)


def test_each_coordinator_gets_the_digest_at_their_own_8am_once(
    session: Session, catalog: Catalog, db_url: str
) -> None:
    t = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # 2 March 00:00 UTC = 1 March 19:00 in New York
    ann = _patient(session, catalog, t, 0)
    team_id = ann.team.id or 0
    ny = coordinator(session, team_id, "NY", t, email="ny@clinic.example")  # team's zone
    uk = coordinator(
        session, team_id, "UK", t, email="uk@clinic.example", phone="+12025550181",
        notify_sms=True, tz="Europe/London",
    )  # fmt: skip
    assert ann.patient.id is not None
    flag = raise_flag(
        session, team_id=team_id, patient_id=ann.patient.id, plan_id=ann.plan.id,
        rule="missed_doses", now=t, details={"missed_in_a_row": 2}, occurrence="run-1",
    )  # fmt: skip
    session.commit()

    # Tick every 20 minutes for a day and a half; note when each digest row was written.
    wake_ups = []
    now = t
    while now < t + timedelta(hours=36):
        wake_ups.append(care(session, catalog, now))
        now += timedelta(minutes=20)
    digests = messages(session, "digest")

    first = {
        (m.to, m.channel): m.created_at for m in digests
    }  # one row per coordinator and channel
    assert len(digests) == len(first) == 3
    uk_8am = datetime(2026, 3, 2, 8, 0, tzinfo=LONDON)
    ny_8am = at(2026, 3, 2, 8)
    assert first[("uk@clinic.example", "email")] == uk_8am
    assert first[("+12025550181", "sms")] == uk_8am
    assert first[("ny@clinic.example", "email")] == ny_8am
    assert {m.key for m in digests} == {
        f"digest:{uk.id}:2026-03-02:email",
        f"digest:{uk.id}:2026-03-02:sms",
        f"digest:{ny.id}:2026-03-02:email",
    }
    # The step says when it must run next: the earliest coming digest.
    assert wake_ups[0] == uk_8am
    # Last tick 3 March 11:40 UTC: London's 08:00 has passed, New York's is next.
    assert wake_ups[-1] == at(2026, 3, 3, 8)

    with smtp_server() as (server, inbox):
        channel = SmtpEmail(host="127.0.0.1", port=server.port, security="none")
        deliver_email(session, now=t + timedelta(hours=36), channel=channel)
        inbox.wait_for(2)
        texts = {r.rcpt_tos[0]: r.message.get_content() for r in inbox.received}
    for text in texts.values():
        assert f"#{flag.id}" in text and "Patient 0" in text
        assert "consecutive doses missed" in text
        assert not any(d in text.lower() for d in DRUG_NAMES)
    sms = MemorySms()
    deliver(session, now=uk_8am + timedelta(minutes=1), channel=sms)
    (uk_text,) = [m.body for m in sms.sent]
    assert f"#{flag.id}" in uk_text and "Patient 0" not in uk_text

    # The next day lists only what is new since the last digest.
    later = raise_flag(
        session, team_id=team_id, patient_id=ann.patient.id, plan_id=None,
        rule="silence", now=t + timedelta(hours=40), occurrence="since:never",
    )  # fmt: skip
    session.commit()
    with restarted(session, db_url) as fresh:
        care(fresh, catalog, datetime(2026, 3, 4, 8, 1, tzinfo=LONDON))
    (uk_next,) = [
        m for m in messages(session, "digest")
        if m.key == f"digest:{uk.id}:2026-03-04:email"
    ]  # fmt: skip
    body = json.loads(uk_next.body)["text"]
    assert f"#{later.id}" in body and f"#{flag.id} " not in body
    notified = session.get(Flag, flag.id)
    assert notified is not None and notified.notified_at == uk_8am


def test_a_quiet_day_sends_no_digest_and_a_revoked_coordinator_gets_none(
    session: Session, catalog: Catalog
) -> None:
    t = at(2026, 3, 2, 7)
    ann = _patient(session, catalog, t, 0)
    team_id = ann.team.id or 0
    coordinator(session, team_id, "NY", t, email="ny@clinic.example")
    coordinator(session, team_id, "Old", t, email="old@clinic.example", revoked_at=t)
    care(session, catalog, at(2026, 3, 2, 8, 5))
    assert messages(session, "digest") == []
    assert ann.patient.id is not None
    raise_flag(
        session, team_id=team_id, patient_id=ann.patient.id, plan_id=ann.plan.id,
        rule="low_pdc", now=at(2026, 3, 2, 9), occurrence="from:x",
    )  # fmt: skip
    session.commit()
    care(session, catalog, at(2026, 3, 3, 8, 0))
    assert [m.to for m in messages(session, "digest")] == ["ny@clinic.example"]
