"""Self-injected therapies reproduce their label facts (shared/reference/ms-therapies.md).

Every expected date and amount below is worked out by hand from the label; 2026-03-02 is a
Monday, so Day 1 = Mon 2 Mar, Day 8 = Mon 9 Mar, Day 15 = Mon 16 Mar, Day 29 = Mon 30 Mar.
"""

from __future__ import annotations

import itertools
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from schedules import Item, OptionError, expand, load_catalog
from tests.schedules.therapy_items import without_newer_checks

CATALOG = load_catalog()
UTC = ZoneInfo("UTC")
MON_2_MAR = date(2026, 3, 2)


def plan(name: str, start: date, until: date, **options: str) -> list[Item]:
    regimen = CATALOG.get(name).regimen(options)
    return without_newer_checks(expand(regimen, start=start, zone=UTC, until=until))


def doses(items: list[Item]) -> list[tuple[date, float]]:
    return [(i.local_date, i.amount) for i in items]


# --- glatiramer acetate (Copaxone, Glatopa) ----------------------------------------------


def test_glatiramer_20_is_20_mg_every_day() -> None:
    items = plan("Copaxone", MON_2_MAR, date(2026, 3, 11), strength="20")
    assert doses(items) == [(date(2026, 3, d), 20) for d in range(2, 12)]
    assert {i.unit for i in items} == {"mg"}
    assert {i.kind for i in items} == {"dose"}


def test_glatiramer_40_defaults_to_the_start_weekday_then_plus_2_and_plus_4_days() -> None:
    # Default strength is 40; a Monday start gives Mon/Wed/Fri.
    items = plan("glatiramer", MON_2_MAR, date(2026, 3, 15))
    assert doses(items) == [
        (date(2026, 3, 2), 40),
        (date(2026, 3, 4), 40),
        (date(2026, 3, 6), 40),
        (date(2026, 3, 9), 40),
        (date(2026, 3, 11), 40),
        (date(2026, 3, 13), 40),
    ]


def test_glatiramer_40_from_a_tuesday_start_is_tue_thu_sat() -> None:
    items = plan("Glatopa", date(2026, 3, 3), date(2026, 3, 14), strength="40")
    assert [i.local_date for i in items] == [
        date(2026, 3, 3),
        date(2026, 3, 5),
        date(2026, 3, 7),
        date(2026, 3, 10),
        date(2026, 3, 12),
        date(2026, 3, 14),
    ]


def test_glatiramer_40_on_chosen_weekdays_mon_wed_fri() -> None:
    # A Tuesday start with Mon/Wed/Fri chosen: the first injection is Wed 4 Mar.
    items = plan("glatiramer", date(2026, 3, 3), date(2026, 3, 16), weekdays="mon,wed,fri")
    assert doses(items) == [
        (date(2026, 3, 4), 40),
        (date(2026, 3, 6), 40),
        (date(2026, 3, 9), 40),
        (date(2026, 3, 11), 40),
        (date(2026, 3, 13), 40),
        (date(2026, 3, 16), 40),
    ]


@pytest.mark.parametrize("weekdays", ["mon,wed,fri", "tue,thu,sat", "sun,tue,thu", "sat,mon,thu"])
def test_glatiramer_40_is_three_a_week_at_least_48_hours_apart(weekdays: str) -> None:
    items = plan("glatiramer", MON_2_MAR, date(2027, 3, 1), weekdays=weekdays)
    gaps = [b.at - a.at for a, b in itertools.pairwise(items)]
    assert min(gaps) >= timedelta(hours=48)
    # 52 full weeks (Mon 2 Mar 2026 to Sun 28 Feb 2027) hold exactly 3 injections each.
    for week in range(52):
        monday = MON_2_MAR + timedelta(weeks=week)
        in_week = [i for i in items if monday <= i.local_date < monday + timedelta(days=7)]
        assert len(in_week) == 3, monday


@pytest.mark.parametrize(
    "weekdays",
    [
        "mon,tue,thu",  # Mon -> Tue
        "sun,mon,wed",  # Sun -> Mon
        "mon,wed,sun",  # Sun -> Mon across the week end
        "fri,sat,tue",  # Fri -> Sat
    ],
)
def test_glatiramer_40_refuses_weekdays_on_consecutive_days(weekdays: str) -> None:
    with pytest.raises(OptionError, match="48 hours"):
        CATALOG.get("glatiramer").regimen({"weekdays": weekdays})


