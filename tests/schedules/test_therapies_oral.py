"""Oral therapies reproduce their label facts (shared/reference/ms-therapies.md), and a
daily dose keeps its wall-clock time through DST changes in any zone.

Every expected date and amount is worked out by hand; 2026-03-02 is a Monday.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from schedules import Item, OptionError, expand, load_catalog
from tests.schedules.therapy_items import without_newer_checks

CATALOG = load_catalog()
UTC_ZONE = ZoneInfo("UTC")
MON_2_MAR = date(2026, 3, 2)


def plan(
    name: str,
    start: date,
    until: date,
    *,
    zone: ZoneInfo = UTC_ZONE,
    times: list[time] | None = None,
    **options: str,
) -> list[Item]:
    regimen = CATALOG.get(name).regimen(options)
    return without_newer_checks(expand(regimen, start=start, zone=zone, until=until, times=times))


def days(start: date, n: int) -> list[date]:
    return [start + timedelta(days=k) for k in range(n)]


def doses(items: list[Item]) -> list[Item]:
    return [i for i in items if i.kind == "dose"]


def monitoring(items: list[Item]) -> list[Item]:
    return [i for i in items if i.kind == "monitoring"]


# --- fumarates: twice daily, 7 titration days then maintenance ---------------------------


@pytest.mark.parametrize(
    ("name", "titration", "maintenance"),
    [("Tecfidera", 120, 240), ("Vumerity", 231, 462), ("Bafiertam", 95, 190)],
)
def test_fumarate_is_twice_daily_titration_days_1_to_7_then_maintenance(
    name: str, titration: float, maintenance: float
) -> None:
    items = plan(name, MON_2_MAR, date(2026, 3, 10))  # Days 1-9
    expected = []
    for d in days(MON_2_MAR, 9):
        amount = titration if d <= date(2026, 3, 8) else maintenance  # Day 8 = 9 Mar
        expected += [(d, time(8, 0), amount), (d, time(20, 0), amount)]
    assert [(i.local_date, i.local_time, i.amount) for i in items] == expected
    assert [i.phase for i in items[13:16]] == ["titration", "maintenance", "maintenance"]
    assert {i.unit for i in items} == {"mg"}


def test_tecfidera_keeps_times_the_patient_chooses() -> None:
    items = plan("Tecfidera", MON_2_MAR, MON_2_MAR, times=[time(7, 30), time(19, 45)])
    assert [i.local_time for i in items] == [time(7, 30), time(19, 45)]


def test_tecfidera_refuses_one_time_for_a_twice_daily_dose() -> None:
    regimen = CATALOG.get("Tecfidera").regimen()
    with pytest.raises(ValueError, match="2 time"):
        expand(regimen, start=MON_2_MAR, zone=UTC_ZONE, until=MON_2_MAR, times=[time(8, 0)])


# --- fingolimod (Gilenya) ----------------------------------------------------------------


def test_gilenya_is_0_5_mg_daily_with_a_day_1_first_dose_observation() -> None:
    items = plan("Gilenya", MON_2_MAR, date(2026, 3, 6), times=[time(8, 15)])
    assert [(i.local_date, i.amount) for i in doses(items)] == [
        (d, 0.5) for d in days(MON_2_MAR, 5)
    ]
    (observation,) = monitoring(items)
    assert observation.local_date == MON_2_MAR
    assert observation.day == 1
    assert observation.local_time == time(8, 15)  # with the first dose, in clinic
    assert "observation" in observation.label.lower()
    assert items[0] is observation  # listed before the dose it observes


# --- ponesimod (Ponvory) -----------------------------------------------------------------


def test_ponvory_titrates_2_to_10_mg_over_14_days_then_20_mg_from_day_15() -> None:
    items = plan("Ponvory", MON_2_MAR, date(2026, 3, 18))  # Days 1-17
    titration = [2, 2, 3, 3, 4, 4, 5, 6, 7, 8, 9, 10, 10, 10]
    assert [i.amount for i in items] == [*titration, 20, 20, 20]
    assert [i.local_date for i in items] == days(MON_2_MAR, 17)
    assert (items[14].local_date, items[14].day) == (date(2026, 3, 16), 15)


# --- siponimod (Mayzent) -----------------------------------------------------------------


@pytest.mark.parametrize("genotype", ["*1/*1", "*1/*2", "*2/*2"])
def test_mayzent_titrates_5_days_then_2_mg_from_day_6(genotype: str) -> None:
    items = plan("Mayzent", MON_2_MAR, date(2026, 3, 9), cyp2c9=genotype)
    assert [(i.local_date, i.amount) for i in items] == [
        (date(2026, 3, 2), 0.25),
        (date(2026, 3, 3), 0.25),
        (date(2026, 3, 4), 0.5),
        (date(2026, 3, 5), 0.75),
        (date(2026, 3, 6), 1.25),
        (date(2026, 3, 7), 2),  # Day 6
        (date(2026, 3, 8), 2),
        (date(2026, 3, 9), 2),
    ]


@pytest.mark.parametrize("genotype", ["*1/*3", "*2/*3"])
def test_mayzent_1_3_titrates_4_days_then_1_mg_from_day_5(genotype: str) -> None:
    items = plan("Mayzent", MON_2_MAR, date(2026, 3, 8), cyp2c9=genotype)
    assert [(i.local_date, i.amount) for i in items] == [
        (date(2026, 3, 2), 0.25),
        (date(2026, 3, 3), 0.25),
        (date(2026, 3, 4), 0.5),
        (date(2026, 3, 5), 0.75),
        (date(2026, 3, 6), 1),  # Day 5
        (date(2026, 3, 7), 1),
        (date(2026, 3, 8), 1),
    ]
    assert 1.25 not in [i.amount for i in items]


def test_mayzent_3_3_is_refused_as_contraindicated() -> None:
    with pytest.raises(OptionError, match="contraindicated"):
        CATALOG.get("Mayzent").regimen({"cyp2c9": "*3/*3"})


def test_mayzent_without_a_genotype_asks_for_one() -> None:
    with pytest.raises(OptionError, match="cyp2c9"):
        CATALOG.get("siponimod").regimen({})


# --- teriflunomide (Aubagio) -------------------------------------------------------------


@pytest.mark.parametrize("strength", ["7", "14"])
def test_aubagio_is_its_strength_once_daily(strength: str) -> None:
    items = doses(plan("Aubagio", MON_2_MAR, date(2026, 3, 31), strength=strength))
    assert [(i.local_date, i.amount) for i in items] == [
        (d, float(strength)) for d in days(MON_2_MAR, 30)
    ]


def test_aubagio_defaults_to_14_mg_and_refuses_other_strengths() -> None:
    assert doses(plan("Aubagio", MON_2_MAR, MON_2_MAR))[0].amount == 14
    with pytest.raises(OptionError, match="valid values: 7, 14"):
        CATALOG.get("Aubagio").regimen({"strength": "10"})


def test_aubagio_alt_is_monthly_for_the_first_6_months_only() -> None:
    items = plan("teriflunomide", MON_2_MAR, date(2028, 3, 1))
    alt = monitoring(items)
    assert [i.local_date for i in alt] == [
        date(2026, 4, 2),
        date(2026, 5, 2),
        date(2026, 6, 2),
        date(2026, 7, 2),
        date(2026, 8, 2),
        date(2026, 9, 2),
    ]
    assert all("ALT" in i.label for i in alt)


def test_aubagio_alt_from_a_month_end_start_stays_on_month_ends() -> None:
    # Start 31 Jan: 28 Feb, then 31 Mar (not 28 Mar), 30 Apr, 31 May, 30 Jun, 31 Jul.
    alt = monitoring(plan("Aubagio", date(2026, 1, 31), date(2027, 1, 31)))
    assert [i.local_date for i in alt] == [
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 31),
        date(2026, 6, 30),
        date(2026, 7, 31),
    ]


# --- ozanimod (Zeposia) ------------------------------------------------------------------


def test_zeposia_is_0_23_for_4_days_0_46_for_3_then_0_92_from_day_8() -> None:
    items = plan("Zeposia", MON_2_MAR, date(2026, 3, 11))  # Days 1-10
    assert [(i.local_date, i.amount) for i in items] == [
        (date(2026, 3, 2), 0.23),
        (date(2026, 3, 3), 0.23),
        (date(2026, 3, 4), 0.23),
        (date(2026, 3, 5), 0.23),
        (date(2026, 3, 6), 0.46),
        (date(2026, 3, 7), 0.46),
        (date(2026, 3, 8), 0.46),
        (date(2026, 3, 9), 0.92),  # Day 8
        (date(2026, 3, 10), 0.92),
        (date(2026, 3, 11), 0.92),
    ]


# --- cladribine (Mavenclad) --------------------------------------------------------------


def cycles(items: list[Item]) -> dict[str, list[Item]]:
    out: dict[str, list[Item]] = {}
    for i in doses(items):
        out.setdefault(i.phase, []).append(i)
    return out


def tablets(run: list[Item]) -> int:
    return round(sum(i.amount for i in run) / 10)


@pytest.mark.parametrize(
    ("weight", "cycle1", "cycle2"),
    [
        ("40", 4, 4),
        ("49.9", 4, 4),
        ("50", 5, 5),
        ("59.9", 5, 5),
        ("60", 6, 6),
        ("69.9", 6, 6),
        ("70", 7, 7),
        ("79.9", 7, 7),
        ("80", 8, 7),
        ("89.9", 8, 7),
        ("90", 9, 8),
        ("99.9", 9, 8),
        ("100", 10, 9),
        ("109.9", 10, 9),
        ("110", 10, 10),
        ("120", 10, 10),
    ],
)
def test_cladribine_tablets_per_cycle_follow_the_weight_bands(
    weight: str, cycle1: int, cycle2: int
) -> None:
    runs = cycles(plan("Mavenclad", MON_2_MAR, date(2027, 12, 31), weight_kg=weight))
    assert tablets(runs["course 1 cycle 1"]) == cycle1
    assert tablets(runs["course 1 cycle 2"]) == cycle2
    assert tablets(runs["course 2 cycle 1"]) == cycle1
    assert tablets(runs["course 2 cycle 2"]) == cycle2


@pytest.mark.parametrize(
    ("weight", "per_day"),
    [
        ("45", [1, 1, 1, 1]),  # 4 tablets
        ("55", [1, 1, 1, 1, 1]),  # 5
        ("65", [2, 1, 1, 1, 1]),  # 6
        ("75", [2, 2, 1, 1, 1]),  # 7
        ("85", [2, 2, 2, 1, 1]),  # 8
        ("95", [2, 2, 2, 2, 1]),  # 9
        ("105", [2, 2, 2, 2, 2]),  # 10
    ],
)
def test_cladribine_splits_a_cycle_into_consecutive_days_of_1_or_2_tablets(
    weight: str, per_day: list[int]
) -> None:
    run = cycles(plan("cladribine", MON_2_MAR, date(2026, 3, 20), weight_kg=weight))
    first = run["course 1 cycle 1"]
    assert [(i.local_date, i.amount) for i in first] == [
        (MON_2_MAR + timedelta(days=k), 10 * n) for k, n in enumerate(per_day)
    ]


def test_cladribine_two_courses_of_two_cycles_with_their_windows_and_nothing_after() -> None:
    # 85 kg: 8 tablets (2-2-2-1-1) in cycle 1, 7 (2-2-1-1-1) in cycle 2.
    items = plan("Mavenclad", MON_2_MAR, date(2031, 12, 31), weight_kg="85")
    runs = cycles(items)
    mg = [(i.local_date, i.amount) for i in doses(items)]
    assert mg == [
        # course 1 cycle 1: Days 1-5
        (date(2026, 3, 2), 20),
        (date(2026, 3, 3), 20),
        (date(2026, 3, 4), 20),
        (date(2026, 3, 5), 10),
        (date(2026, 3, 6), 10),
        # course 1 cycle 2: 23 days after the last dose of cycle 1 (6 Mar + 23 = 29 Mar)
        (date(2026, 3, 29), 20),
        (date(2026, 3, 30), 20),
        (date(2026, 3, 31), 10),
        (date(2026, 4, 1), 10),
        (date(2026, 4, 2), 10),
        # course 2 cycle 1: 43 weeks (301 days) after 2 Apr 2026 = 28 Jan 2027
        (date(2027, 1, 28), 20),
        (date(2027, 1, 29), 20),
        (date(2027, 1, 30), 20),
        (date(2027, 1, 31), 10),
        (date(2027, 2, 1), 10),
        # course 2 cycle 2: 1 Feb + 23 days = 24 Feb 2027
        (date(2027, 2, 24), 20),
        (date(2027, 2, 25), 20),
        (date(2027, 2, 26), 10),
        (date(2027, 2, 27), 10),
        (date(2027, 2, 28), 10),
    ]
    c1c2 = runs["course 1 cycle 2"][0]
    assert (c1c2.earliest, c1c2.latest) == (date(2026, 3, 29), date(2026, 4, 2))  # 23-27 days
    c2c1 = runs["course 2 cycle 1"][0]
    assert c2c1.earliest == date(2027, 1, 28)  # never before 43 weeks
    c2c2 = runs["course 2 cycle 2"][0]
    assert (c2c2.earliest, c2c2.latest) == (date(2027, 2, 24), date(2027, 2, 28))
    # Lymphocyte counts 2 and 6 months after each course start; then nothing at all.
    assert [i.local_date for i in monitoring(items)] == [
        date(2026, 5, 2),
        date(2026, 9, 2),
        date(2027, 3, 28),
        date(2027, 7, 28),
    ]
    assert max(i.local_date for i in items) == date(2027, 7, 28)


@pytest.mark.parametrize("weight", ["39.9", "20", "0"])
def test_cladribine_refuses_a_weight_under_40_kg(weight: str) -> None:
    with pytest.raises(OptionError, match="weight_kg"):
        CATALOG.get("cladribine").regimen({"weight_kg": weight})


def test_cladribine_needs_a_weight() -> None:
    with pytest.raises(OptionError, match="weight_kg"):
        CATALOG.get("Mavenclad").regimen({})


# --- DST: a daily dose keeps its wall-clock time, never skipped or doubled ----------------


def daily_at(zone: str, first: date, last: date, at: time) -> list[Item]:
    return doses(plan("Aubagio", first, last, zone=ZoneInfo(zone), times=[at]))


def stamps(items: list[Item]) -> list[str]:
    return [i.at.isoformat() for i in items]


def test_dst_spring_forward_new_york_moves_0230_to_0330_on_that_day_only() -> None:
    # Clocks jump 02:00 EST -> 03:00 EDT on Sun 8 Mar 2026.
    items = daily_at("America/New_York", date(2026, 3, 7), date(2026, 3, 9), time(2, 30))
    assert stamps(items) == [
        "2026-03-07T02:30:00-05:00",
        "2026-03-08T03:30:00-04:00",
        "2026-03-09T02:30:00-04:00",
    ]
    assert [i.local_time for i in items] == [time(2, 30)] * 3  # the time asked for


def test_dst_fall_back_new_york_takes_the_first_0130_once() -> None:
    # Clocks fall back 02:00 EDT -> 01:00 EST on Sun 1 Nov 2026: 01:30 happens twice.
    items = daily_at("America/New_York", date(2026, 10, 31), date(2026, 11, 2), time(1, 30))
    assert stamps(items) == [
        "2026-10-31T01:30:00-04:00",
        "2026-11-01T01:30:00-04:00",  # the first (EDT) instant, 05:30 UTC
        "2026-11-02T01:30:00-05:00",
    ]
    assert items[1].at.astimezone(UTC) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


def test_dst_a_year_in_new_york_has_one_dose_a_day() -> None:
    items = daily_at("America/New_York", date(2026, 1, 1), date(2026, 12, 31), time(2, 30))
    assert [i.local_date for i in items] == days(date(2026, 1, 1), 365)
    instants = [i.at.astimezone(UTC) for i in items]
    assert len(set(instants)) == 365


def test_dst_lord_howe_30_minute_shift() -> None:
    # Lord Howe: +11:00 in summer, +10:30 in winter. Fall back 02:00 -> 01:30 on Sun
    # 5 Apr 2026 (01:45 happens twice); spring forward 02:00 -> 02:30 on Sun 4 Oct 2026.
    autumn = daily_at("Australia/Lord_Howe", date(2026, 4, 4), date(2026, 4, 6), time(1, 45))
    assert stamps(autumn) == [
        "2026-04-04T01:45:00+11:00",
        "2026-04-05T01:45:00+11:00",
        "2026-04-06T01:45:00+10:30",
    ]
    spring = daily_at("Australia/Lord_Howe", date(2026, 10, 3), date(2026, 10, 5), time(2, 15))
    assert stamps(spring) == [
        "2026-10-03T02:15:00+10:30",
        "2026-10-04T02:45:00+11:00",  # forward by the 30-minute gap
        "2026-10-05T02:15:00+11:00",
    ]


def test_dst_kathmandu_plus_0545_all_year() -> None:
    items = daily_at("Asia/Kathmandu", date(2026, 1, 1), date(2026, 12, 31), time(9, 0))
    assert {i.at.isoformat()[10:] for i in items} == {"T09:00:00+05:45"}
    assert items[0].at.astimezone(UTC) == datetime(2026, 1, 1, 3, 15, tzinfo=UTC)


def test_dst_sydney_southern_hemisphere() -> None:
    # Sydney: AEDT +11:00 until Sun 5 Apr 2026 03:00 -> 02:00 AEST +10:00; back to AEDT
    # on Sun 4 Oct 2026 02:00 -> 03:00.
    autumn = daily_at("Australia/Sydney", date(2026, 4, 4), date(2026, 4, 6), time(2, 30))
    assert stamps(autumn) == [
        "2026-04-04T02:30:00+11:00",
        "2026-04-05T02:30:00+11:00",  # ambiguous: the first instant
        "2026-04-06T02:30:00+10:00",
    ]
    spring = daily_at("Australia/Sydney", date(2026, 10, 3), date(2026, 10, 5), time(2, 30))
    assert stamps(spring) == [
        "2026-10-03T02:30:00+10:00",
        "2026-10-04T03:30:00+11:00",
        "2026-10-05T02:30:00+11:00",
    ]
    # Midwinter (July) is standard time in the south.
    july = daily_at("Australia/Sydney", date(2026, 7, 1), date(2026, 7, 1), time(9, 0))
    assert stamps(july) == ["2026-07-01T09:00:00+10:00"]


def test_dst_twice_daily_doses_stay_in_order_across_spring_forward() -> None:
    items = plan(
        "Tecfidera",
        date(2026, 3, 7),
        date(2026, 3, 9),
        zone=ZoneInfo("America/New_York"),
        times=[time(2, 30), time(14, 30)],
    )
    assert stamps(items) == [
        "2026-03-07T02:30:00-05:00",
        "2026-03-07T14:30:00-05:00",
        "2026-03-08T03:30:00-04:00",
        "2026-03-08T14:30:00-04:00",
        "2026-03-09T02:30:00-04:00",
        "2026-03-09T14:30:00-04:00",
    ]
