"""Local wall-clock time to instants, with one written rule for DST edges.

The rule (also in the README): a dose keeps its wall-clock time through DST changes.
A time that does not exist (spring forward) moves forward by the length of the gap
(02:30 becomes 03:30 where clocks jump from 02:00 to 03:00); a time that occurs twice
(fall back) takes the first instant. A dose is never skipped or doubled.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# Scanning step for offset changes. Real zones keep an offset for weeks at least; two
# changes inside one step (there and back) would go unseen, and none is on record.
_STEP = timedelta(hours=6)
_SECOND = timedelta(seconds=1)

# zone -> year -> the local dates of that year that hold a DST gap or fold (None: the
# year is too close to datetime's limits to scan, so every date takes the slow path).
_MAX_ZONES = 4096
_IRREGULAR: dict[ZoneInfo, dict[int, frozenset[date] | None]] = {}
# (zone, year) -> the same dates as sorted ordinals (scannable years only).
_ORDINALS: dict[tuple[ZoneInfo, int], tuple[int, ...]] = {}


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The aware datetime (in ``zone``) for wall-clock ``at`` on ``day``.

    ``fold=0`` selects the first instant of an ambiguous time, and for a non-existent time
    it applies the offset in force before the gap, which after normalising through UTC
    is exactly "forward by the gap".

    Most dates hold no offset change, and there the wall time is taken as it is; only
    dates that hold a gap or a fold (found once per zone and year) take the round trip.
    """
    years = _IRREGULAR.get(zone)
    year = day.year
    irregular = years[year] if years is not None and year in years else _irregular(zone, year)
    if (
        irregular is not None
        and day not in irregular
        and type(day) is date  # a datetime never matches a date in the set
        and not (at.fold or at.microsecond)
    ):
        return datetime.combine(day, at, zone)
    aware = datetime(day.year, day.month, day.day, at.hour, at.minute, at.second, tzinfo=zone)
    # Normalise: a wall time inside a gap comes back shifted forward; any other time is
    # returned unchanged (same wall clock, same offset).
    return aware.astimezone(UTC).astimezone(zone)


def steady_day(day: date, zone: ZoneInfo) -> bool:
    """True when no DST gap or fold touches ``day`` in ``zone``. Every wall time of such
    a day exists once, so ``datetime.combine(day, at, zone)`` is the instant
    ``local_instant`` gives for any ``at`` without microseconds or ``fold``; a caller
    resolving several times of one day can check once and skip the round trip."""
    years = _IRREGULAR.get(zone)
    year = day.year
    irregular = years[year] if years is not None and year in years else _irregular(zone, year)
    return irregular is not None and day not in irregular and type(day) is date


def irregular_ordinals(first: date, last: date, zone: ZoneInfo) -> tuple[int, ...] | None:
    """Ordinals, ascending, of the dates that a DST gap or fold touches in ``zone``, over
    the years from ``first`` to ``last`` (the dates ``steady_day`` refuses); None when one
    of those years is too close to datetime's limits to scan (then no date is known
    steady).

    For a caller resolving a long run of dates: a handful of ordinals to look up, instead
    of a ``steady_day`` call for each date."""
    found: tuple[int, ...] = ()
    for year in range(first.year, last.year + 1):
        ordinals = _ORDINALS.get((zone, year))
        if ordinals is None:
            dates = _irregular(zone, year)
            if dates is None:
                return None
            ordinals = _ORDINALS[(zone, year)] = tuple(sorted(d.toordinal() for d in dates))
        found += ordinals
    return found


def _irregular(zone: ZoneInfo, year: int) -> frozenset[date] | None:
    years = _IRREGULAR.get(zone)
    if years is None:
        if len(_IRREGULAR) >= _MAX_ZONES:
            _IRREGULAR.clear()  # zones made with ZoneInfo.no_cache() must not pile up
            _ORDINALS.clear()
        years = _IRREGULAR.setdefault(zone, {})
    if year not in years:
        years[year] = _irregular_dates(zone, year)
    return years[year]


def _offset(instant: datetime, zone: ZoneInfo) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def _irregular_dates(zone: ZoneInfo, year: int) -> frozenset[date] | None:
    """Local dates of ``year`` that a gap or a fold touches in ``zone``.

    The offset is read from the UTC side every ``_STEP`` (two days either side of the
    year, wider than any UTC offset); each change is narrowed to the second, and its
    wall-clock span (from the earlier to the later of the two local readings of the
    transition) marks the dates it touches.
    """
    if not 2 <= year <= 9997:
        return None
    lo = datetime(year, 1, 1, tzinfo=UTC) - timedelta(days=2)
    end = datetime(year + 1, 1, 1, tzinfo=UTC) + timedelta(days=2)
    found: set[date] = set()
    before = _offset(lo, zone)
    while lo < end:
        hi = lo + _STEP
        after = _offset(hi, zone)
        if after != before:
            # The first second with the new offset lies in (lo, hi].
            a, b = lo, hi
            while b - a > _SECOND:
                mid = a + (b - a) // 2
                mid -= timedelta(microseconds=mid.microsecond)
                if _offset(mid, zone) == before:
                    a = mid
                else:
                    b = mid
            wall = b.replace(tzinfo=None)
            first, last = wall + min(before, after), wall + max(before, after) - _SECOND
            day = first.date()
            while day <= last.date():
                if day.year == year:
                    found.add(day)
                day += timedelta(days=1)
        before = after
        lo = hi
    return frozenset(found)


def add_months(day: date, months: int) -> date:
    """Calendar months; the 31st becomes the last day of a shorter month (no drift:
    callers always add to the same anchor, never month after month)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    last = _days_in_month(year, month)
    return date(year, month, min(day.day, last))


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


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


# Legacy zone names that read like a region's zone but are not: EST is UTC-05:00 all year,
# an hour wrong for New York every summer.
_REGION_FOR = {
    "EST": "America/New_York",
    "MST": "America/Denver (or America/Phoenix, which keeps no summer time)",
    "HST": "Pacific/Honolulu",
}


def zone_advice(name: str) -> str | None:
    """Why a valid zone name is probably not what a clinic meant, or None: a fixed offset
    (``EST``, ``Etc/GMT+5``) never follows daylight saving time."""
    if name in ("UTC", "Etc/UTC") or ("/" in name and not name.startswith("Etc/")):
        return None
    zone = load_zone(name)
    winter = datetime(2026, 1, 15, 12, tzinfo=zone).utcoffset()
    summer = datetime(2026, 7, 15, 12, tzinfo=zone).utcoffset()
    if winter != summer or winter is None:
        return None
    minutes = int(winter.total_seconds() // 60)
    offset = f"UTC{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    region = _REGION_FOR.get(name, "a region zone such as America/New_York or Europe/Paris")
    return (
        f"time zone {name!r} is a fixed offset ({offset} all year, no daylight saving time); "
        f"if the clinic follows local time, use {region}"
    )
