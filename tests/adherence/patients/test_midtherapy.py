"""Enrolling a patient already on therapy: the real Day 1 (--day, --since) and the dose last
given (--last-dose), driven through the real engine on a virtual clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from dateutil.relativedelta import relativedelta
from sqlmodel import Session

from adherence.dosing.materialize import materialize
from adherence.patients.enrollment import create_patient, create_team
from adherence.patients.midtherapy import (
    PositionError,
    last_dose_instant,
    phase_name,
    position,
    start_plan,
)
from adherence.storage.models import Patient, Plan
from schedules import Catalog
from tests.adherence.engine_helpers import NY, PHONES, at, doses, drive, outbox

NOW = at(2026, 12, 3, 8, 0)  # a Thursday morning in New York
TODAY = NOW.date()


def _patient(session: Session, n: int = 0) -> Patient:
    team = create_team(session, name=f"Riverside {n}", tz="America/New_York", now=NOW)
    return create_patient(
        session, team=team, name=f"P{n}", phone=PHONES[n], tz="America/New_York", now=NOW
    )


def _enrol(
    session: Session,
    catalog: Catalog,
    regimen: str,
    *,
    options: dict[str, str] | None = None,
    n: int = 0,
    **where: object,
) -> Plan:
    patient = _patient(session, n)
    resolved = catalog.get(regimen).regimen(options or {})
    plan = start_plan(
        session,
        catalog=catalog,
        patient=patient,
        regimen=regimen,
        where=position(resolved, today=TODAY, **where),  # type: ignore[arg-type]
        now=NOW,
        by="test",
        options=options,
    )
    materialize(session, now=NOW, catalog=catalog, horizon_days=35)
    return plan


def test_day_40_of_ponesimod_is_maintenance_with_no_titration_reminder(
    session: Session, catalog: Catalog
) -> None:
    plan = _enrol(session, catalog, "ponesimod", day=40)
    assert plan.start_date == TODAY - timedelta(days=39)
    drive(session, catalog, start=NOW, until=NOW + timedelta(days=3))
    all_doses = doses(session, plan)
    assert all_doses, "the plan has doses from today"
    assert {d.phase for d in all_doses} == {"maintenance"}
    assert min(d.local_date for d in all_doses) == TODAY  # nothing for the past
    assert {d.day for d in all_doses if d.local_date == TODAY} == {40}
    reminders = outbox(session, purpose="reminder")
    assert len(reminders) == 3  # 09:00 today and the next two mornings, once each
    assert {r.dose_id for r in reminders} <= {d.id for d in all_doses}
    assert all(d.amount == 20 for d in all_doses)  # the maintenance dose, not a pack step


def test_ocrelizumab_last_dose_four_months_ago_sets_the_next_infusion_window(
    session: Session, catalog: Catalog
) -> None:
    last = TODAY - relativedelta(months=4)
    plan = _enrol(session, catalog, "ocrelizumab", last_dose=last)
    infusions = doses(session, plan)
    given = [d for d in infusions if d.status == "taken"]
    assert len(given) == 1 and given[0].local_date == last
    assert given[0].confirmed_via == "enrolment"
    assert given[0].taken_at is not None and given[0].taken_at.astimezone(NY).date() == last
    upcoming = [d for d in infusions if d.status == "scheduled"]
    assert [d.local_date for d in upcoming] == [last + relativedelta(months=6)]
    nxt = upcoming[0]
    assert nxt.phase == "maintenance" and nxt.amount == 600
    # The label window counts from the dose actually given: at least 5 months after it.
    assert nxt.earliest == last + relativedelta(months=5)
    assert nxt.latest == nxt.local_date + relativedelta(months=1)


def test_since_and_a_late_last_infusion_reschedule_from_the_infusion_given(
    session: Session, catalog: Catalog
) -> None:
    since = date(2025, 1, 6)  # Day 1; maintenance due 2025-07-06, 2026-01-06, 2026-07-06
    given = date(2026, 7, 27)  # three weeks late
    plan = _enrol(session, catalog, "ocrelizumab", since=since, last_dose=given)
    assert plan.start_date == since
    upcoming = [d for d in doses(session, plan) if d.status == "scheduled"]
    assert [d.local_date for d in upcoming] == [given + relativedelta(months=6)]


def test_cladribine_takes_the_course_and_cycle_the_last_dose_completed(
    session: Session, catalog: Catalog
) -> None:
    regimen = catalog.get("cladribine").regimen({"weight_kg": "72"})
    assert phase_name(regimen, 1, 2) == "course 1 cycle 2"
    last = date(2026, 6, 5)
    plan = _enrol(
        session,
        catalog,
        "cladribine",
        options={"weight_kg": "72"},
        last_dose=last,
        phase="course 1 cycle 2",
    )
    upcoming = [d for d in doses(session, plan) if d.status == "scheduled"]
    assert upcoming[0].phase == "course 2 cycle 1"
    assert upcoming[0].local_date == last + timedelta(weeks=43)


def test_alemtuzumab_second_course_counts_from_the_first_course_completed(
    session: Session, catalog: Catalog
) -> None:
    last = date(2026, 6, 5)
    plan = _enrol(session, catalog, "alemtuzumab", last_dose=last, phase="course 1")
    upcoming = [d for d in doses(session, plan) if d.status == "scheduled"]
    assert upcoming[0].phase == "course 2"
    assert upcoming[0].local_date == last + relativedelta(months=12)


@pytest.mark.parametrize(
    ("regimen", "where", "message"),
    [
        ("ponesimod", {"day": 0}, "--day 0"),
        ("ponesimod", {"since": TODAY + timedelta(days=1)}, "--since"),
        ("ponesimod", {"day": 3, "since": date(2026, 1, 1)}, "--day, --since"),
        ("ponesimod", {}, "give --start, --day, --since or --last-dose"),
        ("cladribine", {"last_dose": date(2026, 6, 5)}, "--course"),
        ("ocrelizumab", {"last_dose": TODAY + timedelta(days=2)}, "in the future"),
        (
            "ocrelizumab",
            {"since": date(2026, 1, 1), "last_dose": date(2025, 12, 1)},
            "before Day 1",
        ),
        ("ocrelizumab", {"since": date(2026, 1, 1), "phase": "maintenance"}, "--last-dose"),
    ],
)
def test_positions_that_do_not_fit_name_the_option(
    catalog: Catalog, regimen: str, where: dict[str, object], message: str
) -> None:
    options = {"weight_kg": "72"} if regimen == "cladribine" else {}
    resolved = catalog.get(regimen).regimen(options)
    with pytest.raises(PositionError, match=message.replace("-", r"\-")):
        position(resolved, today=TODAY, **where)  # type: ignore[arg-type]


def test_course_and_cycle_names_are_checked(catalog: Catalog) -> None:
    alem = catalog.get("alemtuzumab").regimen({})
    assert phase_name(alem, 2, None) == "course 2"
    with pytest.raises(PositionError, match="course 1, course 2"):
        phase_name(alem, 3, None)
    clad = catalog.get("cladribine").regimen({"weight_kg": "72"})
    with pytest.raises(PositionError, match="give --cycle"):
        phase_name(clad, 1, None)
    with pytest.raises(PositionError, match="--cycle needs --course"):
        phase_name(clad, None, 2)
    with pytest.raises(PositionError, match="not given in courses"):
        phase_name(catalog.get("ocrelizumab").regimen({}), 1, None)


def test_last_dose_text_is_a_local_date_or_date_and_time() -> None:
    assert last_dose_instant("2026-07-20") == (date(2026, 7, 20), None)
    day, at_ = last_dose_instant("2026-07-20T13:45")
    assert day == date(2026, 7, 20) and at_ is not None and at_.strftime("%H:%M") == "13:45"
    with pytest.raises(PositionError, match="without an offset"):
        last_dose_instant("2026-07-20T13:45+02:00")
    with pytest.raises(PositionError, match="YYYY-MM-DD"):
        last_dose_instant("20 July")


def test_a_refused_position_leaves_no_plan(session: Session, catalog: Catalog) -> None:
    patient = _patient(session)
    resolved = catalog.get("ocrelizumab").regimen({})
    where = position(resolved, today=TODAY, last_dose=date(2026, 8, 3))
    with pytest.raises(Exception, match="time"):
        start_plan(
            session,
            catalog=catalog,
            patient=patient,
            regimen="ocrelizumab",
            where=where,
            now=NOW,
            by="test",
            times=["25:00"],
        )
    assert session.get(Plan, 1) is None or session.get(Plan, 1).patient_id != patient.id  # type: ignore[union-attr]


def test_last_dose_time_is_kept(session: Session, catalog: Catalog) -> None:
    plan = _enrol(
        session,
        catalog,
        "ofatumumab",
        last_dose=date(2026, 11, 20),
        last_dose_time=datetime(2026, 1, 1, 18, 30).time(),
    )
    given = doses(session, plan, status="taken")
    assert len(given) == 1
    assert given[0].taken_at is not None
    assert given[0].taken_at.astimezone(NY).strftime("%Y-%m-%d %H:%M") == "2026-11-20 18:30"
    upcoming = [d for d in doses(session, plan) if d.status == "scheduled"]
    assert upcoming[0].local_date == date(2026, 12, 20)  # monthly, from the dose given
