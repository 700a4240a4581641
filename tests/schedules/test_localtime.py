"""The DST rule of ``local_instant``, checked against transitions found independently.

The oracle reads a zone only from the UTC side (``astimezone`` of UTC instants), never
by resolving a wall time, so it does not share the code path under test. For a
transition at UTC instant ``T`` from offset ``o1`` to ``o2``, a wall time ``w`` near it
resolves to the UTC instant ``w - o1`` if ``w < T + max(o1, o2)`` and ``w - o2``
otherwise: before a gap or inside it (forward by the gap), before a fold or inside it
(the first instant), and after either.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schedules import load_catalog
from schedules.expand import expand
from schedules.localtime import add_months, local_instant, parse_hhmm, steady_day

SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)

# (UTC instant of the change, offset before, offset after)
Transition = tuple[datetime, timedelta, timedelta]


def offset_at(instant: datetime, zone: ZoneInfo) -> timedelta:
    """The zone's UTC offset at a UTC instant (read through ``fromutc`` only)."""
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


@lru_cache(maxsize=4096)
def transitions_in_year(zone: ZoneInfo, year: int) -> tuple[Transition, ...]:
    """Offset changes whose UTC instant falls in ``year``, to the second (3-hourly scan)."""
    found: list[Transition] = []
    lo = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    before = offset_at(lo, zone)
    while lo < end:
        hi = lo + timedelta(hours=3)
        after = offset_at(hi, zone)
        if after != before:
            a, b = lo, hi
            while b - a > SECOND:
                mid = a + (b - a) // 2
                mid -= timedelta(microseconds=mid.microsecond)
                a, b = (mid, b) if offset_at(mid, zone) == before else (a, mid)
            found.append((b, before, after))
        before, lo = after, hi
    return tuple(found)


def transitions_between(zone: ZoneInfo, first: date, last: date) -> list[Transition]:
    return [
        tr
        for year in range(first.year - 1, last.year + 2)
        for tr in transitions_in_year(zone, year)
    ]


