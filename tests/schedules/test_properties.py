"""Properties of ``expand`` over random therapies, options, zones, start dates and times.

Where the clock changes, the expected wall time comes from transitions found from the
UTC side (see ``test_localtime``), not from the code under test.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

from hypothesis import given, settings
from hypothesis import strategies as st

from schedules import Item, Regimen, Therapy, expand, load_catalog
from schedules.localtime import add_months
from schedules.options import WEEKDAY_NAMES, OptionSpec
from tests.schedules.test_localtime import (
    Transition,
    expected_instant,
    transitions_between,
    transitions_in_year,
)

CATALOG = load_catalog()
THERAPIES = sorted(CATALOG, key=lambda t: t.code)
FEATURED_ZONES = (
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/St_Johns",
    "Australia/Sydney",
    "America/Santiago",
    "America/Nuuk",  # springs forward 23:00 -> 00:00: a moved dose lands on the next date
)
# "localtime" and "posixrules" are whatever this machine was set up with.
ALL_ZONES = sorted(available_timezones() - {"localtime", "posixrules"})
MINUTE = timedelta(minutes=1)

# Three weekdays, no two consecutive (the ``weekdays`` option refuses those).
VALID_WEEKDAYS = sorted(
    ",".join(WEEKDAY_NAMES[d] for d in (a, b, c))
    for a in range(7)
    for b in range(a + 2, 7)
    for c in range(b + 2, 7)
    if (a + 7 - c) >= 2
)


def option_strategy(spec: OptionSpec) -> st.SearchStrategy[str]:
    if spec.type == "choice":
        return st.sampled_from([v for v in spec.values if v not in spec.refused])
    if spec.type == "weekdays":
        return st.sampled_from(VALID_WEEKDAYS)
    low = spec.minimum if spec.minimum is not None else 1
    high = spec.maximum if spec.maximum is not None else 150  # weight_kg 40..150
    if spec.type == "integer":
        return st.integers(int(low), int(high)).map(str)
    return st.floats(low, high).map(lambda x: f"{x:.1f}")


def options_strategy(therapy: Therapy) -> st.SearchStrategy[dict[str, str]]:
    specs = therapy.options.values()
    return st.fixed_dictionaries(
        {s.name: option_strategy(s) for s in specs if s.required},
        optional={s.name: option_strategy(s) for s in specs if not s.required},
    )


@st.composite
def regimens(draw: st.DrawFn) -> tuple[Therapy, Regimen]:
    therapy = draw(st.sampled_from(THERAPIES))
    return therapy, therapy.regimen(draw(options_strategy(therapy)))


zones = st.one_of(st.sampled_from(FEATURED_ZONES), st.sampled_from(ALL_ZONES)).map(ZoneInfo)
# Small hours (where clocks change) half the time, any minute of the day otherwise.
minutes_of_day = st.one_of(st.integers(0, 3 * 60), st.integers(0, 24 * 60 - 1))


@st.composite
def dose_times(draw: st.DrawFn, per_day: int, anchor: int | None = None) -> list[time]:
    """``per_day`` different times of day in any order (expand sorts them), one of them at
    minute ``anchor`` of the day when given."""
    minutes = [anchor] if anchor is not None else []
    while len(minutes) < per_day:
        minutes.append(draw(minutes_of_day.filter(lambda m: m not in minutes)))
    return [time(m // 60, m % 60) for m in draw(st.permutations(minutes))]


@dataclass(frozen=True)
class Case:
    therapy: Therapy
    regimen: Regimen
    start: date
    until: date
    later: date
    zone: ZoneInfo
    times: list[time]

    def expand(self, until: date) -> list[Item]:
        return expand(self.regimen, start=self.start, zone=self.zone, until=until, times=self.times)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """Half the cases start on or shortly before a clock change, with a dose time in (or
    next to) its gap or fold; the rest start anywhere."""
    therapy, regimen = draw(regimens())
    zone = draw(zones)
    start = draw(st.dates(date(2000, 1, 1), date(2060, 12, 31)))
    anchor = None
    if draw(st.booleans()):
        changes = transitions_in_year(zone, start.year)
        if changes:
            at, before, after = draw(st.sampled_from(changes))
            edge = at.replace(tzinfo=None) + min(before, after)
            edge += timedelta(minutes=draw(st.integers(-30, abs(after - before) // MINUTE + 30)))
            back = draw(st.one_of(st.just(0), st.integers(0, 30)))
            start = max(date(2000, 1, 1), edge.date() - timedelta(days=back))
            anchor = edge.hour * 60 + edge.minute
    until = start + timedelta(days=draw(st.integers(0, 400)))
    later = until + timedelta(days=draw(st.integers(1, 400)))
    times = draw(dose_times(regimen.times_per_day, anchor))
    return Case(therapy, regimen, start, until, later, zone, times)


def wall(item: Item) -> datetime:
    return datetime.combine(item.local_date, item.local_time)


def gap_for(moment: datetime, changes: list[Transition]) -> timedelta | None:
    """The length of the DST gap the naive wall time ``moment`` falls in, if any."""
    for at, before, after in changes:
        local = at.replace(tzinfo=None)
        if after > before and local + before <= moment < local + after:
            return after - before
    return None


def slot_distance(times: list[time]) -> timedelta:
    """The shortest distance between two dose times of a day, across midnight too."""
    minutes = sorted(t.hour * 60 + t.minute for t in times)
    pairs = zip(minutes, [*minutes[1:], minutes[0] + 24 * 60], strict=True)
    return min(b - a for a, b in pairs) * MINUTE


def doses(items: list[Item]) -> list[Item]:
    return [i for i in items if i.key.startswith("dose:")]


def first_slot_per_occasion(items: list[Item]) -> list[Item]:
    seen: dict[int, Item] = {}
    for item in doses(items):
        seen.setdefault(item.occasion, item)
    return [seen[k] for k in sorted(seen)]


def is_split_first_dose(a: Item, b: Item, split: set[str]) -> bool:
    """Ocrelizumab and ublituximab give the first dose as two infusions two weeks apart;
    the label's minimum spacing (5 months) is between doses, not those two infusions (the
    rule's ``split_phases``)."""
    return a.phase in split and b.phase in split


