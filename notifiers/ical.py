"""iCalendar rendering: plain event values in, RFC 5545 bytes out (built with ``icalendar``).

Two shapes: a subscribed feed (``feed``: METHOD:PUBLISH, every event of a window, a
VTIMEZONE for the zone the times are written in) and a one-event invitation (``itip``:
METHOD:REQUEST or CANCEL with ORGANIZER and ATTENDEE, RFC 5546).

Everything a client uses to decide whether an event changed comes from the caller: the UID
(stable for the life of the thing it shows), SEQUENCE (goes up when it changes) and DTSTAMP
(the row's update time, never "now", so the same state renders to the same bytes and a
strong ETag holds).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event, Timezone, vCalAddress, vDuration, vText

PRODID = "-//MS adherence//calendar feed//EN"
METHODS = ("REQUEST", "CANCEL")
STATUSES = ("CONFIRMED", "TENTATIVE", "CANCELLED")

# Characters that some parser treats as a line break (str.splitlines does) or that have no
# business in calendar text. iCalendar escapes CR/LF itself; these are replaced by a space
# so that user text (a location, a name) can never start a new content line anywhere.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f\x85\u2028\u2029]")


def clean(text: str) -> str:
    """User text made safe for a TEXT value: line endings kept as one newline (which the
    serialiser escapes as ``\\n``), every other control or line-separator character a space."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _UNSAFE.sub(" ", text)


@dataclass(frozen=True, slots=True)
class CalEvent:
    """One calendar entry. ``start``/``end`` are aware datetimes, or dates for an all-day
    entry (``end`` exclusive, as in RFC 5545)."""

    uid: str
    start: datetime | date
    end: datetime | date
    summary: str
    dtstamp: datetime  # aware; when the row behind the event last changed
    sequence: int = 0
    description: str = ""
    location: str = ""
    status: str = "CONFIRMED"
    alarm_minutes: int | None = None  # a DISPLAY alarm this long before the start
    alarms: tuple[timedelta, ...] = ()  # more DISPLAY alarms, each this long before the start
    categories: tuple[str, ...] = ()
    busy: bool = True  # TRANSP: OPAQUE (blocks time) or TRANSPARENT


@dataclass(frozen=True, slots=True)
class FeedInfo:
    name: str  # NAME / X-WR-CALNAME
    zone: str  # IANA zone every timed event is written in
    refresh_minutes: int = 720  # REFRESH-INTERVAL and X-PUBLISHED-TTL
    description: str = ""


def _check(event: CalEvent) -> None:
    if event.status not in STATUSES:
        raise ValueError(f"event {event.uid}: status {event.status!r} is not one of {STATUSES}")
    if event.dtstamp.tzinfo is None:
        raise ValueError(f"event {event.uid}: dtstamp must be an aware datetime")
    for name, value in (("start", event.start), ("end", event.end)):
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError(f"event {event.uid}: {name} must be an aware datetime")
    if isinstance(event.start, datetime) != isinstance(event.end, datetime):
        raise ValueError(f"event {event.uid}: start and end must both be datetimes or dates")


def _local(value: datetime | date, tz: ZoneInfo) -> datetime | date:
    return value.astimezone(tz) if isinstance(value, datetime) else value


def build_event(event: CalEvent, tz: ZoneInfo) -> Event:
    """The VEVENT for ``event``, times written in ``tz`` (with TZID)."""
    _check(event)
    ev = Event()
    ev.add("uid", clean(event.uid))
    ev.add("dtstamp", event.dtstamp.astimezone(UTC))
    ev.add("sequence", event.sequence)
    ev.add("dtstart", _local(event.start, tz))
    ev.add("dtend", _local(event.end, tz))
    ev.add("summary", vText(clean(event.summary)))
    if event.description:
        ev.add("description", vText(clean(event.description)))
    if event.location:
        ev.add("location", vText(clean(event.location)))
    if event.categories:
        ev.add("categories", [clean(c) for c in event.categories])
    ev.add("status", event.status)
    ev.add("transp", "OPAQUE" if event.busy else "TRANSPARENT")
    for before in _alarm_leads(event):
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("trigger", -before)
        alarm.add("description", vText(clean(event.summary)))
        ev.add_component(alarm)
    return ev


