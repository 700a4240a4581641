"""The iCalendar renderer on its own: plain values in, bytes out, read back by three parsers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from notifiers.ical import CalEvent, FeedInfo, clean, feed, itip
from tests.adherence.calendar_helpers import three_ways

STAMP = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def timed(uid: str, start: datetime, **kw: object) -> CalEvent:
    return CalEvent(
        uid=uid,
        start=start,
        end=start + timedelta(minutes=15),
        summary=str(kw.pop("summary", "Medication")),
        dtstamp=STAMP,
        **kw,  # type: ignore[arg-type]
    )


def test_same_values_render_the_same_bytes_and_a_change_shows() -> None:
    zone = ZoneInfo("Europe/Berlin")
    events = [timed(f"d{i}@x", datetime(2026, 3, 28 + i, 8, tzinfo=zone)) for i in range(3)]
    info = FeedInfo(name="Therapy", zone="Europe/Berlin")
    assert feed(info, events) == feed(info, list(events))
    bumped = [events[0], events[1], timed("d2@x", events[2].start, sequence=1)]  # type: ignore[arg-type]
    assert feed(info, bumped) != feed(info, events)


def test_times_keep_their_instant_through_a_vtimezone_in_far_off_zones() -> None:
    # Chatham (+12:45/+13:45) and Lord Howe (a 30-minute DST shift) across New Year and DST.
    for name in ("Pacific/Chatham", "Australia/Lord_Howe", "America/Santiago"):
        zone = ZoneInfo(name)
        starts = [
            datetime(2026, 1, 1, 9, tzinfo=zone) + timedelta(days=d) for d in range(0, 400, 7)
        ]
        body = feed(FeedInfo("T", name), [timed(f"e{i}@x", s) for i, s in enumerate(starts)])
        seen = three_ways(body)
        assert sorted(s.start for s in seen) == sorted(s.astimezone(UTC) for s in starts)
        assert body.count(b"BEGIN:VTIMEZONE") == 1


def test_all_day_entries_are_dates_and_calendar_properties_are_published() -> None:
    ev = CalEvent(
        uid="w@x",
        start=date(2026, 6, 1),
        end=date(2026, 6, 15),
        summary="Clinic appointment",
        dtstamp=STAMP,
        busy=False,
    )
    body = feed(FeedInfo("Therapy", "America/New_York", refresh_minutes=90), [ev])
    (seen,) = three_ways(body)
    assert seen.start == date(2026, 6, 1)
    text = body.decode()
    for line in (
        "METHOD:PUBLISH",
        "CALSCALE:GREGORIAN",
        "NAME:Therapy",
        "X-WR-CALNAME:Therapy",
        "REFRESH-INTERVAL;VALUE=DURATION:PT1H30M",
        "X-PUBLISHED-TTL:PT1H30M",
        "TRANSP:TRANSPARENT",
        "DTSTAMP:20260102T030405Z",
    ):
        assert f"\r\n{line}\r\n" in text, line


def test_alarm_only_when_asked() -> None:
    zone = ZoneInfo("America/New_York")
    body = feed(
        FeedInfo("T", "America/New_York"),
        [
            timed("a@x", datetime(2026, 3, 8, 9, tzinfo=zone), alarm_minutes=30),
            timed("b@x", datetime(2026, 3, 9, 9, tzinfo=zone)),
        ],
    )
    events = {str(e["UID"]): e for e in Calendar.from_ical(body).walk("VEVENT")}
    (alarm,) = events["a@x"].walk("VALARM")
    assert str(alarm["ACTION"]) == "DISPLAY" and alarm.decoded("TRIGGER") == -timedelta(minutes=30)
    assert not events["b@x"].walk("VALARM")


def test_bad_values_are_refused_naming_the_field() -> None:
    info = FeedInfo("T", "UTC")
    naive = CalEvent("n@x", datetime(2026, 1, 1, 9), datetime(2026, 1, 1, 10), "M", STAMP)
    with pytest.raises(ValueError, match="start must be an aware"):
        feed(info, [naive])
    with pytest.raises(ValueError, match="status"):
        feed(info, [timed("s@x", datetime(2026, 1, 1, tzinfo=UTC), status="MAYBE")])


TRICKY = st.lists(
    st.sampled_from(
        [
            *"ab :;,\"'\\\r\n\t=<>/",
            "BEGIN:VEVENT",
            "END:VEVENT",
            "\u2028",
            "\x0b",
            "\x85",
            "é",
            "😀",
        ]
    ),
    max_size=12,
).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(summary=TRICKY, location=TRICKY, description=TRICKY)
def test_user_text_never_breaks_out_of_its_property(
    summary: str, location: str, description: str
) -> None:
    ev = timed(
        "only@x",
        datetime(2026, 5, 5, 9, tzinfo=UTC),
        summary=summary,
        location=location,
        description=description,
    )
    body = feed(FeedInfo(summary or "T", "UTC"), [ev])
    seen = three_ways(body)
    assert [s.uid for s in seen] == ["only@x"]
    (parsed,) = Calendar.from_ical(body).walk("VEVENT")
    for key, value in (("SUMMARY", summary), ("LOCATION", location), ("DESCRIPTION", description)):
        if value and "\\" not in value:  # icalendar reads "\N" back as a newline
            assert str(parsed[key]) == clean(value)
    lines = body.decode().split("\r\n")
    assert sum(line == "BEGIN:VEVENT" for line in lines) == 1


def test_itip_request_and_cancel() -> None:
    zone = "Europe/London"
    ev = CalEvent(
        uid="appt-1@x",
        start=datetime(2026, 3, 29, 10, tzinfo=ZoneInfo(zone)),  # the day London springs forward
        end=datetime(2026, 3, 29, 14, tzinfo=ZoneInfo(zone)),
        summary="Clinic appointment",
        dtstamp=STAMP,
        sequence=2,
        location="Infusion suite, Level 2",
        alarm_minutes=24 * 60,
    )
    request = itip(
        ev, method="request", organizer_email="clinic@x.org", attendee_email="p@y.org", zone=zone
    )
    (seen,) = three_ways(request.encode())
    assert seen.start == datetime(2026, 3, 29, 9, tzinfo=UTC)
    cal = Calendar.from_ical(request)
    (vevent,) = cal.walk("VEVENT")
    assert str(cal["METHOD"]) == "REQUEST" and int(str(vevent["SEQUENCE"])) == 2
    assert str(vevent["ORGANIZER"]) == "mailto:clinic@x.org"
    attendee = vevent["ATTENDEE"]
    assert str(attendee) == "mailto:p@y.org" and attendee.params["PARTSTAT"] == "NEEDS-ACTION"
    assert vevent.walk("VALARM") and cal.walk("VTIMEZONE")

    cancel = itip(
        ev, method="CANCEL", organizer_email="clinic@x.org", attendee_email="p@y.org", zone=zone
    )
    cal = Calendar.from_ical(cancel)
    (vevent,) = cal.walk("VEVENT")
    assert str(cal["METHOD"]) == "CANCEL" and str(vevent["STATUS"]) == "CANCELLED"
    assert str(vevent["UID"]) == "appt-1@x" and not vevent.walk("VALARM")
    with pytest.raises(ValueError, match="method"):
        itip(ev, method="PUBLISH", organizer_email="a@b", attendee_email="c@d", zone=zone)
    with pytest.raises(ValueError, match="attendee_email"):
        itip(ev, method="REQUEST", organizer_email="a@b", attendee_email="c@d\r\nX:1", zone=zone)


def test_itip_names_and_several_alarms_as_an_invitation_carries_them() -> None:
    # What appointment invitations need: the care team and the patient by name (CN), and
    # one alarm per lead (a day before, and the premedication lead), none on a CANCEL.
    zone = "America/Los_Angeles"
    ev = CalEvent(
        uid="appt-2@x",
        start=datetime(2026, 11, 1, 9, 30, tzinfo=ZoneInfo(zone)),  # the day LA falls back
        end=datetime(2026, 11, 1, 13, 30, tzinfo=ZoneInfo(zone)),
        summary="Clinic appointment",
        dtstamp=STAMP,
        alarms=(timedelta(days=1), timedelta(hours=1), timedelta(days=1), timedelta(0)),
    )
    team, patient = 'North: Clinic; "Infusions", B', "Ann\r\nO'Brien\u2028Jr"
    request = itip(
        ev,
        method="REQUEST",
        organizer_email="clinic@x.org",
        attendee_email="p@y.org",
        zone=zone,
        organizer_name=team,
        attendee_name=patient,
    )
    (seen,) = three_ways(request.encode())
    assert seen.start == datetime(2026, 11, 1, 17, 30, tzinfo=UTC)  # PST after the fall-back
    (vevent,) = Calendar.from_ical(request).walk("VEVENT")
    assert str(vevent["ORGANIZER"]) == "mailto:clinic@x.org"
    assert vevent["ORGANIZER"].params["CN"] == team
    attendee = vevent["ATTENDEE"]
    assert attendee.params["CN"] == "Ann O'Brien Jr"  # one line, whatever was typed
    assert attendee.params["RSVP"] == "TRUE" and attendee.params["ROLE"] == "REQ-PARTICIPANT"
    triggers = [a.decoded("TRIGGER") for a in vevent.walk("VALARM")]
    assert triggers == [-timedelta(days=1), -timedelta(hours=1)]  # repeats and zero dropped
    assert str(vevent["STATUS"]) == "CONFIRMED"
    # The typed line break never starts a content line of its own.
    assert not any(line.startswith(("O'Brien", "Jr")) for line in request.split("\r\n"))

    cancel = itip(
        ev,
        method="CANCEL",
        organizer_email="clinic@x.org",
        attendee_email="p@y.org",
        zone=zone,
        organizer_name=team,
    )
    (vevent,) = Calendar.from_ical(cancel).walk("VEVENT")
    assert str(vevent["STATUS"]) == "CANCELLED" and not vevent.walk("VALARM")
    assert "PARTSTAT" not in vevent["ATTENDEE"].params and "CN" not in vevent["ATTENDEE"].params
    assert vevent["ORGANIZER"].params["CN"] == team


def test_feed_alarm_and_extra_alarms_combine_without_repeats() -> None:
    start = datetime(2026, 4, 1, 9, tzinfo=UTC)
    body = feed(
        FeedInfo("T", "UTC"),
        [timed("c@x", start, alarm_minutes=60, alarms=(timedelta(hours=1), timedelta(days=2)))],
    )
    (vevent,) = Calendar.from_ical(body).walk("VEVENT")
    assert [a.decoded("TRIGGER") for a in vevent.walk("VALARM")] == [
        -timedelta(hours=1),
        -timedelta(days=2),
    ]
