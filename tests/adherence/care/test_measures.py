"""Adherence measures: PDC cross-checked against the `pdcscore` package on shared cases,
and the measures of simulated patients driven through the real engine.

Both sides get the same data: the doses of a real plan (materialised by the engine, with
outcomes set per case), as fills on the local date each dose was taken with the days
supplied under our supply model (docs/measures.md): the days until the regimen's next
scheduled dose, shared by the doses scheduled that day.

Where PQA's rule and pdcscore differ, the difference is asserted, not hidden:
- ``overlap_adjustment=False`` counts the union of days supplied: supply that overlaps
  earlier supply is lost, where PQA shifts it forward. It agrees with us only without
  overlaps, or when the shifted supply would fall past the period end anyway.
- ``overlap_adjustment=True`` adds every fill's days inside the period and caps the total
  at the period's days: overlapping supply counts even where PQA's shift would push it past
  the period end. It agrees with us unless shifted supply runs past the end.
- pdcscore's index date is the first fill; ours is the first *scheduled* dose in the period,
  so a missed first dose counts against the patient instead of shortening the period.
- pdcscore counts whole days; a twice-daily dose supplies half a day. On a half-day time
  axis (each day two slots) the package computes the same proportion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
import pytest
from pdcscore import pdcCalc
from sqlmodel import Session

from adherence.care.measures import (
    cover_chain,
    default_periods,
    measure_patient,
    measure_plan,
    measure_team,
)
from adherence.core.config import Settings, settings_from_mapping
from adherence.dosing.materialize import materialize
from adherence.storage.models import Dose, Plan
from schedules import Catalog
from tests.adherence.engine_helpers import NY, at, doses, drive, enroll

SETTINGS = Settings()
# Outcome of one dose: None = missed, else the taken instant's shift from the due time.
Outcome = Callable[[Dose, int], timedelta | None]


def on_time(dose: Dose, i: int) -> timedelta | None:
    return timedelta(minutes=5)


@dataclass
class Case:
    plan: Plan
    doses: list[Dose]


def plan_case(
    session: Session,
    catalog: Catalog,
    regimen: str,
    start: date,
    *,
    days: int,
    outcome: Outcome = on_time,
    options: dict[str, str] | None = None,
    times: list[str] | None = None,
) -> Case:
    """A real plan with its doses materialised for ``days`` (and a little beyond), each dose
    given its outcome directly (what the engine records; the label rules are not the point)."""
    now = at(start.year, start.month, start.day)
    e = enroll(session, catalog, regimen, start, now=now, options=options, times=times)
    materialize(session, now=now, catalog=catalog, horizon_days=days + 40)
    rows = doses(session, e.plan)
    for i, d in enumerate(rows):
        if d.local_date >= start + timedelta(days=days):
            continue
        shift = outcome(d, i)
        if shift is None:
            d.status = "missed"
        else:
            d.status, d.taken_at, d.confirmed_via = "taken", d.due_at + shift, "sms"
            d.late = d.taken_at > d.window_closes_at
        session.add(d)
    session.commit()
    return Case(plan=e.plan, doses=doses(session, e.plan))


def fills(case: Case, end: date) -> list[tuple[date, int]]:
    """(fill date, days supplied) for every taken dose: an independent statement of the
    supply model for single-dose days (days to the next scheduled dose)."""
    dates = sorted({d.local_date for d in case.doses})
    nxt = {d: dates[i + 1] for i, d in enumerate(dates[:-1])}
    out = []
    for d in case.doses:
        if d.status != "taken" or d.local_date not in nxt:
            continue
        taken = d.taken_at.astimezone(NY).date()  # type: ignore[union-attr]
        if taken <= end:
            out.append((taken, (nxt[d.local_date] - d.local_date).days))
    return out


def pdcscore(fill_rows: list[tuple[date, int]], start: date, end: date, overlap: bool) -> float:
    df = pd.DataFrame(
        {
            "patient": [1] * len(fill_rows),
            "drug": ["dmt"] * len(fill_rows),
            "fill": pd.to_datetime([f for f, _ in fill_rows]),
            "supply": [s for _, s in fill_rows],
            "start": pd.Timestamp(start),
            "end": pd.Timestamp(end),
        }
    )
    calc = pdcCalc(df, "patient", "drug", "fill", "supply", "start", "end", overlap)
    return float(calc.calculate_pdc_scores()["pdc_score"].iloc[0])


def ours(session: Session, case: Case, catalog: Catalog, start: date, end: date) -> float:
    m = measure_plan(session, case.plan, start=start, end=end, catalog=catalog, settings=SETTINGS)
    assert m.pdc is not None
    return m.pdc


START = date(2026, 3, 2)  # a Monday


def test_perfect_daily_adherence_is_1_on_both(session: Session, catalog: Catalog) -> None:
    case = plan_case(session, catalog, "teriflunomide", START, days=90, options={"strength": "14"})
    end = START + timedelta(days=89)
    f = fills(case, end)
    assert len(f) == 90
    assert ours(session, case, catalog, START, end) == 1.0
    assert pdcscore(f, START, end, True) == pdcscore(f, START, end, False) == 1.0


def test_gaps_count_the_same_on_both(session: Session, catalog: Catalog) -> None:
    def gaps(d: Dose, i: int) -> timedelta | None:
        return None if 10 <= i < 20 or i == 50 else timedelta(hours=1)

    case = plan_case(
        session, catalog, "teriflunomide", START, days=90, outcome=gaps, options={"strength": "7"}
    )
    end = START + timedelta(days=89)
    f = fills(case, end)
    mine = ours(session, case, catalog, START, end)
    assert mine == pytest.approx(79 / 90)
    assert mine == pytest.approx(pdcscore(f, START, end, True))
    assert mine == pytest.approx(pdcscore(f, START, end, False))
    m = measure_plan(session, case.plan, start=START, end=end, catalog=catalog, settings=SETTINGS)
    assert m.longest_gap_days == 10
    assert (m.taken, m.missed, m.scheduled) == (79, 11, 90)


def test_early_dose_is_shifted_forward_where_pdcscore_union_loses_it(
    session: Session, catalog: Catalog
) -> None:
    # Plegridy every 14 days; the 4th dose taken 3 days early overlaps the 3rd's supply.
    def early(d: Dose, i: int) -> timedelta | None:
        return timedelta(days=-3) if i == 3 else timedelta(minutes=10)

    case = plan_case(session, catalog, "Plegridy", START, days=84, outcome=early)
    end = START + timedelta(days=83)
    f = fills(case, end)
    assert [s for _, s in f] == [14] * 6
    mine = ours(session, case, catalog, START, end)
    assert mine == 1.0  # the 3 overlapping days are shifted forward, still inside the period
    assert pdcscore(f, START, end, True) == mine  # the sum of supply, capped: agrees here
    # The union of days drops the overlap: exactly the 3 days PQA's shift keeps.
    assert pdcscore(f, START, end, False) == pytest.approx(mine - 3 / 84)


def test_shift_past_period_end_is_capped_where_pdcscore_sum_overcounts(
    session: Session, catalog: Catalog
) -> None:
    # A missed Plegridy dose leaves a gap; the last dose, 4 days early, overlaps the one before
    # and PQA's shift pushes its last 4 days past the period end, where they do not count.
    def case_(d: Dose, i: int) -> timedelta | None:
        return None if i == 1 else timedelta(days=-4) if i == 5 else timedelta(minutes=10)

    case = plan_case(session, catalog, "Plegridy", START, days=84, outcome=case_)
    end = START + timedelta(days=79)  # 80 days: the last dose (Day 71) covers past Day 80
    f = fills(case, end)
    mine = ours(session, case, catalog, START, end)
    assert mine == pytest.approx((80 - 14) / 80)
    assert pdcscore(f, START, end, False) == pytest.approx(mine)  # the union agrees here
    assert pdcscore(f, START, end, True) == pytest.approx(mine + 4 / 80)  # the sum does not


def test_interval_therapy_three_times_a_week(session: Session, catalog: Catalog) -> None:
    # Copaxone 40 Mon/Wed/Fri: each dose covers until the next (2, 2, 3 days).
    def miss_one(d: Dose, i: int) -> timedelta | None:
        return None if i == 4 else timedelta(minutes=30)

    case = plan_case(
        session,
        catalog,
        "Copaxone",
        START,
        days=28,
        outcome=miss_one,
        options={"strength": "40", "weekdays": "mon,wed,fri"},
    )
    end = START + timedelta(days=27)
    f = fills(case, end)
    assert sorted({s for _, s in f}) == [2, 3]
    mine = ours(session, case, catalog, START, end)
    missed = next(d for i, d in enumerate(case.doses) if i == 4)
    gap = {0: 2, 2: 2, 4: 3}[missed.local_date.weekday()]
    assert mine == pytest.approx((28 - gap) / 28)
    assert mine == pytest.approx(pdcscore(f, START, end, True))
    assert mine == pytest.approx(pdcscore(f, START, end, False))


def test_index_date_mid_period_is_the_first_scheduled_dose(
    session: Session, catalog: Catalog
) -> None:
    period_start = START - timedelta(days=20)
    end = START + timedelta(days=39)
    case = plan_case(session, catalog, "teriflunomide", START, days=40, options={"strength": "14"})
    m = measure_plan(
        session, case.plan, start=period_start, end=end, catalog=catalog, settings=SETTINGS
    )
    assert m.index_date == START and m.days_in_period == 40 and m.pdc == 1.0
    f = fills(case, end)
    assert pdcscore(f, period_start, end, True) == m.pdc  # its index: the first fill
    # A missed first dose: PQA's first fill moves the index a day later (pdcscore: 39/39);
    # ours keeps the first scheduled dose, so the missed day counts against the patient.
    first = case.doses[0]
    first.status, first.taken_at = "missed", None
    session.add(first)
    session.commit()
    m = measure_plan(
        session, case.plan, start=period_start, end=end, catalog=catalog, settings=SETTINGS
    )
    f = fills(Case(case.plan, doses(session, case.plan)), end)
    assert pdcscore(f, period_start, end, True) == 1.0
    assert m.index_date == START and m.pdc == pytest.approx(39 / 40)


def test_cover_is_capped_at_the_period_end(session: Session, catalog: Catalog) -> None:
    case = plan_case(session, catalog, "Kesimpta", START, days=70)
    end = START + timedelta(days=40)  # a monthly dose on Day 29 covers well past Day 41
    f = [(day, min(s, 31)) for day, s in fills(case, end)]
    mine = ours(session, case, catalog, START, end)
    assert mine == 1.0
    assert pdcscore(f, START, end, True) == pdcscore(f, START, end, False) == 1.0


def half_day_fills(case: Case, end: date) -> list[tuple[date, int]]:
    """Twice-daily doses on a half-day axis: slot 2k (morning) and 2k+1 (evening) of day k
    become 'days' of a stretched calendar; each taken dose supplies one slot."""
    base = case.doses[0].local_date
    out = []
    for d in case.doses:
        if d.status == "taken" and d.local_date <= end:
            slot = 2 * (d.local_date - base).days + (0 if d.local_time < "12:00" else 1)
            out.append((base + timedelta(days=slot), 1))
    return out


def test_twice_daily_doses_each_supply_half_a_day(session: Session, catalog: Catalog) -> None:
    def evenings_missed(d: Dose, i: int) -> timedelta | None:
        return None if d.local_time >= "12:00" and i % 4 == 1 else timedelta(minutes=20)

    case = plan_case(
        session,
        catalog,
        "Tecfidera",
        START,
        days=30,
        outcome=evenings_missed,
        times=["08:00", "20:00"],
    )
    end = START + timedelta(days=29)
    m = measure_plan(session, case.plan, start=START, end=end, catalog=catalog, settings=SETTINGS)
    missed = sum(1 for d in case.doses if d.status == "missed")
    assert missed == 15 and m.scheduled == 60
    assert m.days_covered == pytest.approx(30 - missed / 2)
    assert m.longest_gap_days == 0.5
    f = half_day_fills(case, end)
    stretched_end = START + timedelta(days=59)
    assert m.pdc == pytest.approx(pdcscore(f, START, stretched_end, False))
    assert m.pdc == pytest.approx(pdcscore(f, START, stretched_end, True))


def test_cover_chain_shifts_overlap_and_reports_the_longest_gap() -> None:
    covered, gap, merged = cover_chain([(0, 5), (2, 5), (20, 3)], 0, 30)
    assert covered == 13 and merged == [(0, 10), (20, 23)]
    assert gap == 10  # days 10-19 (the tail, 23-29, is 7)


def test_default_periods_end_today() -> None:
    periods = default_periods(date(2026, 6, 30))
    assert periods["30d"] == (date(2026, 6, 1), date(2026, 6, 30))
    assert {k: (e - s).days + 1 for k, (s, e) in periods.items()} == {
        "30d": 30,
        "90d": 90,
        "365d": 365,
    }


# --- simulated patients through the real engine (SQLite and PostgreSQL) -------------------


def test_measures_of_a_simulated_patient_match_the_doses(
    session: Session, catalog: Catalog
) -> None:
    start = date(2026, 3, 2)
    now = at(2026, 3, 1, 9)
    e = enroll(session, catalog, "Gilenya", start, now=now, times=["09:00"])
    enroll(session, catalog, "Plegridy", start, now=now, team=e.team, n=1)
    drive(
        session,
        catalog,
        start=now,
        until=at(2026, 4, 1, 23),
        take=lambda d: d.local_date.day % 7 != 3,  # every 7th day forgotten
    )
    end = date(2026, 3, 31)
    rows = [d for d in doses(session, e.plan) if d.local_date <= end]
    taken = [d for d in rows if d.status == "taken"]
    assert rows and len(taken) < len(rows)
    pm = measure_patient(
        session, e.patient, start=start, end=end, catalog=catalog, settings=SETTINGS
    )
    plan_m = pm.plans[0]
    assert plan_m.scheduled == len(rows) and plan_m.taken == len(taken)
    assert plan_m.on_time == sum(1 for d in taken if not d.late)
    assert plan_m.pdc == pytest.approx(len({d.local_date for d in taken}) / 30)
    assert pm.pdc == plan_m.pdc and pm.adherent == (plan_m.pdc >= 0.8)  # type: ignore[operator]
    tm = measure_team(session, e.team, start=start, end=end, catalog=catalog, settings=SETTINGS)
    js = tm.to_json()
    assert js["patients"] == 2 and js["threshold"] == 0.8
    assert js["doses_taken"] == sum(p.to_json()["doses_taken"] for p in tm.patients)
    assert js["patient_measures"][0]["pdc"] == round(plan_m.pdc, 4)  # type: ignore[arg-type]


def test_threshold_and_permissible_gap_come_from_the_config(
    session: Session, catalog: Catalog
) -> None:
    def lapse(d: Dose, i: int) -> timedelta | None:
        return None if 5 <= i < 15 else timedelta(minutes=1)

    case = plan_case(
        session, catalog, "teriflunomide", START, days=30, outcome=lapse, options={"strength": "14"}
    )
    end = START + timedelta(days=29)
    strict = settings_from_mapping({"care": {"pdc_threshold": 0.6, "permissible_gap_days": 7}})
    m = measure_plan(session, case.plan, start=START, end=end, catalog=catalog, settings=strict)
    assert m.pdc == pytest.approx(20 / 30) and m.adherent is True
    assert m.longest_gap_days == 10 and m.persistent is False
    js = m.to_json()
    assert js["threshold"] == 0.6 and js["pdc"] == round(20 / 30, 4) and js["adherent"] is True


def test_infusions_report_on_time_rate_and_days_late_not_pdc(
    session: Session, catalog: Catalog
) -> None:
    def second_late(d: Dose, i: int) -> timedelta | None:
        if i == 1:  # six days after the window's last day (or the due date without one)
            return timedelta(
                days=(d.latest or d.local_date).toordinal() - d.local_date.toordinal() + 6
            )
        return timedelta(hours=1)

    case = plan_case(session, catalog, "Ocrevus", START, days=200, outcome=second_late)
    end = START + timedelta(days=199)
    m = measure_plan(session, case.plan, start=START, end=end, catalog=catalog, settings=SETTINGS)
    assert m.pdc is None and m.to_json()["pdc"] is None
    given = [d for d in case.doses if d.status == "taken" and d.local_date <= end]
    assert m.infusions_due == len(given) >= 2
    late = [d for d in given if d.taken_at.astimezone(NY).date() > (d.latest or d.local_date)]  # type: ignore[union-attr]
    assert m.infusions_on_time == len(given) - len(late)
    assert len(late) == 1  # the second infusion, 6 days after its window closed
    assert m.infusion_days_late == [6]
    assert m.to_json()["infusion_days_late_max"] == 6


def test_bad_period_is_refused(session: Session, catalog: Catalog) -> None:
    case = plan_case(session, catalog, "teriflunomide", START, days=5, options={"strength": "14"})
    with pytest.raises(ValueError, match="before its start"):
        measure_plan(
            session,
            case.plan,
            start=START,
            end=START - timedelta(days=1),
            catalog=catalog,
            settings=SETTINGS,
        )