# --- the properties -------------------------------------------------------------------------


@settings(max_examples=250, deadline=None)
@given(case=cases())
def test_expansion_properties(case: Case) -> None:
    changes = transitions_between(case.zone, case.start, case.later)
    shifts = [abs(after - before) for _, before, after in changes]
    per = case.regimen.times_per_day
    items = case.expand(case.until)
    dose_items = doses(items)

    # in time order, keys unique, one dose per local date and slot, never two at once
    instants = [i.at.astimezone(UTC) for i in items]
    assert instants == sorted(instants)
    # Never two doses at once, unless a gap is at least as long as the distance between
    # two slots: moved forward by it, one lands on the other (02:00 and 03:00 on a
    # spring-forward night, or Samoa's missing day; reported as a rule conflict).
    gaps = [after - before for _, before, after in changes if after > before]
    if all(gap < slot_distance(case.times) for gap in gaps):
        dose_instants = [i.at.astimezone(UTC) for i in dose_items]
        assert len(set(dose_instants)) == len(dose_instants)
    assert len({i.key for i in items}) == len(items)
    assert len({(i.local_date, i.local_time) for i in dose_items}) == len(dose_items)
    slots = sorted(case.times)
    for item in dose_items:
        assert item.key == f"dose:{item.seq}"
        assert item.seq == item.occasion * per + slots.index(item.local_time)
    assert max(Counter(i.local_date for i in dose_items).values(), default=0) <= per
    assert set(Counter(i.occasion for i in dose_items).values()) <= {per}

    for item in items:
        # within the plan, Day numbers from the start date
        assert case.start <= item.local_date <= case.until
        assert item.day == (item.local_date - case.start).days + 1
        assert item.amount > 0
        # the wall clock asked for, or later by exactly the gap it falls in
        assert item.at.tzinfo is case.zone
        gap = gap_for(wall(item), changes)
        shown = item.at.replace(tzinfo=None)
        assert shown == wall(item) + (gap or timedelta()), (item, gap)
        if gap is None:
            assert item.at.time() == item.local_time
        # the instant itself: the first one of an ambiguous wall time
        assert item.at.astimezone(UTC) == expected_instant(wall(item), case.zone), item
        # the UTC instant maps back to the same wall clock, on the item's local date
        # (only a gap that reaches past midnight can carry a time onto the next date)
        back = item.at.astimezone(UTC).astimezone(case.zone)
        assert back.replace(tzinfo=None) == shown
        if back.date() != item.local_date:
            assert gap is not None and back.date() == (wall(item) + gap).date(), item

    # label rules on spacing
    spacing = case.regimen.rule("min_spacing")
    if spacing is not None:
        hours = timedelta(hours=float(spacing.params["hours"]))  # type: ignore[arg-type]
        occasions = first_slot_per_occasion(items)
        for a, b in itertools.pairwise(occasions):
            if is_split_first_dose(a, b, set(spacing.listed("split_phases"))):
                continue
            assert wall(b) - wall(a) >= hours, (a, b)
            # the elapsed time may be short by a clock change between the two
            near = [
                shift
                for (at, _, _), shift in zip(changes, shifts, strict=True)
                if a.at - timedelta(days=1) <= at <= b.at + timedelta(days=1)
            ]
            assert b.at - a.at >= hours - max(near, default=timedelta()), (a, b)
    if case.regimen.rule("no_consecutive_days") is not None:
        dates = sorted({i.local_date for i in dose_items})
        assert all((y - x).days >= 2 for x, y in itertools.pairwise(dates))
    if case.regimen.cap is not None:
        assert sum(i.amount for i in dose_items) <= case.regimen.cap + 1e-9

    # a later horizon only adds items after the earlier one (stable keys)
    longer = case.expand(case.later)
    assert longer[: len(items)] == items
    assert [i for i in longer if i.local_date <= case.until] == items
    assert all(i.local_date > case.until for i in longer[len(items) :])
    assert len({i.key for i in longer}) == len(longer)


