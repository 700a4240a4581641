"""Days on hand: PQA's carry-forward date and the draw-down in doses (real databases)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlmodel import Session

from adherence.core.config import SupplySettings
from adherence.dosing.confirm import confirm
from adherence.dosing.materialize import materialize
from adherence.supply.onhand import Supply, supply_of
from adherence.supply.records import record_fill
from schedules import Catalog
from tests.adherence.engine_helpers import Enrolled, at, doses, enroll

DEFAULTS = SupplySettings()


def fill(
    session: Session,
    catalog: Catalog,
    e: Enrolled,
    day: date,
    days: int,
    *,
    now: datetime,
    quantity: float | None = None,
    source: str = "",
) -> None:
    record_fill(
        session,
        catalog=catalog,
        plan=e.plan,
        dispensed_on=day,
        days_supply=days,
        now=now,
        today=now.date(),
        quantity=quantity,
        source=source,
    )
    session.commit()


def supply(session: Session, catalog: Catalog, e: Enrolled, now: datetime, **kw: object) -> Supply:
    assert e.plan.id is not None
    return supply_of(
        session,
        catalog=catalog,
        plan=e.plan,
        patient=e.patient,
        now=now,
        settings=SupplySettings(**kw) if kw else DEFAULTS,  # type: ignore[arg-type]
    )


def test_an_early_refill_carries_forward_two_30_day_fills_20_days_apart_cover_60_days(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 1, 25, 12)
    e = enroll(session, catalog, "teriflunomide", date(2026, 1, 1), now=now, times=["09:00"])
    fill(session, catalog, e, date(2026, 1, 1), 30, now=now)
    fill(session, catalog, e, date(2026, 1, 21), 30, now=now)

    s = supply(session, catalog, e, now)

    # Days 1-60 covered: the first day without supply is Day 61, by both counts.
    assert s.pqa_runs_out == date(2026, 1, 1) + timedelta(days=60) == date(2026, 3, 2)
    assert s.runs_out == date(2026, 3, 2)
    assert s.on_hand_doses == 60 - 25  # Jan 1-25 taken (before enrolment: assumed taken)
    assert s.on_hand_days == (date(2026, 3, 2) - date(2026, 1, 25)).days
    assert s.refill_allowed_from == date(2026, 1, 21) + timedelta(days=24)  # 80% of 30
    assert s.remind_on == date(2026, 2, 25) and s.overdue_on == date(2026, 3, 5)
    assert s.refill_ordered_at is None


def test_same_day_fills_count_once_with_the_longest_supply(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 1, 2, 12)
    e = enroll(session, catalog, "teriflunomide", date(2026, 1, 1), now=now, times=["09:00"])
    fill(session, catalog, e, date(2026, 1, 1), 30, now=now, source="pharmacy A")
    fill(session, catalog, e, date(2026, 1, 1), 90, now=now, source="pharmacy B")

    s = supply(session, catalog, e, now)

    assert len(s.fills) == 2
    assert s.pqa_runs_out == s.runs_out == date(2026, 4, 1)  # 90 days, not 120


def test_skipped_and_missed_doses_push_the_run_out_later(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 1, 1, 0, 1)
    e = enroll(session, catalog, "teriflunomide", date(2026, 1, 1), now=now, times=["09:00"])
    fill(session, catalog, e, date(2026, 1, 1), 30, now=now)
    materialize(session, now=now, catalog=catalog, horizon_days=10)
    first, _, third = doses(session, e.plan)[:3]
    later = at(2026, 1, 3, 12)
    for dose in (first, third):
        confirm(
            session, catalog=catalog, dose=dose, status="skipped", at=later, now=later, via="sms"
        )

    s = supply(session, catalog, e, later)

    assert s.pqa_runs_out == date(2026, 1, 31)  # PQA counts days, not doses
    assert s.runs_out == date(2026, 2, 2)  # two doses skipped: two days later
    assert s.on_hand_doses == 30 - 1  # only the 2 January dose used


def test_twice_daily_plan_with_a_quantity_counts_doses_not_days(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 1, 1, 0, 1)
    e = enroll(session, catalog, "dimethyl-fumarate", date(2026, 1, 1), now=now)
    # A 28-day pack of 56 capsules, recorded as 30 days by the pharmacy.
    fill(session, catalog, e, date(2026, 1, 1), 30, now=now, quantity=56)

    s = supply(session, catalog, e, at(2026, 1, 10, 12))

    assert s.pqa_runs_out == date(2026, 1, 31)
    assert s.runs_out == date(2026, 1, 29)  # capsule 57 would be the morning of Jan 29
    assert s.on_hand_doses == 56 - 19  # Jan 1-9 twice, Jan 10 at 08:00


def test_twice_daily_plan_without_a_quantity_is_supplied_its_expected_doses(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 1, 1, 0, 1)
    e = enroll(session, catalog, "dimethyl-fumarate", date(2026, 1, 1), now=now)
    fill(session, catalog, e, date(2026, 1, 1), 30, now=now)

    s = supply(session, catalog, e, at(2026, 1, 10, 12))

    assert s.runs_out == s.pqa_runs_out == date(2026, 1, 31)
    assert s.on_hand_doses == 60 - 19


def test_a_supply_that_ran_out_keeps_its_run_out_date(session: Session, catalog: Catalog) -> None:
    now = at(2026, 2, 20, 12)
    e = enroll(session, catalog, "teriflunomide", date(2026, 1, 1), now=now, times=["09:00"])
    fill(session, catalog, e, date(2026, 1, 1), 30, now=now)

    s = supply(session, catalog, e, now)
    later = supply(session, catalog, e, now + timedelta(days=5))

    assert s.runs_out == later.runs_out == date(2026, 1, 31)
    assert s.on_hand_doses == 0 and s.on_hand_days == 0


def test_the_refill_allowed_fraction_is_configurable(session: Session, catalog: Catalog) -> None:
    now = at(2026, 1, 2, 12)
    e = enroll(session, catalog, "teriflunomide", date(2026, 1, 1), now=now, times=["09:00"])
    fill(session, catalog, e, date(2026, 1, 1), 30, now=now)

    s = supply(session, catalog, e, now, refill_allowed_fraction=0.75)

    assert s.refill_allowed_from == date(2026, 1, 1) + timedelta(days=23)  # ceil(22.5)


def test_a_plan_without_fills_has_no_supply(session: Session, catalog: Catalog) -> None:
    now = at(2026, 1, 2, 12)
    e = enroll(session, catalog, "teriflunomide", date(2026, 1, 1), now=now, times=["09:00"])

    s = supply(session, catalog, e, now)

    assert s.fills == () and s.runs_out is None and s.remind_on is None


def test_a_fill_shipped_before_day_1_is_drawn_down_from_day_1(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 1, 2, 12)
    e = enroll(session, catalog, "teriflunomide", date(2026, 1, 1), now=now, times=["09:00"])
    fill(session, catalog, e, date(2025, 12, 27), 30, now=now)

    s = supply(session, catalog, e, now)

    assert s.pqa_runs_out == date(2026, 1, 26)  # the payer's count, from the day dispensed
    assert s.runs_out == date(2026, 1, 31)  # 30 tablets from 1 January
