"""Label rules on real dates, on SQLite and PostgreSQL: what happens to the rest of a plan
after a dose is taken late, missed, or interrupted for days."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import pairwise

import pytest
from sqlmodel import Session, select

from adherence.dosing.confirm import confirm
from adherence.dosing.dispatch import DispatchPolicy, dispatch_due
from adherence.dosing.materialize import materialize
from adherence.dosing.replies import handle_reply
from adherence.storage.models import Dose, DoseChange, OutboxMessage, Plan
from schedules import Catalog
from tests.adherence.engine_helpers import (
    NY,
    at,
    doses,
    drive,
    enroll,
    events,
    open_doses,
)


def _due(dose: Dose) -> datetime:
    return dose.due_at.astimezone(NY)


# --- interval therapies: the rest of the schedule follows the dose actually taken ------------


def test_betaseron_dose_taken_a_day_late_moves_the_next_dose_to_two_days_after_it(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 3, 2, 8)
    e = enroll(session, catalog, "Betaseron", date(2026, 3, 2), now=now, times=["19:00"])
    materialize(session, now=now, catalog=catalog, horizon_days=14)
    monday, wednesday = doses(session, e.plan)[:2]
    assert (monday.local_date, wednesday.local_date) == (date(2026, 3, 2), date(2026, 3, 4))

    on_time = confirm(
        session,
        catalog=catalog,
        dose=monday,
        status="taken",
        at=at(2026, 3, 2, 19, 5),
        now=at(2026, 3, 2, 19, 5),
        via="sms",
    )
    assert on_time.events == []
    # Wednesday's injection is taken on Thursday evening.
    late = confirm(
        session,
        catalog=catalog,
        dose=wednesday,
        status="taken",
        at=at(2026, 3, 5, 18, 30),
        now=at(2026, 3, 5, 18, 30),
        via="sms",
    )

    assert [(ev.type, ev.details["planned"], ev.details["taken"]) for ev in late.events] == [
        ("schedule_shift", "2026-03-04", "2026-03-05")
    ]
    upcoming = open_doses(session, e.plan)
    assert [_due(d) for d in upcoming[:3]] == [
        at(2026, 3, 7, 19),
        at(2026, 3, 9, 19),
        at(2026, 3, 11, 19),
    ]
    given = [d.local_date for d in doses(session, e.plan) if d.status != "cancelled"]
    assert all((b - a).days == 2 for a, b in pairwise(given[2:]))
    assert [(r.type, r.dose_id) for r in events(session)] == [("schedule_shift", wednesday.id)]


@pytest.mark.parametrize(
    ("taken", "next_doses", "shifted"),
    [
        # taken 7 days before the next planned dose (30 Mar): the schedule is kept
        (at(2026, 3, 23, 18), [date(2026, 3, 30), date(2026, 4, 13)], False),
        # taken 6 days before it: the 14-day cycle restarts from the day it was taken
        (at(2026, 3, 24, 10), [date(2026, 4, 7), date(2026, 4, 21)], True),
    ],
    ids=["7-days-before-next-keeps-schedule", "6-days-before-next-restarts-cycle"],
)
def test_plegridy_late_dose_keeps_or_restarts_the_14_day_cycle_by_the_7_day_rule(
    session: Session,
    catalog: Catalog,
    taken: datetime,
    next_doses: list[date],
    shifted: bool,
) -> None:
    # Enrolled after the Day 1 starter dose; Day 15 (16 March, 94 mcg) is late.
    now = at(2026, 3, 16, 8)
    e = enroll(session, catalog, "Plegridy", date(2026, 3, 2), now=now)
    materialize(session, now=now, catalog=catalog, horizon_days=40)
    day15 = doses(session, e.plan)[0]
    assert (day15.local_date, day15.amount) == (date(2026, 3, 16), 94)

    dispatch_due(session, now=taken, catalog=catalog, policy=DispatchPolicy())
    session.refresh(day15)
    assert day15.status == ("missed" if shifted else "reminded")  # 7-day window: 23 Mar 19:00
    result = confirm(
        session,
        catalog=catalog,
        dose=day15,
        status="taken",
        at=taken,
        now=taken + timedelta(minutes=5),
        via="phone",
        by="nurse Lee",
        horizon_days=40,
    )

    assert [ev.type for ev in result.events] == (["schedule_shift"] if shifted else [])
    upcoming = open_doses(session, e.plan)
    assert [d.local_date for d in upcoming[:2]] == next_doses
    assert [d.amount for d in upcoming[:2]] == [125, 125]
    assert len(events(session, type_="schedule_shift")) == int(shifted)


def test_kesimpta_loading_dose_given_late_moves_later_doses_to_the_interval_from_then(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 3, 2, 8)
    e = enroll(session, catalog, "Kesimpta", date(2026, 3, 2), now=now)
    materialize(session, now=now, catalog=catalog, horizon_days=70)
    planned = [d.local_date for d in doses(session, e.plan)[:5]]
    assert planned == [
        date(2026, 3, 2),
        date(2026, 3, 9),
        date(2026, 3, 16),
        date(2026, 3, 30),
        date(2026, 4, 30),
    ]
    week2 = doses(session, e.plan)[1]
    # The Day 8 loading injection is given on 12 March, 3 days late.
    result = confirm(
        session,
        catalog=catalog,
        dose=week2,
        status="taken",
        at=at(2026, 3, 12, 9, 30),
        now=at(2026, 3, 12, 9, 30),
        via="sms",
        horizon_days=70,
    )

    assert [ev.type for ev in result.events] == ["schedule_shift"]
    upcoming = [d for d in open_doses(session, e.plan) if d.local_date > date(2026, 3, 12)]
    assert [(d.local_date, d.phase) for d in upcoming[:3]] == [
        (date(2026, 3, 19), "loading"),  # one week after the late dose
        (date(2026, 4, 2), "maintenance"),  # two weeks after the last loading dose
        (date(2026, 5, 2), "maintenance"),  # then monthly
    ]
    assert all(_due(d).hour == 9 for d in upcoming)


@pytest.mark.parametrize(
    ("regimen", "enrolled", "planned", "given", "next_infusion"),
    [
        ("Ocrevus", date(2026, 6, 20), date(2026, 7, 5), date(2026, 7, 20), date(2027, 1, 20)),
        ("Briumvi", date(2026, 6, 10), date(2026, 6, 22), date(2026, 7, 1), date(2026, 12, 16)),
    ],
    ids=["ocrevus-6-months", "briumvi-24-weeks"],
)
def test_next_infusion_is_counted_from_the_infusion_actually_given(
    session: Session,
    catalog: Catalog,
    regimen: str,
    enrolled: date,
    planned: date,
    given: date,
    next_infusion: date,
) -> None:
    now = at(enrolled.year, enrolled.month, enrolled.day, 12)
    e = enroll(session, catalog, regimen, date(2026, 1, 5), now=now)
    materialize(session, now=now, catalog=catalog, horizon_days=35)
    infusion = open_doses(session, e.plan)[0]
    assert (infusion.local_date, infusion.kind) == (planned, "infusion")

    given_at = at(given.year, given.month, given.day, 10)
    result = confirm(
        session,
        catalog=catalog,
        dose=infusion,
        status="taken",
        at=given_at,
        now=given_at + timedelta(hours=3),
        via="clinic",
        by="infusion nurse",
    )

    assert [(ev.type, ev.details["taken"]) for ev in result.events] == [
        ("schedule_shift", given.isoformat())
    ]
    assert result.dose.status == "taken" and not result.late
    upcoming = open_doses(session, e.plan)
    # Written even though it is months beyond the 35-day horizon.
    assert [d.local_date for d in upcoming] == [next_infusion]
    change = session.exec(select(DoseChange).where(DoseChange.dose_id == infusion.id)).one()
    assert (change.changed_by, change.new_taken_at) == ("infusion nurse", given_at)


# --- restarts ---------------------------------------------------------------------------------


def test_ponvory_three_missed_titration_doses_resume_with_the_first_missed_step(
    session: Session, catalog: Catalog
) -> None:
    e = enroll(session, catalog, "Ponvory", date(2026, 3, 1), now=at(2026, 3, 1), times=["09:00"])
    skipped = {date(2026, 3, 5), date(2026, 3, 6), date(2026, 3, 7)}
    drive(
        session,
        catalog,
        start=at(2026, 3, 1),
        until=at(2026, 3, 11),
        take=lambda d: d.local_date not in skipped,
    )

    assert events(session, type_="titration_restart") == []
    shifts = events(session, type_="schedule_shift")
    assert [(s.details["planned"], s.details["resumes"]) for s in shifts] == [
        ("2026-03-05", "2026-03-06"),
        ("2026-03-06", "2026-03-07"),
        ("2026-03-07", "2026-03-08"),
    ]
    rows = [d for d in doses(session, e.plan) if d.status != "cancelled"]
    by_day = {d.local_date: (d.amount, d.status) for d in rows}
    assert [by_day[date(2026, 3, n)] for n in range(4, 12)] == [
        (3, "taken"),
        (4, "missed"),
        (4, "missed"),
        (4, "missed"),
        (4, "taken"),  # Day 5's 4 mg, where the patient left off
        (4, "taken"),  # then Day 6's
        (5, "taken"),
        (6, "scheduled"),
    ]
    session.refresh(e.plan)
    assert e.plan.epoch == 0 and e.plan.epoch_start == date(2026, 3, 1)
    # The 10 mg steps end three days later than planned; 20 mg starts on 18 March.
    materialize(session, now=at(2026, 3, 11, 12), catalog=catalog, horizon_days=10)
    amounts = {d.local_date: d.amount for d in open_doses(session, e.plan)}
    assert (amounts[date(2026, 3, 17)], amounts[date(2026, 3, 18)]) == (10, 20)


@pytest.mark.parametrize(
    ("missed_until", "reply", "upcoming"),
    [
        # Missed on the 5th, "T" at 22:00: Day 6's own 4 mg on the 6th, 5 mg on the 7th.
        (at(2026, 3, 5, 21), at(2026, 3, 5, 22), [(date(2026, 3, 6), 4), (date(2026, 3, 7), 5)]),
        # Missed on the 5th and its second offer on the 6th, "T" at 22:00 on the 6th.
        (at(2026, 3, 6, 21), at(2026, 3, 6, 22), [(date(2026, 3, 7), 4), (date(2026, 3, 8), 5)]),
    ],
    ids=["missed-once", "missed-twice"],
)
def test_ponvory_late_reply_to_a_missed_titration_dose_withdraws_its_second_offer(
    session: Session,
    catalog: Catalog,
    missed_until: datetime,
    reply: datetime,
    upcoming: list[tuple[date, float]],
) -> None:
    e = enroll(session, catalog, "Ponvory", date(2026, 3, 1), now=at(2026, 3, 5, 8))
    drive(session, catalog, start=at(2026, 3, 5, 8), until=missed_until, take=lambda d: False)
    shifts = events(session, type_="schedule_shift")
    assert shifts[-1].details["resumes"] == (reply.date() + timedelta(days=1)).isoformat()

    outcome = handle_reply(session, catalog=catalog, patient=e.patient, text="T", now=reply)

    assert outcome.dose is not None and outcome.dose.local_date == reply.date()
    assert (outcome.dose.status, outcome.dose.late, outcome.dose.amount) == ("taken", True, 4)
    assert [(d.local_date, d.amount) for d in open_doses(session, e.plan)[:2]] == upcoming
    withdrawn = [d for d in doses(session, e.plan) if d.status == "cancelled"]
    assert [(d.local_date, d.amount) for d in withdrawn] == [(upcoming[0][0], 4)]
    assert events(session, type_="titration_restart") == []


def test_ponvory_in_maintenance_four_missed_restart_at_day_1_and_three_do_not(
    session: Session, catalog: Catalog
) -> None:
    # Both patients are on 20 mg (started 1 February) when enrolled on 1 March.
    now = at(2026, 3, 1)
    four = enroll(session, catalog, "Ponvory", date(2026, 2, 1), now=now, n=0)
    three = enroll(session, catalog, "Ponvory", date(2026, 2, 1), now=now, team=four.team, n=1)
    skip = {
        four.plan.id: {date(2026, 3, d) for d in (3, 4, 5, 6)},
        three.plan.id: {date(2026, 3, d) for d in (3, 4, 5)},
    }
    drive(
        session,
        catalog,
        start=now,
        until=at(2026, 3, 8, 12),
        take=lambda d: d.local_date not in skip[d.plan_id],
    )

    restarts = events(session, type_="titration_restart")
    assert [(r.plan_id, r.details["missed"], r.details["new_start"]) for r in restarts] == [
        (four.plan.id, 4, "2026-03-07")
    ]
    assert events(session, type_="schedule_shift") == []  # maintenance: no titration to shift
    restarted = {d.local_date: (d.day, d.amount) for d in doses(session, four.plan, status="taken")}
    assert restarted[date(2026, 3, 7)] == (1, 2) and restarted[date(2026, 3, 8)] == (2, 2)
    kept = {d.local_date: (d.day, d.amount) for d in doses(session, three.plan, status="taken")}
    assert kept[date(2026, 3, 6)] == (34, 20)


def test_mayzent_titration_dose_missed_24_hours_restarts_at_day_1_at_once(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 3, 2)
    e = enroll(session, catalog, "Mayzent", date(2026, 3, 2), now=now, options={"cyp2c9": "*1/*1"})
    drive(
        session,
        catalog,
        start=now,
        until=at(2026, 3, 4, 12),
        take=lambda d: d.local_date != date(2026, 3, 3),
    )

    (restart,) = events(session, type_="titration_restart")
    # Day 2 (3 March) is missed at 09:00 on 4 March: 4 March becomes the new Day 1.
    assert restart.at == at(2026, 3, 4, 9)
    assert (restart.details["missed"], restart.details["new_start"]) == (1, "2026-03-04")
    on_4th = [d for d in doses(session, e.plan) if d.local_date == date(2026, 3, 4)]
    assert sorted((d.epoch, d.day, d.amount, d.status) for d in on_4th) == [
        (0, 3, 0.5, "cancelled"),  # the abandoned titration's Day 3 is never reminded
        (1, 1, 0.25, "taken"),
    ]
    old_day3 = next(d for d in on_4th if d.epoch == 0)
    reminders = session.exec(select(OutboxMessage).where(OutboxMessage.dose_id == old_day3.id))
    assert reminders.all() == []


def test_mayzent_maintenance_interrupted_four_days_restarts_and_three_days_does_not(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 3, 1)
    opts = {"cyp2c9": "*1/*1"}
    four = enroll(session, catalog, "Mayzent", date(2026, 2, 1), now=now, options=opts, n=0)
    three = enroll(
        session, catalog, "Mayzent", date(2026, 2, 1), now=now, options=opts, team=four.team, n=1
    )
    skip = {
        four.plan.id: {date(2026, 3, d) for d in (3, 4, 5, 6)},
        three.plan.id: {date(2026, 3, d) for d in (3, 4, 5)},
    }
    drive(
        session,
        catalog,
        start=now,
        until=at(2026, 3, 8, 12),
        take=lambda d: d.local_date not in skip[d.plan_id],
    )

    restarts = events(session, type_="titration_restart")
    assert [(r.plan_id, r.details["new_start"]) for r in restarts] == [(four.plan.id, "2026-03-07")]
    first = {d.local_date: (d.day, d.amount) for d in doses(session, four.plan, status="taken")}
    assert first[date(2026, 3, 7)] == (1, 0.25)
    kept = {d.local_date: (d.day, d.amount) for d in doses(session, three.plan, status="taken")}
    assert kept[date(2026, 3, 6)] == (34, 2)


def test_zeposia_dose_missed_on_day_14_restarts_titration_and_on_day_15_does_not(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 3, 14)
    day14 = enroll(session, catalog, "Zeposia", date(2026, 3, 1), now=now, n=0)
    day15 = enroll(session, catalog, "Zeposia", date(2026, 2, 28), now=now, team=day14.team, n=1)
    drive(
        session,
        catalog,
        start=now,
        until=at(2026, 3, 15, 12),
        take=lambda d: d.local_date != date(2026, 3, 14),
    )

    restarts = events(session, type_="titration_restart")
    assert [(r.plan_id, r.details["new_start"]) for r in restarts] == [
        (day14.plan.id, "2026-03-15")
    ]
    on_15th = [d for d in doses(session, day14.plan) if d.local_date == date(2026, 3, 15)]
    assert sorted((d.epoch, d.day, d.amount, d.status) for d in on_15th) == [
        (0, 15, 0.92, "cancelled"),
        (1, 1, 0.23, "taken"),  # Day 1 of a new titration
    ]
    (kept,) = [d for d in doses(session, day15.plan) if d.local_date == date(2026, 3, 15)]
    assert (kept.day, kept.amount, kept.status) == (16, 0.92, "taken")


def test_gilenya_interruptions_record_a_repeat_first_dose_observation_once_past_thresholds(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 3, 1)
    mar = [date(2026, 3, d) for d in range(1, 32)]
    cases = [
        # (start, missed days, expected first missed Day or None)
        (date(2026, 3, 1), mar[2:3], 3),  # weeks 1-2: a single day
        (date(2026, 2, 15), mar[0:7], None),  # weeks 3-4: 7 days is not over 7
        (date(2026, 2, 15), mar[0:9], 15),  # weeks 3-4: 8 (then 9) days, one event
        (date(2026, 1, 30), mar[0:14], None),  # after month 1: 14 days is not over 14
        (date(2026, 1, 30), mar[0:15], 31),  # after month 1: 15 days
    ]
    team = None
    skip: dict[int, set[date]] = {}
    plans = []
    for n, (start, missed, _) in enumerate(cases):
        e = enroll(session, catalog, "Gilenya", start, now=now, team=team, n=n)
        team = e.team
        assert e.plan.id is not None
        skip[e.plan.id] = set(missed)
        plans.append(e.plan)
    drive(
        session,
        catalog,
        start=now,
        until=at(2026, 3, 16, 12),
        take=lambda d: d.local_date not in skip[d.plan_id],
    )

    observed = events(session, type_="repeat_first_dose_observation")
    got = {ev.plan_id: ev.details for ev in observed}
    assert len(observed) == len(got)  # once per interruption
    for plan, (_, _, first_day) in zip(plans, cases, strict=True):
        if first_day is None:
            assert plan.id not in got
            continue
        assert got[plan.id]["first_missed_day"] == first_day
    assert got[plans[0].id]["interruption_days"] == 1
    assert got[plans[2].id]["interruption_days"] == 8
    assert got[plans[4].id]["interruption_days"] == 15


def test_mitoxantrone_stops_at_its_lifetime_cap_after_eleven_doses(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 1, 4, 12)
    e = enroll(session, catalog, "mitoxantrone", date(2026, 1, 5), now=now)
    materialize(session, now=now, catalog=catalog, horizon_days=35)
    given = []
    for _ in range(11):
        infusion = next(d for d in open_doses(session, e.plan) if d.kind == "infusion")
        when = _due(infusion) + timedelta(hours=1)
        result = confirm(
            session,
            catalog=catalog,
            dose=infusion,
            status="taken",
            at=when,
            now=when,
            via="clinic",
            by="oncology nurse",
        )
        given.append((infusion.local_date, infusion.amount))
        materialize(session, now=when, catalog=catalog, horizon_days=35)

    assert [d for d, _ in given][:3] == [date(2026, 1, 5), date(2026, 4, 5), date(2026, 7, 5)]
    assert given[-1] == (date(2028, 7, 5), 12)
    assert sum(a for _, a in given) == 132
    assert [ev.type for ev in result.events] == ["cap_reached"]
    assert result.events[0].details["cumulative"] == 132
    plan = session.get(Plan, e.plan.id)
    assert plan is not None and plan.status == "completed"
    assert open_doses(session, e.plan) == []
    materialize(session, now=at(2028, 7, 6), catalog=catalog, horizon_days=400)
    assert open_doses(session, e.plan) == []
    assert [r.type for r in events(session, type_="cap_reached")] == ["cap_reached"]
