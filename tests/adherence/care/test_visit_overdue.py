"""The ``visit_overdue`` flag in virtual time through the real engine tick (SQLite and
PostgreSQL): raised once per due date when a neurology visit or MRI is not attended inside
its window, kept (not duplicated) while it lasts, not resolved by a booking, resolved by
itself when the visit is recorded, never raised again for a resolved due date, and on the
call list's tier 4.

A patient enrolled Sun 1 Mar 2026 (America/New_York), clinic cadences neurology every 6
months and MRI every 12, a 30-day window: the neurology visit is due Tue 1 Sep 2026, its
window closes Thu 1 Oct, so it is overdue from Fri 2 Oct.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from adherence.calendar.visits.booking import book, done
from adherence.care.calls.queue import call_list
from adherence.care.flags import resolve
from adherence.core.config import settings_from_mapping
from adherence.engine import dispatch_policy, tick
from adherence.patients.enrollment import create_patient, create_team
from adherence.storage.models import Flag, Patient
from notifiers.sms import MemorySms
from schedules import Catalog
from tests.adherence.engine_helpers import at

SETTINGS = settings_from_mapping({"visits": {"cadences": "neurology:6,mri:12", "window_days": 30}})


def _patient(session: Session) -> Patient:
    now = at(2026, 3, 1, 9)
    team = create_team(session, name="Riverside MS Clinic", tz="America/New_York", now=now)
    return create_patient(
        session, team=team, name="Ann Example", phone="+12025550143", tz="America/New_York",
        now=now,
    )  # fmt: skip


def _tick(session: Session, catalog: Catalog, now: datetime, *, full: bool = True) -> None:
    tick(
        session,
        now=now,
        catalog=catalog,
        policy=dispatch_policy(SETTINGS),
        channel=MemorySms(),
        horizon_days=3,
        do_materialize=full,
        settings=SETTINGS,
    )


def _flags(session: Session) -> list[Flag]:
    session.expire_all()
    return list(
        session.exec(select(Flag).where(Flag.rule == "visit_overdue").order_by(col(Flag.id)))
    )


def test_raised_once_after_the_window_and_resolved_when_the_visit_is_recorded(
    session: Session, catalog: Catalog
) -> None:
    p = _patient(session)
    for day in (1, 15):
        _tick(session, catalog, at(2026, 9, day, 10))  # due, inside the window
    _tick(session, catalog, at(2026, 10, 1, 23, 30))  # the window's last day
    assert _flags(session) == []
    for when in (at(2026, 10, 2, 0, 30), at(2026, 10, 2, 1, 30), at(2026, 10, 3, 9)):
        _tick(session, catalog, when)
    (flag,) = _flags(session)
    assert (flag.patient_id, flag.plan_id, flag.severity, flag.status, flag.occurrences) == (
        p.id,
        None,
        "normal",
        "open",
        1,
    )
    seen = flag.details["visits"]["neurology:2026-09-01"]
    assert (seen["due"], seen["window_closed"], seen["last_attended"]) == (
        "2026-09-01",
        "2026-10-01",
        None,
    )
    assert seen["days_overdue"] == 1  # on the tick that raised it
    rows = call_list(session, team_id=p.team_id, now=at(2026, 10, 3, 9), settings=SETTINGS).rows
    assert [(r.patient_id, r.tier) for r in rows] == [(p.id, 4)]

    # Booked: still not attended, the flag stays.
    visit = book(session, patient=p, visit_type="neurology", at=at(2026, 10, 9, 10),
                 now=at(2026, 10, 4, 9), settings=SETTINGS, by="nurse")  # fmt: skip
    _tick(session, catalog, at(2026, 10, 4, 10))
    _tick(session, catalog, at(2026, 10, 9, 11), full=False)
    assert [f.status for f in _flags(session)] == ["open"]

    done(session, visit=visit, now=at(2026, 10, 9, 12), by="nurse")
    _tick(session, catalog, at(2026, 10, 9, 12, 1), full=False)  # a frequent tick is enough
    (flag,) = _flags(session)
    assert (flag.status, flag.resolved_by) == ("resolved", "system: visit recorded")
    assert "neurology attended 2026-10-09" in flag.note

    # The next neurology visit is due from the one attended: nothing until April 2027.
    for when in (at(2026, 10, 10, 9), at(2026, 12, 1, 9), at(2027, 2, 28, 9)):
        _tick(session, catalog, when)
    assert len(_flags(session)) == 1


def test_a_resolved_due_date_is_not_raised_again_and_the_next_one_is(
    session: Session, catalog: Catalog
) -> None:
    p = _patient(session)
    _tick(session, catalog, at(2026, 10, 5, 9))
    (first,) = _flags(session)
    resolve(session, first.id or 0, by="nurse", note="patient seen elsewhere, letter asked",
            now=at(2026, 10, 5, 10))  # fmt: skip
    for when in (at(2026, 10, 6, 9), at(2026, 11, 6, 9), at(2027, 3, 15, 9)):
        _tick(session, catalog, when)
    assert [f.id for f in _flags(session)] == [first.id]  # MRI (due 1 Mar 2027) still in window

    _tick(session, catalog, at(2027, 4, 1, 9))  # MRI window closed 31 Mar 2027
    flags = _flags(session)
    assert [f.status for f in flags] == ["resolved", "open"]
    assert set(flags[1].details["visits"]) == {"mri:2027-03-01"}
    assert flags[1].patient_id == p.id


def test_only_active_patients_are_flagged(session: Session, catalog: Catalog) -> None:
    p = _patient(session)
    p.active = False
    session.add(p)
    session.commit()
    _tick(session, catalog, at(2026, 10, 5, 9))
    assert _flags(session) == []