@settings(max_examples=60, deadline=None)
@given(
    start=st.dates(date(2000, 1, 1), date(2060, 12, 31)),
    years=st.integers(0, 40),
    zone=zones,
    at=minutes_of_day.map(lambda m: time(m // 60, m % 60)),
)
def test_mitoxantrone_never_passes_the_lifetime_cap(
    start: date, years: int, zone: ZoneInfo, at: time
) -> None:
    regimen = CATALOG.get("mitoxantrone").regimen()
    assert regimen.cap == 140
    until = start + timedelta(days=365 * years + 30)
    infusions = doses(expand(regimen, start=start, zone=zone, until=until, times=[at]))
    total = sum(i.amount for i in infusions)
    assert total <= regimen.cap
    assert len(infusions) <= 11  # 11 x 12 mg/m2 = 132; a 12th would pass 140
    if until >= add_months(start, 30):  # the 11th falls 30 months after Day 1
        assert len(infusions) == 11 and total == 132
    dates = [i.local_date for i in infusions]
    assert dates == [add_months(start, 3 * n) for n in range(len(infusions))]


@settings(max_examples=60, deadline=None)
@given(case=cases())
def test_since_is_a_suffix_of_the_whole_expansion(case: Case) -> None:
    whole = case.expand(case.until)
    cut = case.start + (case.until - case.start) // 2
    part = expand(
        case.regimen,
        start=case.start,
        zone=case.zone,
        until=case.until,
        times=case.times,
        since=cut,
    )
    assert part == [i for i in whole if i.local_date >= cut]


# --- slot order: unsorted times, DST gaps between slots and across midnight -----------------


def test_unsorted_times_still_give_time_order() -> None:
    regimen = CATALOG.get("dimethyl-fumarate").regimen()
    try:
        items = expand(
            regimen,
            start=date(2024, 3, 1),
            zone=ZoneInfo("Europe/London"),
            until=date(2024, 3, 2),
            times=[time(20), time(8)],
        )
    except ValueError:
        return  # refusing unsorted times is also a fix
    instants = [i.at for i in items]
    assert instants == sorted(instants)


def test_gap_longer_than_slot_spacing_keeps_time_order() -> None:
    regimen = CATALOG.get("dimethyl-fumarate").regimen()
    items = expand(
        regimen,
        start=date(2024, 3, 10),
        zone=ZoneInfo("America/New_York"),
        until=date(2024, 3, 10),
        times=[time(2, 30), time(3, 15)],
    )
    by_slot = {i.local_time: i.at.time() for i in items}
    assert by_slot == {time(2, 30): time(3, 30), time(3, 15): time(3, 15)}  # the rule holds
    instants = [i.at for i in items]
    assert instants == sorted(instants)


def test_gap_across_midnight_keeps_time_order() -> None:
    # Nuuk springs forward 23:00 -> 00:00 (-02 -> -01) on the last Saturday of March, so
    # Saturday's 23:30 dose is at Sunday 00:30, after Sunday's 00:15 dose.
    regimen = CATALOG.get("dimethyl-fumarate").regimen()
    items = expand(
        regimen,
        start=date(2024, 3, 30),
        zone=ZoneInfo("America/Nuuk"),
        until=date(2024, 3, 31),
        times=[time(0, 15), time(23, 30)],
    )
    moved = next(i for i in items if i.local_date == date(2024, 3, 30) and i.local_time.hour)
    assert moved.at.isoformat() == "2024-03-31T00:30:00-01:00"  # the rule holds
    instants = [i.at for i in items]
    assert instants == sorted(instants)


def test_three_slots_with_a_gap_keep_time_order() -> None:
    # The catalog allows up to 4 times a day; with 3, slot 0 moved by the gap (02:30 ->
    # 03:30) lands after slot 1 (03:15) while slot 2 (20:00) is still the latest.
    twice = CATALOG.get("dimethyl-fumarate").regimen()
    thrice = replace(twice, times_per_day=3, default_times=(time(8), time(14), time(20)))
    items = expand(
        thrice,
        start=date(2024, 3, 10),
        zone=ZoneInfo("America/New_York"),
        until=date(2024, 3, 10),
        times=[time(2, 30), time(3, 15), time(20)],
    )
    by_slot = {i.local_time: i.at.time() for i in items}
    assert by_slot == {time(2, 30): time(3, 30), time(3, 15): time(3, 15), time(20): time(20)}
    instants = [i.at for i in items]
    assert instants == sorted(instants)
