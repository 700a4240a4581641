"""Appointment invitations end to end: booked, moved and cancelled appointments reach a real
SMTP server on loopback (aiosmtpd) as iTIP e-mails, read back the way a mail client would."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
from sqlmodel import Session, select

from adherence.calendar.appointments import book, cancel, move
from adherence.core.config import Settings, settings_from_mapping
from adherence.messaging.mail import deliver_email
from adherence.storage.models import Appointment, OutboxMessage
from notifiers.email import SmtpEmail
from schedules import Catalog
from tests.adherence.engine_helpers import at, enroll
from tests.fakes.smtp_server import Received, smtp_server

FROM = "clinic-invites@riverside.example"
SETTINGS: Settings = settings_from_mapping({"smtp": {"from_address": FROM}})
LA = ZoneInfo("America/Los_Angeles")


def _ics(received: Received) -> icalendar.Calendar:
    part = received.part("text/calendar")
    assert part is not None, "no text/calendar part"
    assert part.get_param("method") in ("REQUEST", "CANCEL")
    cal = icalendar.Calendar.from_ical(part.get_content())
    assert cal["METHOD"] == part.get_param("method")  # the MIME method matches the object
    return cal


def _event(cal: icalendar.Calendar) -> icalendar.Event:
    events = cal.walk("VEVENT")
    assert len(events) == 1 and isinstance(events[0], icalendar.Event)
    return events[0]


def test_book_move_cancel_reach_the_patient_as_one_calendar_event(
    session: Session, catalog: Catalog, t0: datetime
) -> None:
    e = enroll(
        session,
        catalog,
        "natalizumab",
        date(2026, 3, 2),
        now=t0,
        tz="America/Los_Angeles",
        email="ann@example.org",
        invites=True,
    )
    booked_at = at(2026, 3, 3, 9, 30, zone=LA)
    moved_at = at(2026, 3, 5, 13, 0, zone=LA)
    with smtp_server() as (server, inbox):
        mailer = SmtpEmail(host="127.0.0.1", port=server.port, security="none", from_address=FROM)
        appt = book(
            session,
            plan=e.plan,
            at=booked_at,
            location="Infusion suite, 2nd floor",
            now=t0,
            catalog=catalog,
            settings=SETTINGS,
            by="nurse",
        )
        assert deliver_email(session, now=t0, channel=mailer) == 1
        later = t0 + timedelta(hours=2)
        move(
            session,
            appointment=appt,
            at=moved_at,
            now=later,
            catalog=catalog,
            settings=SETTINGS,
            by="nurse",
        )
        assert deliver_email(session, now=later, channel=mailer) == 1
        latest = t0 + timedelta(hours=3)
        cancel(
            session,
            appointment=appt,
            now=latest,
            catalog=catalog,
            settings=SETTINGS,
            by="nurse",
        )
        assert deliver_email(session, now=latest, channel=mailer) == 1
        mails = inbox.wait_for(3)
    assert len(mails) == 3
    assert all(m.rcpt_tos == ["ann@example.org"] for m in mails)
    cals = [_ics(m) for m in mails]
    assert [str(c["METHOD"]) for c in cals] == ["REQUEST", "REQUEST", "CANCEL"]
    events = [_event(c) for c in cals]
    assert len({str(ev["UID"]) for ev in events}) == 1
    assert str(events[0]["UID"]) == appt.uid
    sequences = [int(ev.decoded("SEQUENCE")) for ev in events]
    assert sequences == sorted(set(sequences))  # strictly increasing
    assert events[2]["STATUS"] == "CANCELLED"
    for ev, when in zip(events, (booked_at, moved_at, moved_at), strict=True):
        start = ev.decoded("DTSTART")
        assert start == when  # the same instant ...
        assert ev["DTSTART"].params["TZID"] == "America/Los_Angeles"  # ... on the patient's clock
        assert start.astimezone(LA).strftime("%H:%M") == when.strftime("%H:%M")
        assert str(ev["ATTENDEE"]).lower() == "mailto:ann@example.org"
        assert str(ev["ORGANIZER"]).lower() == f"mailto:{FROM}"
        assert str(ev["SUMMARY"]) == "Clinic appointment"
    # Every TZID has its VTIMEZONE; the invitations carry alarms, the cancellation none.
    assert [str(tz["TZID"]) for tz in cals[0].walk("VTIMEZONE")] == ["America/Los_Angeles"]
    assert events[0]["ATTENDEE"].params["RSVP"] == "TRUE"
    assert len(events[0].walk("VALARM")) >= 1
    assert events[2].walk("VALARM") == []
    # Discreet by default: no therapy anywhere in what the patient's mailbox holds.
    for m in mails:
        raw = m.message.as_string()
        assert "Tysabri" not in raw and "natalizumab" not in raw
        assert m.message["Subject"].startswith(("Clinic appointment", "Cancelled"))
    assert "Thu 05 Mar 13:00" in mails[1].message["Subject"]


def test_named_title_when_the_patient_opted_out_of_discretion(
    session: Session, catalog: Catalog, t0: datetime
) -> None:
    e = enroll(
        session,
        catalog,
        "natalizumab",
        date(2026, 3, 2),
        now=t0,
        email="bo@example.org",
        invites=True,
        discreet=False,
    )
    with smtp_server() as (server, inbox):
        mailer = SmtpEmail(host="127.0.0.1", port=server.port, security="none", from_address=FROM)
        book(
            session,
            plan=e.plan,
            at=at(2026, 3, 3, 9, 30),
            location="",
            now=t0,
            catalog=catalog,
            settings=SETTINGS,
            by="nurse",
        )
        deliver_email(session, now=t0, channel=mailer)
        (mail,) = inbox.wait_for(1)
    assert str(_event(_ics(mail))["SUMMARY"]) == "Tysabri 300 mg infusion"


def test_no_invitation_without_an_address_or_without_opting_in(
    session: Session, catalog: Catalog, t0: datetime
) -> None:
    without_address = enroll(session, catalog, "natalizumab", date(2026, 3, 2), now=t0, n=0)
    not_opted_in = enroll(
        session,
        catalog,
        "natalizumab",
        date(2026, 3, 2),
        now=t0,
        n=1,
        team=without_address.team,
        email="cy@example.org",
    )
    with smtp_server() as (server, inbox):
        mailer = SmtpEmail(host="127.0.0.1", port=server.port, security="none", from_address=FROM)
        for e in (without_address, not_opted_in):
            appt = book(
                session,
                plan=e.plan,
                at=at(2026, 3, 3, 9, 30),
                location="",
                now=t0,
                catalog=catalog,
                settings=SETTINGS,
                by="nurse",
            )
            cancel(
                session, appointment=appt, now=t0, catalog=catalog, settings=SETTINGS, by="nurse"
            )
        assert deliver_email(session, now=t0 + timedelta(minutes=1), channel=mailer) == 0
        assert inbox.wait_for(1, timeout=0.5) == []
    assert len(session.exec(select(Appointment)).all()) == 2
    assert session.exec(select(OutboxMessage).where(OutboxMessage.channel == "email")).all() == []


def test_invitation_waits_in_the_outbox_when_the_mail_server_is_down(
    session: Session, catalog: Catalog, t0: datetime
) -> None:
    e = enroll(
        session,
        catalog,
        "natalizumab",
        date(2026, 3, 2),
        now=t0,
        email="di@example.org",
        invites=True,
    )
    book(
        session,
        plan=e.plan,
        at=at(2026, 3, 3, 9, 30),
        location="",
        now=t0,
        catalog=catalog,
        settings=SETTINGS,
        by="nurse",
    )
    # Nothing listens on this port (taken from a server that has just stopped).
    with smtp_server() as (server, _):
        port = server.port
    down = SmtpEmail(host="127.0.0.1", port=port, security="none", timeout=2)
    assert deliver_email(session, now=t0, channel=down) == 0
    row = session.exec(select(OutboxMessage).where(OutboxMessage.channel == "email")).one()
    assert row.status == "pending" and row.next_attempt_at is not None
    with smtp_server() as (server, inbox):
        up = SmtpEmail(host="127.0.0.1", port=server.port, security="none", from_address=FROM)
        retry_at = row.next_attempt_at.astimezone(UTC)
        assert deliver_email(session, now=retry_at, channel=up) == 1
        (mail,) = inbox.wait_for(1)
    assert str(_ics(mail)["METHOD"]) == "REQUEST"
