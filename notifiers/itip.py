"""iTIP (RFC 5546) invitations for one appointment: plain values in, a VCALENDAR string out.

An invitation differs from a feed entry in ways calendar clients care about: a METHOD
(REQUEST to add or update, CANCEL to remove), an ORGANIZER and an ATTENDEE (so Gmail,
Outlook and Apple Mail show accept/decline and match later updates to the same event by
UID, taking the highest SEQUENCE), and alarms, which clients honour in invitations while
they drop or strip them in subscribed feeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event, vCalAddress, vText

PRODID = "-//MS adherence//appointments//EN"
METHODS = ("REQUEST", "CANCEL")


@dataclass(frozen=True, slots=True)
class InviteEvent:
    uid: str  # stable for the life of the appointment
    sequence: int  # strictly higher on every change the attendee must see
    start: datetime  # aware
    end: datetime  # aware
    summary: str
    stamp: datetime  # aware; when this revision was made (DTSTAMP)
    location: str = ""
    description: str = ""
    alarms: tuple[timedelta, ...] = field(default=())  # how long before the start


def itip(
    event: InviteEvent,
    *,
    method: str,
    organizer_email: str,
    attendee_email: str,
    zone: str,
    organizer_name: str = "",
    attendee_name: str = "",
) -> str:
    """The serialised VCALENDAR for ``event`` with ``method`` (REQUEST or CANCEL).

    Times are written in ``zone`` with its VTIMEZONE (the patient's wall clock, so an
    appointment keeps its local time in the patient's calendar across DST).
    """
    method = method.upper()
    if method not in METHODS:
        raise ValueError(f"method {method!r} is not one of {', '.join(METHODS)}")
    if event.start.tzinfo is None or event.end.tzinfo is None or event.stamp.tzinfo is None:
        raise ValueError("invitation times must be aware datetimes")
    tz = ZoneInfo(zone)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", method)
    cal.add("calscale", "GREGORIAN")
    ev = Event()
    ev.add("uid", event.uid)
    ev.add("sequence", event.sequence)
    ev.add("dtstamp", event.stamp.astimezone(ZoneInfo("UTC")))
    ev.add("dtstart", event.start.astimezone(tz))
    ev.add("dtend", event.end.astimezone(tz))
    ev.add("summary", vText(event.summary))
    if event.location:
        ev.add("location", vText(event.location))
    if event.description:
        ev.add("description", vText(event.description))
    organizer = vCalAddress(f"mailto:{organizer_email}")
    if organizer_name:
        organizer.params["CN"] = vText(organizer_name)
    ev.add("organizer", organizer)
    attendee = vCalAddress(f"mailto:{attendee_email}")
    if attendee_name:
        attendee.params["CN"] = vText(attendee_name)
    attendee.params["ROLE"] = vText("REQ-PARTICIPANT")
    attendee.params["CUTYPE"] = vText("INDIVIDUAL")
    if method == "REQUEST":
        attendee.params["PARTSTAT"] = vText("NEEDS-ACTION")
        attendee.params["RSVP"] = vText("TRUE")
        ev.add("status", "CONFIRMED")
        ev.add("transp", "OPAQUE")
        for before in event.alarms:
            alarm = Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("trigger", -before)
            alarm.add("description", vText(event.summary))
            ev.add_component(alarm)
    else:
        ev.add("status", "CANCELLED")
    ev.add("attendee", attendee)
    cal.add_component(ev)
    # A VTIMEZONE covering the year around the appointment: small, and enough for any
    # client to place the event (the whole 1970-2038 table would be ~4 kB per e-mail).
    day = event.start.astimezone(tz).date()
    cal.add_missing_timezones(
        first_date=date(day.year - 1, 1, 1), last_date=date(day.year + 2, 1, 1)
    )
    return str(cal.to_ical().decode("utf-8"))
