"""Local wall-clock time to instants, with one written rule for DST edges.

The rule (also in the README): a dose keeps its wall-clock time through DST changes.
A time that does not exist (spring forward) moves forward by the length of the gap
(02:30 becomes 03:30 where clocks jump from 02:00 to 03:00); a time that occurs twice
(fall back) takes the first instant. A dose is never skipped or doubled.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The aware datetime (in ``zone``) for wall-clock ``at`` on ``day``.

    ``fold=0`` selects the first instant of an ambiguous time, and for a non-existent time
    it applies the offset in force before the gap, which after normalising through UTC
    is exactly "forward by the gap".
    """
    aware = datetime(day.year, day.month, day.day, at.hour, at.minute, at.second, tzinfo=zone)
    # Normalise: a wall time inside a gap comes back shifted forward; any other time is
    # returned unchanged (same wall clock, same offset).
    return aware.astimezone(UTC).astimezone(zone)


def add_months(day: date, months: int) -> date:
    """Calendar months; the 31st becomes the last day of a shorter month (no drift:
    callers always add to the same anchor, never month after month)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    last = _days_in_month(year, month)
    return date(year, month, min(day.day, last))


def _days_in_month(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (date(year, month + 1, 1) - timedelta(days=1)).day


def parse_hhmm(text: str) -> time:
    """``HH:MM`` (24-hour) to a time; a clear error otherwise."""
    parts = text.strip().split(":")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"time {text!r} is not HH:MM (24-hour)")
    hour, minute = int(parts[0]), int(parts[1])
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ValueError(f"time {text!r} is out of range (00:00 to 23:59)")
    return time(hour, minute)


def load_zone(name: str) -> ZoneInfo:
    """An IANA zone by name, or ValueError naming it (no fallback to UTC)."""
    from zoneinfo import ZoneInfoNotFoundError

    if not name or name.strip() != name or ".." in name or name.startswith("/"):
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as Europe/Paris")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, IsADirectoryError):
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Paris"
        ) from None
