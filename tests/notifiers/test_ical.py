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