@pytest.mark.parametrize("weekdays", ["mon,wed", "mon,wed,fri,sun", "mon,mon,wed", "mon,wed,fry"])
def test_glatiramer_40_weekdays_must_be_three_different_days(weekdays: str) -> None:
    with pytest.raises(OptionError, match="three different weekdays"):
        CATALOG.get("glatiramer").regimen({"weekdays": weekdays})


def test_glatiramer_strength_other_than_20_or_40_is_refused() -> None:
    with pytest.raises(OptionError, match="valid values: 20, 40"):
        CATALOG.get("glatiramer").regimen({"strength": "30"})


# --- interferon beta-1a IM (Avonex) ------------------------------------------------------


def test_avonex_titrate_yes_is_7_5_then_15_then_22_5_then_30_weekly() -> None:
    items = plan("Avonex", MON_2_MAR, date(2026, 4, 12), titrate="yes")
    assert doses(items) == [
        (date(2026, 3, 2), 7.5),  # Day 1
        (date(2026, 3, 9), 15),  # Day 8
        (date(2026, 3, 16), 22.5),  # Day 15
        (date(2026, 3, 23), 30),  # Day 22
        (date(2026, 3, 30), 30),
        (date(2026, 4, 6), 30),
    ]
    assert [i.day for i in items[:4]] == [1, 8, 15, 22]
    assert {i.unit for i in items} == {"mcg"}


def test_avonex_titrate_no_is_30_mcg_weekly_from_day_1() -> None:
    items = plan("avonex", MON_2_MAR, date(2026, 3, 29))
    assert doses(items) == [
        (date(2026, 3, 2), 30),
        (date(2026, 3, 9), 30),
        (date(2026, 3, 16), 30),
        (date(2026, 3, 23), 30),
    ]


def test_avonex_keeps_the_same_weekday_for_a_year() -> None:
    items = plan("Avonex", date(2026, 3, 5), date(2027, 3, 4), titrate="yes")
    assert {i.local_date.weekday() for i in items} == {3}  # Thursdays
    assert len(items) == 53  # 365 days = 52 weeks + 1 day: Thu 5 Mar 2026 to Thu 4 Mar 2027


# --- interferon beta-1a SC (Rebif) -------------------------------------------------------


def test_rebif_44_titrates_8_8_then_22_then_44() -> None:
    items = plan("Rebif", MON_2_MAR, date(2026, 4, 3))
    assert doses(items) == [
        # Days 1-14 (2-15 Mar): 8.8 mcg
        (date(2026, 3, 2), 8.8),
        (date(2026, 3, 4), 8.8),
        (date(2026, 3, 6), 8.8),
        (date(2026, 3, 9), 8.8),
        (date(2026, 3, 11), 8.8),
        (date(2026, 3, 13), 8.8),
        # Days 15-28 (16-29 Mar): 22 mcg
        (date(2026, 3, 16), 22),
        (date(2026, 3, 18), 22),
        (date(2026, 3, 20), 22),
        (date(2026, 3, 23), 22),
        (date(2026, 3, 25), 22),
        (date(2026, 3, 27), 22),
        # Day 29 (30 Mar) on: 44 mcg
        (date(2026, 3, 30), 44),
        (date(2026, 4, 1), 44),
        (date(2026, 4, 3), 44),
    ]


def test_rebif_22_titrates_4_4_then_11_then_22_on_chosen_weekdays() -> None:
    # Thursday 5 Mar start, Tue/Thu/Sat: Day 15 = Thu 19 Mar, Day 29 = Thu 2 Apr.
    items = plan("Rebif", date(2026, 3, 5), date(2026, 4, 4), target="22", weekdays="tue,thu,sat")
    assert doses(items) == [
        (date(2026, 3, 5), 4.4),
        (date(2026, 3, 7), 4.4),
        (date(2026, 3, 10), 4.4),
        (date(2026, 3, 12), 4.4),
        (date(2026, 3, 14), 4.4),
        (date(2026, 3, 17), 4.4),
        (date(2026, 3, 19), 11),
        (date(2026, 3, 21), 11),
        (date(2026, 3, 24), 11),
        (date(2026, 3, 26), 11),
        (date(2026, 3, 28), 11),
        (date(2026, 3, 31), 11),
        (date(2026, 4, 2), 22),
        (date(2026, 4, 4), 22),
    ]


def test_rebif_is_given_in_the_evening_at_least_48_hours_apart() -> None:
    items = plan("Rebif", MON_2_MAR, date(2026, 12, 31))
    assert {i.local_time for i in items} == {time(19, 0)}
    gaps = [b.at - a.at for a, b in itertools.pairwise(items)]
    assert min(gaps) == timedelta(hours=48)


