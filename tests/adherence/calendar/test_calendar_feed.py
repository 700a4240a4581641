"""The subscribed feed over real HTTP (the ASGI app) on SQLite and PostgreSQL, read back with
three independent iCalendar parsers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import Engine
from sqlmodel import Session, select

from adherence.calendar.feed import (
    CalendarError,
    issue_patient_token,
    issue_team_token,
    offer_feed_link,
    rotate,
    token_hash,
)
from adherence.core.config import settings_from_mapping
from adherence.dosing.confirm import confirm
from adherence.dosing.materialize import materialize
from adherence.patients.enrollment import update_patient
from adherence.storage.models import Appointment, OutboxMessage, Patient
from schedules import Catalog
from tests.adherence.calendar_helpers import (
    Client,
    Clock,
    app_for,
    events_by_uid,
    serve,
    three_ways,
)
from tests.adherence.engine_helpers import at, doses, drive, enroll

NY = "America/New_York"


Serve = Callable[..., Client]


@pytest.fixture
def http(engine: Engine, session: Session, catalog: Catalog) -> Iterator[Serve]:
    """``http(clock, calendar={...})``: the app on loopback, stopped after the test."""
    with ExitStack() as stack:

        def start(clock: Clock, *, calendar: dict[str, Any] | None = None) -> Client:
            app = app_for(engine, catalog, calendar=calendar)
            return stack.enter_context(serve(app, clock, session.commit))

        yield start


def _feed(client: Client, token: str, **headers: str) -> requests.Response:
    return client.get(f"/calendar/{token}.ics", headers=headers)


def _appointment(
    session: Session,
    *,
    patient: Patient,
    plan_id: int | None,
    when: datetime,
    n: int = 1,
    **kw: Any,
) -> Appointment:
    assert plan_id is not None and patient.id is not None
    row = Appointment(
        uid=f"appt-{patient.id}-{n}@care.example.org",
        plan_id=plan_id,
        patient_id=patient.id,
        at=when,
        duration_minutes=240,
        created_at=when - timedelta(days=30),
        updated_at=when - timedelta(days=30),
        **kw,
    )
    session.add(row)
    session.commit()
    return row


@pytest.mark.parametrize(
    ("zone", "start", "times", "now", "wall"),
    [
        # New York springs forward on Sun 8 Mar 2026 (02:00 -> 03:00).
        (
            NY,
            date(2026, 3, 5),
            ["08:00", "20:00"],
            datetime(2026, 3, 6, 12, tzinfo=UTC),
            ["08:00", "20:00"],
        ),
        # Sydney springs forward on Sun 4 Oct 2026; 02:30 does not exist that day.
        (
            "Australia/Sydney",
            date(2026, 10, 1),
            ["02:30", "20:00"],
            datetime(2026, 10, 1, 0, tzinfo=UTC),
            ["02:30", "03:30", "20:00"],  # 03:30 on Sunday 4 October only
        ),
    ],
)
def test_dst_week_reads_the_same_in_three_parsers_and_matches_the_doses(
    http: Serve,
    session: Session,
    catalog: Catalog,
    zone: str,
    start: date,
    times: list[str],
    now: datetime,
    wall: list[str],
) -> None:
    e = enroll(session, catalog, "dimethyl-fumarate", start, now=now, times=times, tz=zone)
    materialize(session, now=now, catalog=catalog, horizon_days=14)
    token = issue_patient_token(session, e.patient, now=now)
    client = http(Clock(now), calendar={"past_days": 7, "future_days": 10})

    r = _feed(client, token)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/calendar; charset=utf-8"
    seen = three_ways(r.content)
    tz = ZoneInfo(zone)
    last = now.astimezone(tz).date() + timedelta(days=10)
    expected = [d for d in doses(session, e.plan) if d.due_at.astimezone(tz).date() <= last]
    assert len(expected) >= 20
    assert sorted((s.uid, s.start) for s in seen) == sorted(
        (f"dose-{d.id}@care.example.org", d.due_at) for d in expected
    )
    offsets = {s.start.astimezone(tz).utcoffset() for s in seen}  # type: ignore[union-attr]
    assert len(offsets) == 2, "the week crosses a DST change"
    body = r.content.decode()
    assert f"TZID={zone}:" in body and f"TZID:{zone}" in body
    assert "BEGIN:VTIMEZONE" in body and "REFRESH-INTERVAL;VALUE=DURATION:PT12H" in body
    assert "X-PUBLISHED-TTL:PT12H" in body and "METHOD:PUBLISH" in body
    # Wall-clock times survive the change (the nonexistent 02:30 moves on by the gap).
    local = sorted({s.start.astimezone(tz).strftime("%H:%M") for s in seen})  # type: ignore[union-attr]
    assert local == sorted(wall)


def test_zone_change_rerenders_every_event_in_the_new_zone(
    http: Serve, session: Session, catalog: Catalog
) -> None:
    now = datetime(2026, 5, 4, 12, tzinfo=UTC)
    e = enroll(session, catalog, "teriflunomide", date(2026, 5, 1), now=now, times=["09:00"])
    materialize(session, now=now, catalog=catalog, horizon_days=10)
    token = issue_patient_token(session, e.patient, now=now)
    clock = Clock(now)
    client = http(clock)
    before = _feed(client, token)
    assert "TZID=America/New_York" in before.text

    clock.now = now + timedelta(minutes=5)
    update_patient(session, patient=e.patient, tz="Europe/Berlin", now=clock.now)
    after = _feed(client, token)
    assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]
    assert "America/New_York" not in after.text
    assert "TZID=Europe/Berlin:" in after.text and "TZID:Europe/Berlin" in after.text
    seen = three_ways(after.content)
    by_uid = {f"dose-{d.id}@care.example.org": d for d in doses(session, e.plan)}
    for s in seen:
        assert s.start == by_uid[s.uid].due_at  # the instant the engine holds, whatever it is


def test_rotation_old_url_answers_like_one_never_issued(
    http: Serve, session: Session, catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    now = datetime(2026, 5, 4, 12, tzinfo=UTC)
    e = enroll(session, catalog, "teriflunomide", date(2026, 5, 1), now=now)
    first = issue_patient_token(session, e.patient, now=now)
    assert len(first) >= 43  # 256 bits, base64url
    stored = session.get(Patient, e.patient.id)
    assert stored is not None and stored.calendar_token_hash == token_hash(first)
    assert first not in (stored.calendar_token_hash or "")
    with pytest.raises(CalendarError, match="rotate"):
        issue_patient_token(session, e.patient, now=now)
    client = http(Clock(now))
    assert _feed(client, first).status_code == 200

    second = rotate(session, e.patient, now=now)
    old, new = _feed(client, first), _feed(client, second)
    never, junk = _feed(client, "x" * 43), _feed(client, "y" * 5000)
    assert new.status_code == 200
    assert {old.status_code, never.status_code, junk.status_code} == {404}
    assert old.content == never.content == junk.content
    assert old.headers["content-type"] == never.headers["content-type"]
    assert "etag" not in old.headers
    # The server side at any level, and anything at INFO (the test's own HTTP client,
    # urllib3, logs URLs at DEBUG: that is the caller, not the service).
    logged = "\n".join(
        r.getMessage()
        for r in caplog.records
        if r.name.startswith(("adherence", "uvicorn", "fastapi")) or r.levelno >= logging.INFO
    )
    assert "calendar feed" in logged
    assert first not in logged and second not in logged and e.patient.name not in logged


def test_304_on_if_none_match_and_if_modified_since_and_head(
    http: Serve, session: Session, catalog: Catalog
) -> None:
    now = datetime(2026, 5, 4, 12, tzinfo=UTC)
    e = enroll(session, catalog, "teriflunomide", date(2026, 5, 1), now=now, times=["09:00"])
    materialize(session, now=now, catalog=catalog, horizon_days=10)
    token = issue_patient_token(session, e.patient, now=now)
    clock = Clock(now)
    client = http(clock)
    r = _feed(client, token)
    etag, modified = r.headers["etag"], r.headers["last-modified"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert r.headers["cache-control"].startswith("private, max-age=")

    again = _feed(client, token, **{"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert _feed(client, token, **{"If-Modified-Since": modified}).status_code == 304
    earlier = format_datetime(datetime(2020, 1, 1, tzinfo=UTC), usegmt=True)
    assert _feed(client, token, **{"If-Modified-Since": earlier}).status_code == 200
    # If-None-Match wins over a date that alone would have matched.
    both = {"If-None-Match": '"other"', "If-Modified-Since": modified}
    assert _feed(client, token, **both).status_code == 200

    head = client.head(f"/calendar/{token}.ics")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == etag
    assert int(head.headers["content-length"]) == len(r.content)

    # A dose answered: new bytes, new ETag, the old one no longer matches.
    clock.now = now + timedelta(minutes=1)
    first = doses(session, e.plan)[0]
    confirm(
        session,
        catalog=catalog,
        dose=first,
        status="taken",
        at=clock.now,
        now=clock.now,
        via="sms",
    )
    changed = _feed(client, token, **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert _feed(client, token).content == changed.content  # deterministic


def test_line_injection_in_user_text_stays_one_property(
    http: Serve, session: Session, catalog: Catalog
) -> None:
    now = datetime(2026, 5, 4, 12, tzinfo=UTC)
    e = enroll(
        session, catalog, "ocrelizumab", date(2026, 5, 1), now=now, external_id="MS-1\r\nX-EVIL:1"
    )
    materialize(session, now=now, catalog=catalog, horizon_days=30)
    evil = "Room 4\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:evil\r\nSUMMARY:pwned;x,y\\"
    when = datetime(2026, 5, 20, 13, tzinfo=UTC)
    appt = _appointment(session, patient=e.patient, plan_id=e.plan.id, when=when, location=evil)
    token = issue_patient_token(session, e.patient, now=now)
    team_token = issue_team_token(session, e.team, now=now)
    client = http(Clock(now))
    for body in (
        _feed(client, token).content,
        client.get(f"/calendar/team/{team_token}.ics").content,
    ):
        lines = body.decode().split("\r\n")
        assert not any(line.startswith(("UID:evil", "SUMMARY:pwned", "X-EVIL")) for line in lines)
        seen = three_ways(body)
        assert "evil" not in {s.uid for s in seen}
        assert appt.uid in {s.uid for s in seen}
        ev = events_by_uid(body)[appt.uid]
        assert str(ev["LOCATION"]) == evil.replace("\r\n", "\n")
    team_summary = str(events_by_uid(body)[appt.uid]["SUMMARY"])
    assert team_summary.endswith("MS-1\nX-EVIL:1")


def test_titles_are_discreet_unless_the_patient_opted_in(
    http: Serve, session: Session, catalog: Catalog
) -> None:
    now = datetime(2026, 5, 4, 12, tzinfo=UTC)
    quiet = enroll(session, catalog, "dimethyl-fumarate", date(2026, 5, 1), now=now)
    named = enroll(
        session,
        catalog,
        "dimethyl-fumarate",
        date(2026, 5, 1),
        now=now,
        team=quiet.team,
        n=1,
        discreet=False,
    )
    materialize(session, now=now, catalog=catalog, horizon_days=10)
    client = http(Clock(now))
    q = _feed(client, issue_patient_token(session, quiet.patient, now=now))
    n = _feed(client, issue_patient_token(session, named.patient, now=now))
    assert "Tecfidera" not in q.text and "fumarate" not in q.text.lower()
    assert {s.summary for s in three_ways(q.content)} == {"Medication"}
    summaries = {s.summary for s in three_ways(n.content)}
    assert summaries and all(s.startswith("Tecfidera ") and s.endswith(" mg") for s in summaries)


def test_past_doses_show_their_status_and_sequence_goes_up_when_they_change(
    http: Serve, session: Session, catalog: Catalog
) -> None:
    start = at(2026, 5, 1)
    e = enroll(session, catalog, "teriflunomide", date(2026, 5, 1), now=start, times=["09:00"])
    # Day 1 taken, day 2 no answer (missed), day 3 taken.
    drive(
        session, catalog, start=start, until=at(2026, 5, 4, 8), take=lambda d: d.local_date.day != 2
    )
    now = at(2026, 5, 4, 8)
    token = issue_patient_token(session, e.patient, now=now)
    clock = Clock(now)
    client = http(clock)
    ds = doses(session, e.plan)
    uid = {d.local_date.day: f"dose-{d.id}@care.example.org" for d in ds}
    events = events_by_uid(_feed(client, token).content)
    assert str(events[uid[1]]["SUMMARY"]) == "Medication — taken"
    assert str(events[uid[2]]["SUMMARY"]) == "Medication — missed"
    assert str(events[uid[5]]["SUMMARY"]) == "Medication"
    assert "Taken at" in str(events[uid[1]]["DESCRIPTION"])
    seq = {day: int(events[uid[day]]["SEQUENCE"]) for day in (1, 2, 5)}
    assert seq[5] < seq[2] < seq[1]

    # A late "taken" by SMS, then a clinic correction: each bumps SEQUENCE and DTSTAMP moves.
    missed = next(d for d in ds if d.local_date.day == 2)
    clock.now = now + timedelta(minutes=1)
    confirm(
        session,
        catalog=catalog,
        dose=missed,
        status="taken",
        at=clock.now,
        now=clock.now,
        via="phone",
        by="nurse",
    )
    late = events_by_uid(_feed(client, token).content)[uid[2]]
    assert int(late["SEQUENCE"]) > seq[2] and str(late["SUMMARY"]) == "Medication — taken"
    clock.now += timedelta(minutes=1)
    confirm(
        session,
        catalog=catalog,
        dose=missed,
        status="skipped",
        at=clock.now,
        now=clock.now,
        via="clinic",
        by="nurse",
    )
    fixed = events_by_uid(_feed(client, token).content)[uid[2]]
    assert int(fixed["SEQUENCE"]) > int(late["SEQUENCE"])
    assert fixed.decoded("DTSTAMP") > late.decoded("DTSTAMP")


def test_appointments_replace_the_window_move_with_sequence_and_vanish_when_cancelled(
    http: Serve, session: Session, catalog: Catalog
) -> None:
    now = datetime(2026, 5, 4, 12, tzinfo=UTC)
    e = enroll(session, catalog, "ocrelizumab", date(2026, 5, 1), now=now)
    materialize(session, now=now, catalog=catalog, horizon_days=30)
    infusion = next(d for d in doses(session, e.plan) if d.kind == "infusion" and d.due_at > now)
    token = issue_patient_token(session, e.patient, now=now)
    clock = Clock(now)
    client = http(clock, calendar={"alarm_minutes": 60})
    window = events_by_uid(_feed(client, token).content)[f"infusion-{infusion.id}@care.example.org"]
    assert str(window["SUMMARY"]) == "Clinic appointment"
    assert window.decoded("DTSTART") == (infusion.earliest or infusion.local_date)

    appt = _appointment(
        session, patient=e.patient, plan_id=e.plan.id, when=infusion.due_at, dose_id=infusion.id
    )
    booked = _feed(client, token).content
    seen = {s.uid: s for s in three_ways(booked)}
    assert appt.uid in seen and f"infusion-{infusion.id}@care.example.org" not in seen
    assert seen[appt.uid].start == infusion.due_at
    ev = events_by_uid(booked)[appt.uid]
    assert int(ev["SEQUENCE"]) == 0 and str(ev["TRANSP"]) == "OPAQUE"
    assert ev.walk("VALARM"), "an alarm when [calendar] alarm_minutes is set"

    clock.now += timedelta(minutes=2)
    appt.at, appt.sequence, appt.updated_at = appt.at + timedelta(days=1), 1, clock.now
    session.add(appt)
    session.commit()
    moved = events_by_uid(_feed(client, token).content)[appt.uid]
    assert int(moved["SEQUENCE"]) == 1
    assert moved.decoded("DTSTART") == infusion.due_at + timedelta(days=1)

    clock.now += timedelta(minutes=2)
    appt.status, appt.updated_at = "cancelled", clock.now
    session.add(appt)
    session.commit()
    uids = {s.uid for s in three_ways(_feed(client, token).content)}
    assert appt.uid not in uids and f"infusion-{infusion.id}@care.example.org" in uids


def test_team_feed_shows_only_its_own_patients_infusions(
    http: Serve, session: Session, catalog: Catalog
) -> None:
    now = datetime(2026, 5, 4, 12, tzinfo=UTC)
    a = enroll(session, catalog, "ocrelizumab", date(2026, 5, 1), now=now, external_id="A-1")
    oral = enroll(session, catalog, "teriflunomide", date(2026, 5, 1), now=now, team=a.team, n=2)
    from adherence.patients.enrollment import create_team

    other = create_team(session, name="Hillside", tz="America/Chicago", now=now)
    b = enroll(
        session,
        catalog,
        "ocrelizumab",
        date(2026, 5, 1),
        now=now,
        team=other,
        n=1,
        external_id="B-1",
    )
    materialize(session, now=now, catalog=catalog, horizon_days=30)
    when = datetime(2026, 5, 20, 13, tzinfo=UTC)
    appt_a = _appointment(session, patient=a.patient, plan_id=a.plan.id, when=when)
    appt_b = _appointment(session, patient=b.patient, plan_id=b.plan.id, when=when)
    token = issue_team_token(session, a.team, now=now)
    client = http(Clock(now))
    r = client.get(f"/calendar/team/{token}.ics")
    assert r.status_code == 200
    seen = three_ways(r.content)
    uids = {s.uid for s in seen}
    assert appt_a.uid in uids and appt_b.uid not in uids
    assert all("A-1" in s.summary for s in seen) and "B-1" not in r.text
    assert not any(d.id and f"dose-{d.id}@" in r.text for d in doses(session, oral.plan))
    assert "Patient 0" not in r.text  # never the patient's name
    assert "Your care team will book" not in r.text  # that note is for the patient
    # A patient token does not open the team feed, nor the other way round.
    ptoken = issue_patient_token(session, a.patient, now=now)
    assert client.get(f"/calendar/team/{ptoken}.ics").status_code == 404
    assert _feed(client, token).status_code == 404
    assert client.head(f"/calendar/team/{token}.ics").headers["etag"] == r.headers["etag"]


def test_feed_link_is_texted_at_enrollment_only_when_configured(
    session: Session, catalog: Catalog
) -> None:
    now = datetime(2026, 5, 4, 12, tzinfo=UTC)
    e = enroll(session, catalog, "teriflunomide", date(2026, 5, 1), now=now)
    off = settings_from_mapping({})
    assert offer_feed_link(session, e.patient, now, off) is None
    on = settings_from_mapping(
        {
            "calendar": {"text_link_at_enrollment": True},
            "http": {"public_base_url": "https://c.example"},
        }
    )
    url = offer_feed_link(session, e.patient, now, on)
    assert url is not None and url.startswith("https://c.example/calendar/")
    sent = session.exec(select(OutboxMessage).where(OutboxMessage.purpose == "calendar_link")).all()
    assert len(sent) == 1 and url in sent[0].body and sent[0].to == e.patient.phone
    assert "Aubagio" not in sent[0].body and "teriflunomide" not in sent[0].body
    # Never a second link that would break the first subscription.
    assert offer_feed_link(session, e.patient, now, on) is None
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    stored = session.get(Patient, e.patient.id)
    assert stored is not None and stored.calendar_token_hash == token_hash(token)
