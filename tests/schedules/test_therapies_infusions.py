"""Infusions and clinic-given therapies reproduce their label facts
(shared/reference/ms-therapies.md): dates, amounts, allowed windows and monitoring.

Every expected date is worked out by hand; 2026-03-02 is a Monday.
"""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from schedules import Item, expand, load_catalog
from schedules.localtime import add_months
from tests.schedules.therapy_items import without_newer_checks

CATALOG = load_catalog()
UTC = ZoneInfo("UTC")
MON_2_MAR = date(2026, 3, 2)


def plan(name: str, start: date, until: date, **options: str) -> list[Item]:
    regimen = CATALOG.get(name).regimen(options)
    return without_newer_checks(expand(regimen, start=start, zone=UTC, until=until))


def given(items: list[Item]) -> list[Item]:
    return [i for i in items if i.kind != "monitoring"]


def checks(items: list[Item], word: str) -> list[date]:
    return [i.local_date for i in items if i.kind == "monitoring" and word in i.label]


# --- alemtuzumab (Lemtrada) --------------------------------------------------------------


def test_lemtrada_course_1_days_1_to_5_course_2_three_days_12_months_later() -> None:
    items = given(plan("Lemtrada", MON_2_MAR, date(2029, 12, 31)))
    assert [(i.local_date, i.amount, i.phase) for i in items] == [
        (date(2026, 3, 2), 12, "course 1"),
        (date(2026, 3, 3), 12, "course 1"),
        (date(2026, 3, 4), 12, "course 1"),
        (date(2026, 3, 5), 12, "course 1"),
        (date(2026, 3, 6), 12, "course 1"),
        # 12 months after the last infusion of course 1 (6 Mar 2026)
        (date(2027, 3, 6), 12, "course 2"),
        (date(2027, 3, 7), 12, "course 2"),
        (date(2027, 3, 8), 12, "course 2"),
    ]
    assert {i.kind for i in items} == {"infusion"}
    assert items[5].earliest == date(2027, 3, 6)  # never sooner than 12 months


def test_lemtrada_rems_labs_monthly_until_48_months_after_the_last_infusion() -> None:
    # Last infusion 8 Mar 2027 -> REMS runs to 8 Mar 2031.
    items = plan("alemtuzumab", MON_2_MAR, date(2032, 12, 31))
    cbc = checks(items, "CBC")
    assert cbc == [add_months(date(2026, 4, 2), k) for k in range(60)]
    assert (cbc[0], cbc[-1]) == (date(2026, 4, 2), date(2031, 3, 2))
    thyroid = checks(items, "Thyroid")
    assert thyroid == [add_months(date(2026, 6, 2), 3 * k) for k in range(20)]
    assert thyroid[-1] == date(2031, 3, 2)
    assert checks(items, "Skin") == [date(y, 3, 2) for y in range(2027, 2032)]
    assert max(i.local_date for i in items) == date(2031, 3, 2)


def test_lemtrada_rems_labs_from_a_month_end_start_do_not_drift() -> None:
    items = plan("Lemtrada", date(2026, 1, 31), date(2026, 8, 31))
    assert checks(items, "CBC") == [
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 31),
        date(2026, 6, 30),
        date(2026, 7, 31),
        date(2026, 8, 31),
    ]


# --- mitoxantrone ------------------------------------------------------------------------


MITOXANTRONE_DOSES = [
    date(2026, 1, 31),
    date(2026, 4, 30),
    date(2026, 7, 31),
    date(2026, 10, 31),
    date(2027, 1, 31),
    date(2027, 4, 30),
    date(2027, 7, 31),
    date(2027, 10, 31),
    date(2028, 1, 31),
    date(2028, 4, 30),
    date(2028, 7, 31),
]


def test_mitoxantrone_12_mg_m2_every_3_months_stops_at_11_doses_under_the_140_cap() -> None:
    # 11 x 12 = 132 mg/m2; a 12th dose would make 144 > 140.
    items = given(plan("mitoxantrone", date(2026, 1, 31), date(2036, 1, 31)))
    assert [(i.local_date, i.amount) for i in items] == [(d, 12) for d in MITOXANTRONE_DOSES]
    assert {i.unit for i in items} == {"mg/m2"}
    assert sum(i.amount for i in items) == 132


def test_mitoxantrone_lvef_is_checked_a_week_before_each_later_dose() -> None:
    items = plan("Novantrone", date(2026, 1, 31), date(2036, 1, 31))
    assert checks(items, "LVEF")[1:] == [d - timedelta(days=7) for d in MITOXANTRONE_DOSES[1:]]


def test_mitoxantrone_lvef_before_the_first_dose_is_on_day_1_before_the_infusion() -> None:
    items = plan("mitoxantrone", date(2026, 1, 31), date(2036, 1, 31))
    assert len(checks(items, "LVEF")) == 11
    assert checks(items, "LVEF")[0] == date(2026, 1, 31)
    first_check = next(i for i in items if "LVEF" in i.label)
    first_dose = next(i for i in items if i.kind == "infusion")
    assert first_check.at <= first_dose.at and items.index(first_check) < items.index(first_dose)