def test_rebif_refuses_weekdays_on_consecutive_days() -> None:
    with pytest.raises(OptionError, match="consecutive days"):
        CATALOG.get("Rebif").regimen({"weekdays": "mon,tue,thu"})


def test_rebif_target_other_than_22_or_44_is_refused() -> None:
    with pytest.raises(OptionError, match="valid values: 22, 44"):
        CATALOG.get("Rebif").regimen({"target": "33"})


# --- interferon beta-1b (Betaseron, Extavia) ---------------------------------------------


def test_betaseron_titrates_every_other_day_to_0_25_mg_from_day_43() -> None:
    items = plan("Betaseron", MON_2_MAR, date(2026, 4, 17))
    expected = (
        [(MON_2_MAR + timedelta(days=2 * k), 0.0625) for k in range(7)]  # Days 1-13
        + [(MON_2_MAR + timedelta(days=14 + 2 * k), 0.125) for k in range(7)]  # Days 15-27
        + [(MON_2_MAR + timedelta(days=28 + 2 * k), 0.1875) for k in range(7)]  # Days 29-41
        + [(date(2026, 4, 13), 0.25), (date(2026, 4, 15), 0.25), (date(2026, 4, 17), 0.25)]
    )
    assert doses(items) == expected
    assert (items[7].local_date, items[14].local_date, items[21].local_date) == (
        date(2026, 3, 16),  # Day 15: weeks 3-4 start
        date(2026, 3, 30),  # Day 29: weeks 5-6 start
        date(2026, 4, 13),  # Day 43: full dose
    )
    assert items[21].day == 43


def test_betaseron_is_never_given_on_consecutive_days() -> None:
    items = plan("Extavia", date(2026, 1, 31), date(2027, 1, 30))
    gaps = {(b.local_date - a.local_date).days for a, b in itertools.pairwise(items)}
    assert gaps == {2}
    assert len(items) == 183  # 365 days, every other day from Day 1


# --- ofatumumab (Kesimpta) ---------------------------------------------------------------


def test_kesimpta_loads_on_days_1_8_15_then_monthly_from_day_29_without_month_end_drift() -> None:
    # Sat 3 Jan 2026 start puts Day 29 on 31 Jan: later doses fall on each month's last
    # day (28 Feb, then back to the 31st in March), never drifting to the 28th.
    items = plan("Kesimpta", date(2026, 1, 3), date(2026, 12, 31))
    assert doses(items) == [
        (date(2026, 1, 3), 20),
        (date(2026, 1, 10), 20),
        (date(2026, 1, 17), 20),
        (date(2026, 1, 31), 20),
        (date(2026, 2, 28), 20),
        (date(2026, 3, 31), 20),
        (date(2026, 4, 30), 20),
        (date(2026, 5, 31), 20),
        (date(2026, 6, 30), 20),
        (date(2026, 7, 31), 20),
        (date(2026, 8, 31), 20),
        (date(2026, 9, 30), 20),
        (date(2026, 10, 31), 20),
        (date(2026, 11, 30), 20),
        (date(2026, 12, 31), 20),
    ]
    assert [i.day for i in items[:4]] == [1, 8, 15, 29]
    assert [i.phase for i in items[:4]] == ["loading", "loading", "loading", "maintenance"]


def test_kesimpta_monthly_from_day_29_mid_month() -> None:
    items = plan("ofatumumab", MON_2_MAR, date(2026, 7, 31))
    assert [i.local_date for i in items] == [
        date(2026, 3, 2),
        date(2026, 3, 9),
        date(2026, 3, 16),
        date(2026, 3, 30),
        date(2026, 4, 30),
        date(2026, 5, 30),
        date(2026, 6, 30),
        date(2026, 7, 30),
    ]


# --- peginterferon beta-1a (Plegridy) ----------------------------------------------------


def test_plegridy_is_63_then_94_then_125_every_14_days() -> None:
    items = plan("Plegridy", MON_2_MAR, date(2026, 5, 11))
    assert doses(items) == [
        (date(2026, 3, 2), 63),  # Day 1
        (date(2026, 3, 16), 94),  # Day 15
        (date(2026, 3, 30), 125),  # Day 29
        (date(2026, 4, 13), 125),
        (date(2026, 4, 27), 125),
        (date(2026, 5, 11), 125),
    ]
    assert {i.unit for i in items} == {"mcg"}


def test_plegridy_never_gives_two_doses_within_7_days() -> None:
    items = plan("Plegridy", date(2026, 1, 31), date(2027, 1, 31))
    gaps = {(b.local_date - a.local_date).days for a, b in itertools.pairwise(items)}
    assert gaps == {14}