def expected_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The rule, from the transitions: the UTC instant a naive wall time must resolve to."""
    near = [
        tr
        for tr in transitions_between(zone, wall.date(), wall.date())
        if abs(tr[0].replace(tzinfo=None) + tr[1] - wall) < timedelta(days=2)
    ]
    assert len(near) <= 1, f"two transitions near {wall} in {zone}: the oracle assumes one"
    if near:
        at, o1, o2 = near[0]
        offset = o1 if wall < at.replace(tzinfo=None) + max(o1, o2) else o2
    else:
        offset = offset_at(wall.replace(tzinfo=UTC), zone)
    return (wall - offset).replace(tzinfo=UTC)


def gap_at(wall: datetime, zone: ZoneInfo) -> timedelta | None:
    """The length of the gap ``wall`` falls in, or None when it exists."""
    for at, o1, o2 in transitions_between(zone, wall.date(), wall.date()):
        local = at.replace(tzinfo=None)
        if o2 > o1 and local + o1 <= wall < local + o2:
            return o2 - o1
    return None


ZONES_2020S = (
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",  # 30-minute DST
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/St_Johns",  # -03:30 / -02:30
    "Australia/Sydney",
    "America/Santiago",  # changes at midnight
    "Antarctica/Troll",  # a 2-hour gap and fold
    "Africa/Casablanca",  # goes back for Ramadan and forward after it
    "Asia/Tehran",  # DST until 2022 only
)


def test_the_oracle_finds_known_transitions() -> None:
    ny = transitions_in_year(ZoneInfo("America/New_York"), 2024)
    assert ny == (
        (datetime(2024, 3, 10, 7, tzinfo=UTC), timedelta(hours=-5), timedelta(hours=-4)),
        (datetime(2024, 11, 3, 6, tzinfo=UTC), timedelta(hours=-4), timedelta(hours=-5)),
    )
    lhi = transitions_in_year(ZoneInfo("Australia/Lord_Howe"), 2024)
    assert [o2 - o1 for _, o1, o2 in lhi] == [-timedelta(minutes=30), timedelta(minutes=30)]
    assert transitions_in_year(ZoneInfo("Asia/Kolkata"), 2024) == ()


@pytest.mark.parametrize("name", ZONES_2020S)
def test_every_minute_around_every_transition_2020_2030(name: str) -> None:
    zone = ZoneInfo(name)
    checked = gaps = folds = 0
    for year in range(2020, 2031):
        for at, o1, o2 in transitions_in_year(zone, year):
            local = at.replace(tzinfo=None)
            wall = local + min(o1, o2) - timedelta(minutes=90)
            stop = local + max(o1, o2) + timedelta(minutes=90)
            while wall < stop:
                got = local_instant(wall.date(), wall.time(), zone)
                want = expected_instant(wall, zone)
                assert got.astimezone(UTC) == want, (name, wall, got, want)
                assert got.tzinfo is zone
                shown = got.replace(tzinfo=None)
                if o2 > o1 and local + o1 <= wall < local + o2:
                    assert shown == wall + (o2 - o1), (name, wall, got)
                    gaps += 1
                else:
                    assert shown == wall, (name, wall, got)
                    if o2 < o1 and local + o2 <= wall < local + o1:
                        assert got.utcoffset() == o1, "an ambiguous time takes the first"
                        folds += 1
                checked += 1
                wall += MINUTE
    if name == "Asia/Tehran":
        assert gaps and folds  # 2020-2022 only
    else:
        assert checked > 3000 and gaps > 0 and folds > 0


def test_no_transitions_means_wall_time_unchanged() -> None:
    zone = ZoneInfo("Asia/Kathmandu")
    for day in (date(2001, 1, 1), date(2024, 3, 10), date(2059, 12, 31)):
        for hhmm in ("00:00", "02:30", "23:59"):
            got = local_instant(day, parse_hhmm(hhmm), zone)
            assert (got.date(), got.time(), got.utcoffset()) == (
                day,
                parse_hhmm(hhmm),
                timedelta(hours=5, minutes=45),
            )


@pytest.mark.parametrize(
    ("name", "day", "at", "want"),
    [
        # spring forward: 02:30 does not exist, moves forward by the 1-hour gap
        ("America/New_York", date(2024, 3, 10), time(2, 30), "2024-03-10T03:30:00-04:00"),
        ("America/New_York", date(2024, 3, 10), time(2, 0), "2024-03-10T03:00:00-04:00"),
        ("America/New_York", date(2024, 3, 10), time(3, 0), "2024-03-10T03:00:00-04:00"),
        ("America/New_York", date(2024, 3, 10), time(1, 59), "2024-03-10T01:59:00-05:00"),
        # fall back: 01:30 happens twice, the first (daylight) instant is taken
        ("America/New_York", date(2024, 11, 3), time(1, 30), "2024-11-03T01:30:00-04:00"),
        ("America/New_York", date(2024, 11, 3), time(2, 0), "2024-11-03T02:00:00-05:00"),
        ("Europe/London", date(2024, 3, 31), time(1, 15), "2024-03-31T02:15:00+01:00"),
        ("Europe/London", date(2024, 10, 27), time(1, 15), "2024-10-27T01:15:00+01:00"),
        # 30-minute gap and fold
        ("Australia/Lord_Howe", date(2024, 10, 6), time(2, 15), "2024-10-06T02:45:00+11:00"),
        ("Australia/Lord_Howe", date(2024, 4, 7), time(1, 45), "2024-04-07T01:45:00+11:00"),
        ("Pacific/Chatham", date(2024, 9, 29), time(2, 50), "2024-09-29T03:50:00+13:45"),
        ("America/St_Johns", date(2024, 3, 10), time(2, 1), "2024-03-10T03:01:00-02:30"),
        # midnight does not exist: the date stays, the time moves
        ("America/Santiago", date(2024, 9, 8), time(0, 30), "2024-09-08T01:30:00-03:00"),
        ("America/Santiago", date(2024, 4, 6), time(23, 30), "2024-04-06T23:30:00-03:00"),
        ("Antarctica/Troll", date(2024, 3, 31), time(1, 30), "2024-03-31T03:30:00+02:00"),
        ("Asia/Kolkata", date(2024, 3, 10), time(2, 30), "2024-03-10T02:30:00+05:30"),
    ],
)
def test_known_edges(name: str, day: date, at: time, want: str) -> None:
    got = local_instant(day, at, ZoneInfo(name))
    assert got.isoformat() == want
    # (an ambiguous time never equals another zone's datetime: compare in UTC)
    assert got.astimezone(UTC) == datetime.fromisoformat(want).astimezone(UTC)


def test_a_skipped_calendar_day_moves_forward_by_the_whole_gap() -> None:
    # Samoa skipped 2011-12-30 (-10:00 to +14:00 at midnight). Under the written rule the
    # wall time moves forward by the 24-hour gap, onto the next day's instant.
    apia = ZoneInfo("Pacific/Apia")
    moved = local_instant(date(2011, 12, 30), time(9), apia)
    assert moved.isoformat() == "2011-12-31T09:00:00+14:00"
    assert moved == local_instant(date(2011, 12, 31), time(9), apia)
    assert local_instant(date(2011, 12, 29), time(9), apia).isoformat() == (
        "2011-12-29T09:00:00-10:00"
    )


@pytest.mark.parametrize(("year", "days"), [(2023, 365), (2024, 366)])
def test_daily_0230_in_new_york_for_a_year(year: int, days: int) -> None:
    regimen = load_catalog().get("glatiramer").regimen({"strength": "20"})
    zone = ZoneInfo("America/New_York")
    items = expand(
        regimen,
        start=date(year, 1, 1),
        zone=zone,
        until=date(year, 12, 31),
        times=[time(2, 30)],
    )
    assert len(items) == days
    assert len({i.local_date for i in items}) == days
    moved = [i for i in items if i.at.time() != time(2, 30)]
    assert len(moved) == 1
    spring = transitions_in_year(zone, year)[0][0].astimezone(zone).date()
    assert moved[0].local_date == spring
    assert moved[0].at.time() == time(3, 30)
    assert moved[0].at.date() == spring
    # the fall-back day keeps 02:30 (it exists once, after the fold)
    assert all(i.at.date() == i.local_date for i in items)
    instants = [i.at for i in items]
    assert instants == sorted(instants) and len(set(instants)) == days


@pytest.mark.parametrize("name", ["America/New_York", "Australia/Lord_Howe", "Europe/London"])
def test_daily_in_the_fold_keeps_the_first_instant(name: str) -> None:
    zone = ZoneInfo(name)
    regimen = load_catalog().get("glatiramer").regimen({"strength": "20"})
    fall = next(tr for tr in transitions_in_year(zone, 2024) if tr[2] < tr[1])
    at, o1, o2 = fall
    wall = at.replace(tzinfo=None) + o2 + (o1 - o2) / 2  # inside the fold
    items = expand(regimen, start=wall.date(), zone=zone, until=wall.date(), times=[wall.time()])
    assert len(items) == 1
    assert items[0].at.utcoffset() == o1
    assert items[0].at.replace(tzinfo=None) == wall
    assert items[0].at.astimezone(UTC) < at


# --- the slow path and the per-zone cache agree ----------------------------------------

FEATURED = ("America/New_York", "Australia/Lord_Howe", "Pacific/Chatham", "America/Santiago")


def _round_trip(day: date, at: time, zone: ZoneInfo) -> datetime:
    aware = datetime(day.year, day.month, day.day, at.hour, at.minute, at.second, tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone)


@settings(max_examples=300, deadline=None)
@given(
    day=st.dates(date(2000, 1, 1), date(2060, 12, 31)),
    at=st.times(),
    name=st.sampled_from(FEATURED) | st.sampled_from(sorted(ZONES_2020S)),
)
def test_matches_the_round_trip(day: date, at: time, name: str) -> None:
    zone = ZoneInfo(name)
    got = local_instant(day, at, zone)
    want = _round_trip(day, at, zone)
    assert got.astimezone(UTC) == want.astimezone(UTC)
    assert (got.replace(tzinfo=None), got.tzinfo, got.fold) == (
        want.replace(tzinfo=None),
        want.tzinfo,
        want.fold,
    )
    assert got.microsecond == 0


@pytest.mark.parametrize("name", [*ZONES_2020S, "Pacific/Apia", "America/Nuuk", "Asia/Kolkata"])
def test_steady_days_are_exactly_the_days_no_gap_or_fold_touches(name: str) -> None:
    zone = ZoneInfo(name)
    touched: set[date] = set()
    for year in range(2010, 2031):
        for at, o1, o2 in transitions_in_year(zone, year):
            local = at.replace(tzinfo=None)
            first, last = local + min(o1, o2), local + max(o1, o2) - SECOND
            touched.update(
                first.date() + timedelta(days=k)
                for k in range((last.date() - first.date()).days + 1)
            )
    day, steady = date(2011, 1, 1), 0
    while day <= date(2029, 12, 31):
        assert steady_day(day, zone) is (day not in touched), (name, day)
        steady += day not in touched
        day += timedelta(days=1)
    assert steady > 6800  # 19 years, a handful of changes a year
    if name != "Asia/Kolkata":
        assert touched


def test_a_datetime_passed_as_the_day_still_follows_the_rule() -> None:
    zone = ZoneInfo("America/New_York")
    day = datetime(2024, 3, 10, 17, 45)  # a date subclass: only its date counts
    assert local_instant(day, time(2, 30), zone).isoformat() == "2024-03-10T03:30:00-04:00"
    assert not steady_day(day, zone)
    assert steady_day(date(2024, 3, 11), zone) and not steady_day(date(2024, 3, 10), zone)


def test_far_years_take_the_slow_path() -> None:
    zone = ZoneInfo("Europe/London")
    assert local_instant(date(1, 1, 1), time(12), zone).isoformat() == (
        "0001-01-01T12:00:00-00:01:15"
    )
    assert local_instant(date(9999, 12, 31), time(12), zone).isoformat() == (
        "9999-12-31T12:00:00+00:00"
    )


# --- the other helpers in localtime --------------------------------------------------------


@given(day=st.dates(date(1900, 1, 1), date(2100, 12, 31)), months=st.integers(-240, 240))
def test_add_months_lands_in_the_right_month(day: date, months: int) -> None:
    got = add_months(day, months)
    assert got.year * 12 + got.month == day.year * 12 + day.month + months
    assert got.day <= day.day
    if got.day < day.day:  # clipped to the last day of a shorter month
        assert (got + timedelta(days=1)).day == 1


@given(hour=st.integers(0, 23), minute=st.integers(0, 59))
def test_parse_hhmm_round_trips(hour: int, minute: int) -> None:
    assert parse_hhmm(f"{hour:02d}:{minute:02d}") == time(hour, minute)


@pytest.mark.parametrize("text", ["24:00", "9", "09:60", "ab:cd", "09:00:00", ""])
def test_parse_hhmm_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="time"):
        parse_hhmm(text)