def _alarm_leads(event: CalEvent) -> list[timedelta]:
    """How long before the start each alarm rings: ``alarm_minutes`` first, then ``alarms``
    in the order given, without repeats (one ring per moment) and only positive leads."""
    leads: list[timedelta] = []
    if event.alarm_minutes is not None and event.alarm_minutes > 0:
        leads.append(timedelta(minutes=event.alarm_minutes))
    for before in event.alarms:
        if before > timedelta(0) and before not in leads:
            leads.append(before)
    return leads


def _param(text: str) -> str:
    # A parameter value (a common name) is one line: newlines become spaces too. The
    # serialiser quotes ":;," and escapes DQUOTE (RFC 6868).
    return clean(text).replace("\n", " ").strip()


def _years(events: Iterable[CalEvent], tz: ZoneInfo) -> tuple[int, int]:
    years = [_local(e.start, tz).year for e in events]
    return (min(years), max(years)) if years else (2000, 2000)


def vtimezone(zone: str, first_year: int, last_year: int) -> Timezone:
    """The zone's VTIMEZONE with the transitions of the covered years (and one either side,
    so that a client placing an event near New Year finds the right offset)."""
    return Timezone.from_tzid(
        zone, first_date=date(first_year - 1, 1, 1), last_date=date(last_year + 2, 1, 1)
    )


def feed(info: FeedInfo, events: Sequence[CalEvent]) -> bytes:
    """A subscribed calendar (METHOD:PUBLISH) of ``events``, in the order given."""
    tz = ZoneInfo(info.zone)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    name = clean(info.name)
    cal.add("name", vText(name))
    cal.add("x-wr-calname", vText(name))
    if info.description:
        cal.add("x-wr-caldesc", vText(clean(info.description)))
    cal.add("x-wr-timezone", info.zone)
    refresh = timedelta(minutes=info.refresh_minutes)
    # REFRESH-INTERVAL (RFC 7986) needs VALUE=DURATION; X-PUBLISHED-TTL is what Apple and
    # Outlook read.
    cal.add("refresh-interval", refresh, parameters={"VALUE": "DURATION"})
    # An X- property has no known type: give it the duration text itself ("PT12H").
    cal.add("x-published-ttl", vDuration(refresh).to_ical().decode("ascii"))  # type: ignore[no-untyped-call]
    first, last = _years(events, tz)
    cal.add_component(vtimezone(info.zone, first, last))
    for event in events:
        cal.add_component(build_event(event, tz))
    return bytes(cal.to_ical())


def itip(
    event: CalEvent,
    *,
    method: str,
    organizer_email: str,
    attendee_email: str,
    zone: str,
    organizer_name: str = "",
    attendee_name: str = "",
) -> str:
    """A one-event invitation (RFC 5546): METHOD:REQUEST to add or update (same UID, higher
    SEQUENCE), METHOD:CANCEL to remove (STATUS:CANCELLED, no alarms). Alarms are kept on a
    REQUEST: clients honour them in invitations, unlike in subscribed feeds. The names, when
    given, are the CN a client shows for the organizer (the care team) and the attendee."""
    method = method.upper()
    if method not in METHODS:
        raise ValueError(f"method {method!r} is not one of {', '.join(METHODS)}")
    for label, address in (("organizer", organizer_email), ("attendee", attendee_email)):
        if not address or clean(address) != address or any(c in address for c in " \t\n:;,"):
            raise ValueError(f"{label}_email {address!r} is not an e-mail address")
    tz = ZoneInfo(zone)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    status = "CANCELLED" if method == "CANCEL" else event.status
    if method == "CANCEL":
        event = replace(event, alarm_minutes=None, alarms=())
    ev = build_event(replace(event, status=status), tz)
    organizer = vCalAddress(f"mailto:{organizer_email}")
    if _param(organizer_name):
        organizer.params["CN"] = _param(organizer_name)
    ev.add("organizer", organizer)
    attendee = vCalAddress(f"mailto:{attendee_email}")
    if _param(attendee_name):
        attendee.params["CN"] = _param(attendee_name)
    attendee.params["ROLE"] = "REQ-PARTICIPANT"
    attendee.params["CUTYPE"] = "INDIVIDUAL"
    if method == "REQUEST":
        attendee.params["PARTSTAT"] = "NEEDS-ACTION"
        attendee.params["RSVP"] = "TRUE"
    ev.add("attendee", attendee)
    year = _local(event.start, tz).year
    cal.add_component(vtimezone(zone, year, year))
    cal.add_component(ev)
    return str(cal.to_ical().decode("utf-8"))