# --- ocrelizumab IV (Ocrevus) ------------------------------------------------------------


def test_ocrevus_300_day_1_300_day_15_then_600_every_6_months_from_day_1() -> None:
    items = given(plan("Ocrevus", MON_2_MAR, date(2027, 9, 30)))
    assert [(i.local_date, i.amount) for i in items] == [
        (date(2026, 3, 2), 300),
        (date(2026, 3, 16), 300),  # Day 15
        (date(2026, 9, 2), 600),  # 6 months after Day 1
        (date(2027, 3, 2), 600),
        (date(2027, 9, 2), 600),
    ]
    windows = [(i.earliest, i.latest) for i in items]
    assert windows == [
        (None, None),
        (None, None),
        (date(2026, 8, 16), date(2026, 10, 2)),  # >= 5 months after 16 Mar
        (date(2027, 2, 2), date(2027, 4, 2)),  # >= 5 months after 2 Sep
        (date(2027, 8, 2), date(2027, 10, 2)),
    ]


def test_ocrevus_from_a_month_end_start_keeps_to_the_31st() -> None:
    # 31 Mar start: 30 Sep, then 31 Mar again (not 30 Mar: no drift from the clamped date).
    items = given(plan("ocrelizumab", date(2026, 3, 31), date(2028, 3, 31)))
    assert [i.local_date for i in items if i.amount == 600] == [
        date(2026, 9, 30),
        date(2027, 3, 31),
        date(2027, 9, 30),
        date(2028, 3, 31),
    ]
    assert [(i.earliest, i.latest) for i in items if i.amount == 600] == [
        (date(2026, 9, 14), date(2026, 10, 30)),
        (date(2027, 2, 28), date(2027, 4, 30)),
        (date(2027, 8, 31), date(2027, 10, 30)),
        (date(2028, 2, 29), date(2028, 4, 30)),  # 2028 is a leap year
    ]


def test_ocrevus_windows_never_open_sooner_than_5_months_after_the_previous_dose() -> None:
    items = given(plan("Ocrevus", date(2026, 8, 31), date(2036, 8, 31)))
    for previous, item in itertools.pairwise(items):
        if item.earliest is not None:
            assert item.earliest >= add_months(previous.local_date, 5)
            assert item.earliest <= item.local_date <= (item.latest or item.local_date)


# --- ocrelizumab SC (Ocrevus Zunovo) -----------------------------------------------------


def test_ocrevus_zunovo_is_920_mg_every_6_months_with_no_split_first_dose() -> None:
    items = given(plan("Ocrevus Zunovo", date(2026, 8, 31), date(2028, 8, 31)))
    assert [(i.local_date, i.amount) for i in items] == [
        (date(2026, 8, 31), 920),
        (date(2027, 2, 28), 920),
        (date(2027, 8, 31), 920),
        (date(2028, 2, 29), 920),
        (date(2028, 8, 31), 920),
    ]
    assert items[1].earliest == date(2027, 1, 31)  # 5 months after 31 Aug


# --- natalizumab (Tysabri) ---------------------------------------------------------------


def test_tysabri_is_300_mg_every_28_days_with_jcv_every_6_months() -> None:
    items = plan("Tysabri", MON_2_MAR, date(2027, 3, 2))
    infusions = given(items)
    assert [i.local_date for i in infusions][:8] == [
        date(2026, 3, 2),
        date(2026, 3, 30),
        date(2026, 4, 27),
        date(2026, 5, 25),
        date(2026, 6, 22),
        date(2026, 7, 20),
        date(2026, 8, 17),
        date(2026, 9, 14),
    ]
    assert {i.amount for i in infusions} == {300}
    assert len(infusions) == 14  # 364 days / 28 + Day 1
    assert checks(items, "JCV") == [date(2026, 9, 2), date(2027, 3, 2)]


def test_tysabri_jcv_from_a_month_end_start_does_not_drift() -> None:
    items = plan("natalizumab", date(2026, 8, 31), date(2028, 3, 1))
    assert checks(items, "JCV") == [date(2027, 2, 28), date(2027, 8, 31), date(2028, 2, 29)]


# --- ublituximab (Briumvi) ---------------------------------------------------------------


def test_briumvi_150_day_1_450_day_15_then_450_every_24_weeks_from_day_1() -> None:
    items = given(plan("Briumvi", MON_2_MAR, date(2027, 7, 31)))
    assert [(i.local_date, i.amount) for i in items] == [
        (date(2026, 3, 2), 150),
        (date(2026, 3, 16), 450),  # Day 15
        (date(2026, 8, 17), 450),  # Day 1 + 168 days
        (date(2027, 2, 1), 450),  # Day 1 + 336 days
        (date(2027, 7, 19), 450),  # Day 1 + 504 days
    ]
    assert (items[2].earliest, items[2].latest) == (date(2026, 8, 16), date(2026, 9, 14))
    assert (items[3].earliest, items[3].latest) == (date(2027, 1, 17), date(2027, 3, 1))
