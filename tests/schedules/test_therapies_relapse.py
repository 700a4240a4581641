"""Relapse courses reproduce their facts (shared/reference/ms-therapies.md): course length,
daily amount and spacing, and the options' ranges. 2026-03-02 is a Monday."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from schedules import Item, OptionError, expand, load_catalog

CATALOG = load_catalog()
UTC = ZoneInfo("UTC")
MON_2_MAR = date(2026, 3, 2)
# Far enough that any course would show whatever it gives after its last day.
LATER = date(2026, 6, 30)


def plan(name: str, **options: str) -> list[Item]:
    regimen = CATALOG.get(name).regimen(options)
    return expand(regimen, start=MON_2_MAR, zone=UTC, until=LATER)


def run(start: date, n: int, step: int = 1) -> list[date]:
    return [start + timedelta(days=step * k) for k in range(n)]


# --- methylprednisolone IV (Solu-Medrol) -------------------------------------------------


@pytest.mark.parametrize("days", [3, 4, 5])
def test_methylprednisolone_is_1000_mg_a_day_for_the_chosen_days(days: int) -> None:
    items = plan("Solu-Medrol", days=str(days))
    assert [(i.local_date, i.amount) for i in items] == [(d, 1000) for d in run(MON_2_MAR, days)]
    assert {(i.unit, i.kind) for i in items} == {("mg", "infusion")}


def test_methylprednisolone_defaults_to_5_days() -> None:
    items = plan("methylprednisolone")
    assert [i.local_date for i in items] == run(MON_2_MAR, 5)


@pytest.mark.parametrize("days", ["2", "6", "3.5", "three"])
def test_methylprednisolone_refuses_a_course_outside_3_to_5_days(days: str) -> None:
    with pytest.raises(OptionError, match="from 3 to 5"):
        CATALOG.get("Solu-Medrol").regimen({"days": days})


# --- prednisone (Deltasone) --------------------------------------------------------------


def test_prednisone_pulse_is_1250_mg_daily_for_5_days_by_default() -> None:
    items = plan("Deltasone")
    assert [(i.local_date, i.amount) for i in items] == [(d, 1250) for d in run(MON_2_MAR, 5)]


def test_prednisone_pulse_for_3_days() -> None:
    items = plan("prednisone", course="pulse", days="3")
    assert [(i.local_date, i.amount) for i in items] == [
        (date(2026, 3, 2), 1250),
        (date(2026, 3, 3), 1250),
        (date(2026, 3, 4), 1250),
    ]


def test_prednisone_label_course_is_200_mg_for_7_days_then_80_mg_every_other_day() -> None:
    items = plan("Deltasone", course="label")
    week = [(d, 200.0) for d in run(date(2026, 3, 2), 7)]  # 2-8 Mar
    month = [(d, 80.0) for d in run(date(2026, 3, 9), 15, step=2)]  # 9 Mar - 6 Apr
    assert [(i.local_date, i.amount) for i in items] == week + month
    assert month[-1][0] == date(2026, 4, 6)
    assert [i.phase for i in items[6:8]] == ["relapse course", "taper"]


def test_prednisone_refuses_an_unknown_course() -> None:
    with pytest.raises(OptionError, match="valid values: pulse, label"):
        CATALOG.get("prednisone").regimen({"course": "taper"})


# --- repository corticotropin (H.P. Acthar Gel) ------------------------------------------


def test_acthar_defaults_to_80_units_daily_for_14_days() -> None:
    items = plan("Acthar Gel")
    assert [(i.local_date, i.amount) for i in items] == [(d, 80) for d in run(MON_2_MAR, 14)]
    assert {i.unit for i in items} == {"units"}


def test_acthar_120_units_for_21_days() -> None:
    items = plan("H.P. Acthar Gel", units="120", days="21")
    assert [(i.local_date, i.amount) for i in items] == [(d, 120) for d in run(MON_2_MAR, 21)]
    assert items[-1].local_date == date(2026, 3, 22)
    assert {i.label for i in items} == {"120 units injection"}


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("units", "79", "from 80 to 120"),
        ("units", "121", "from 80 to 120"),
        ("units", "100.5", "whole number"),
        ("days", "13", "from 14 to 21"),
        ("days", "22", "from 14 to 21"),
    ],
)
def test_acthar_refuses_units_or_days_outside_the_label(
    option: str, value: str, message: str
) -> None:
    with pytest.raises(OptionError, match=message):
        CATALOG.get("Acthar").regimen({option: value})


# --- plasma exchange ---------------------------------------------------------------------


@pytest.mark.parametrize("exchanges", [5, 6, 7])
def test_plasma_exchange_sessions_every_other_day(exchanges: int) -> None:
    items = plan("plasma exchange", exchanges=str(exchanges))
    assert [i.local_date for i in items] == run(MON_2_MAR, exchanges, step=2)
    assert {(i.amount, i.unit, i.kind) for i in items} == {(1, "exchange", "infusion")}


def test_plasma_exchange_7_sessions_end_on_day_13() -> None:
    items = plan("PLEX", exchanges="7")
    assert (items[-1].local_date, items[-1].day) == (date(2026, 3, 14), 13)


@pytest.mark.parametrize("exchanges", ["4", "8"])
def test_plasma_exchange_refuses_fewer_than_5_or_more_than_7(exchanges: str) -> None:
    with pytest.raises(OptionError, match="from 5 to 7"):
        CATALOG.get("plasma exchange").regimen({"exchanges": exchanges})
