"""The adherence calendar: each day's status from its doses (pure rules), the month grid,
and the calendar read from the database in the patient's zone (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session, select

from adherence.care.chart.calendar import (
    DayStatus,
    DoseDay,
    PlanSpan,
    classify,
    dose_status,
    month_grid,
    parse_month,
    worst,
)
from adherence.care.chart.timeline import read_chart
from adherence.core.config import Settings
from adherence.patients.enrollment import create_patient, create_team
from adherence.patients.midtherapy import position, start_plan
from adherence.storage.models import Dose
from schedules import Catalog
from tests.adherence.engine_helpers import PHONES, at, drive, enroll

NOW = datetime(2026, 3, 20, 17, 0, tzinfo=UTC)
DAY = date(2026, 3, 10)


def dose(status: str, *, late: bool = False, hours: int = -5, kind: str = "dose") -> DoseDay:
    return DoseDay(DAY, NOW + timedelta(hours=hours), status, late, kind)


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (dose("taken"), DayStatus.TAKEN),
        (dose("taken", late=True), DayStatus.LATE),
        (dose("skipped"), DayStatus.SKIPPED),
        (dose("missed"), DayStatus.MISSED),
        (dose("reminded"), DayStatus.NOT_RECORDED),  # due, nobody answered yet
        (dose("scheduled"), DayStatus.NOT_RECORDED),
        (dose("scheduled", hours=3), DayStatus.UPCOMING),
        (dose("reminded", hours=3), DayStatus.UPCOMING),
        (dose("imported?"), DayStatus.NOT_RECORDED),  # a status we do not know
        (dose("cancelled"), None),
        (dose("not_sent"), None),
        (dose("taken", kind="monitoring"), None),  # a lab is not a dose
    ],
)
def test_each_dose_counts_for_its_day_as_its_status_says(
    d: DoseDay, expected: DayStatus | None
) -> None:
    assert dose_status(d, NOW) == expected


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["taken", "missed"], DayStatus.MISSED),
        (["skipped", "missed"], DayStatus.MISSED),
        (["taken", "skipped"], DayStatus.SKIPPED),
        (["late", "skipped"], DayStatus.SKIPPED),
        (["taken", "not_recorded"], DayStatus.NOT_RECORDED),
        (["late", "not_recorded"], DayStatus.NOT_RECORDED),
        (["taken", "late"], DayStatus.LATE),
        (["upcoming", "taken"], DayStatus.TAKEN),  # so far today
        (["upcoming"], DayStatus.UPCOMING),
        ([], DayStatus.NOTHING_DUE),
    ],
)
def test_a_day_with_several_doses_shows_the_worst(statuses: list[str], expected: DayStatus) -> None:
    assert worst(DayStatus(s) for s in statuses) == expected


def test_twice_daily_day_with_one_dose_missed_is_a_missed_day() -> None:
    days = classify(
        [dose("taken"), dose("missed", hours=-2), dose("cancelled", hours=-1)],
        now=NOW,
        first=DAY,
        last=DAY + timedelta(days=1),
    )
    assert days[DAY].status == DayStatus.MISSED and days[DAY].doses == 2
    assert days[DAY + timedelta(days=1)].status == DayStatus.NOTHING_DUE


def test_days_on_therapy_before_enrolment_are_not_recorded_and_before_day_1_nothing_due() -> None:
    span = PlanSpan(start=date(2026, 3, 5), enrolled=date(2026, 3, 12))
    days = classify(
        [DoseDay(date(2026, 3, 11), NOW - timedelta(days=9), "taken")],
        now=NOW,
        first=date(2026, 3, 1),
        last=date(2026, 3, 13),
        spans=[span],
    )
    assert days[date(2026, 3, 4)].status == DayStatus.NOTHING_DUE
    assert [days[date(2026, 3, d)].status for d in range(5, 11)] == [DayStatus.NOT_RECORDED] * 6
    assert days[date(2026, 3, 11)].status == DayStatus.TAKEN  # the last dose, recorded
    assert days[date(2026, 3, 12)].status == DayStatus.NOTHING_DUE  # enrolled: doses from here


def test_month_grid_is_monday_first_weeks_with_the_neighbouring_days_empty() -> None:
    march = month_grid([], month=date(2026, 3, 17), now=NOW)
    assert march.first == date(2026, 3, 1)
    assert len(march.weeks) == 6 and all(len(w) == 7 for w in march.weeks)
    assert march.weeks[0][:6] == [None] * 6  # 1 March 2026 is a Sunday
    assert march.weeks[0][6] is not None and march.weeks[0][6].day == date(2026, 3, 1)
    assert march.weeks[-1][1] is not None and march.weeks[-1][1].day == date(2026, 3, 31)
    assert march.weeks[-1][2:] == [None] * 5
    assert sum(c is not None for w in march.weeks for c in w) == 31
    feb = month_grid([], month=date(2026, 2, 1), now=NOW)
    assert len(feb.weeks) == 5 and feb.counts()[DayStatus.NOTHING_DUE] == 28


def test_previous_and_next_month_cross_the_year() -> None:
    jan = month_grid([], month=date(2026, 1, 31), now=NOW)
    assert jan.previous == date(2025, 12, 1) and jan.next == date(2026, 2, 1)
    dec = month_grid([], month=date(2026, 12, 1), now=NOW)
    assert dec.next == date(2027, 1, 1)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-03", date(2026, 3, 1)),
        ("2025-12", date(2025, 12, 1)),
        ("", date(2026, 3, 1)),
        (None, date(2026, 3, 1)),
        ("2026-13", None),
        ("26-03", None),
        ("March", None),
        ("2026-03-01", None),
    ],
)
def test_month_parameter_is_year_dash_month(raw: str | None, expected: date | None) -> None:
    assert parse_month(raw, date(2026, 3, 17)) == expected


# --- read from the database (SQLite and PostgreSQL) -------------------------------------


def test_late_evening_doses_fall_on_their_local_day_across_the_dst_change(
    session: Session, catalog: Catalog
) -> None:
    """23:30 in New York is the next day in UTC; 8 March 2026 is 23 hours long."""
    start = at(2026, 3, 1, 0, 0)
    e = enroll(session, catalog, "teriflunomide", date(2026, 3, 1), now=start, times=["23:30"])
    end = at(2026, 4, 1, 12, 0)
    drive(session, catalog, start=start, until=end, take=lambda d: d.local_date != date(2026, 3, 8))
    # One dose on the 15th taken late (a person recorded it after the window).
    late = session.exec(
        select(Dose).where(Dose.plan_id == e.plan.id, Dose.local_date == date(2026, 3, 15))
    ).one()
    late.late = True
    session.add(late)
    session.commit()
    chart = read_chart(
        session, e.patient, now=end, month=date(2026, 3, 1), catalog=catalog, settings=Settings()
    )
    days = {c.day: c.status for w in chart.month.weeks for c in w if c is not None}
    assert days[date(2026, 3, 8)] == DayStatus.MISSED  # the DST day's dose, not a neighbour's
    assert days[date(2026, 3, 7)] == days[date(2026, 3, 9)] == DayStatus.TAKEN
    assert days[date(2026, 3, 15)] == DayStatus.LATE
    assert days[date(2026, 3, 31)] == DayStatus.TAKEN  # 03:30 UTC on 1 April
    assert chart.month.counts()[DayStatus.TAKEN] == 29


def test_the_default_month_is_the_current_one_in_the_patients_zone(
    session: Session, catalog: Catalog
) -> None:
    now = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)  # 1 April, 01:00 in Auckland
    team = create_team(session, name="Zones", tz="America/New_York", now=now)
    months = {}
    for n, tz in enumerate(("America/New_York", "Pacific/Auckland")):
        p = create_patient(session, team=team, name=f"P{n}", phone=PHONES[n], tz=tz, now=now)
        chart = read_chart(session, p, now=now, month=None, catalog=catalog, settings=Settings())
        months[tz] = chart.month.first
        assert chart.today == now.astimezone(chart.zone).date()
    assert months == {"America/New_York": date(2026, 3, 1), "Pacific/Auckland": date(2026, 4, 1)}


def test_a_patient_enrolled_mid_therapy_shows_the_days_before_as_not_recorded(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 3, 20, 6, 0)
    team = create_team(session, name="Mid", tz="America/New_York", now=now)
    p = create_patient(session, team=team, name="M", phone=PHONES[0], tz=team.tz, now=now)
    regimen = catalog.get("teriflunomide").regimen({})
    start_plan(
        session,
        catalog=catalog,
        patient=p,
        regimen="teriflunomide",
        where=position(regimen, today=now.date(), since=date(2026, 3, 10)),
        now=now,
        by="test",
    )
    chart = read_chart(session, p, now=now, month=None, catalog=catalog, settings=Settings())
    days = {c.day: c.status for w in chart.month.weeks for c in w if c is not None}
    assert days[date(2026, 3, 9)] == DayStatus.NOTHING_DUE  # before Day 1
    # Day 1 to the day before enrolment: on therapy, nobody recorded; never missed.
    assert {days[date(2026, 3, d)] for d in range(10, 20)} == {DayStatus.NOT_RECORDED}
    assert days[date(2026, 3, 20)] != DayStatus.NOT_RECORDED  # enrolled: recorded from here
