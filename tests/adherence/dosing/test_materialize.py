"""Materialising doses: wall-clock times through DST and travel, idempotence, and the next
dose of a far-apart schedule always on the books."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from adherence.dosing.confirm import confirm
from adherence.dosing.materialize import materialize
from adherence.patients.enrollment import update_patient
from adherence.storage.models import Dose
from schedules import Catalog
from tests.adherence.engine_helpers import NY, at, doses, enroll, open_doses

PARIS = ZoneInfo("Europe/Paris")


def test_travel_keeps_future_doses_at_the_same_wall_clock_time_in_the_new_zone(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 3, 2, 0, 5)
    e = enroll(session, catalog, "Aubagio", date(2026, 3, 2), now=now, times=["08:00"])
    materialize(session, now=now, catalog=catalog, horizon_days=6)
    first = doses(session, e.plan)[0]
    confirm(
        session,
        catalog=catalog,
        dose=first,
        status="taken",
        at=at(2026, 3, 2, 8, 5),
        now=at(2026, 3, 2, 8, 5),
        via="sms",
    )

    # Flies to Paris; lands at 09:00 New York time on 3 March (15:00 in Paris).
    landed = at(2026, 3, 3, 9)
    update_patient(session, patient=e.patient, now=landed, tz="Europe/Paris")
    materialize(session, now=landed, catalog=catalog, horizon_days=6)

    rows = [d for d in doses(session, e.plan) if d.status != "cancelled"]
    assert rows[0].id == first.id and rows[0].due_at == at(2026, 3, 2, 8)  # history unchanged
    future = [d for d in rows if d.due_at > landed]
    assert [d.due_at.astimezone(PARIS).date() for d in future] == [
        date(2026, 3, n) for n in range(4, 10)
    ]
    assert {d.due_at.astimezone(PARIS).time() for d in future} == {time(8, 0)}
    assert {d.local_time for d in future} == {"08:00"}
    assert all(d.next_action_at == d.due_at for d in future)
    dates = [d.local_date for d in rows]
    assert len(dates) == len(set(dates))  # nothing doubled by the move


@pytest.mark.parametrize(
    ("wanted", "first_day", "changeover", "local_on_changeover", "utc_before", "utc_after"),
    [
        # Spring forward on Sunday 8 March 2026.
        ("08:00", date(2026, 3, 5), date(2026, 3, 8), time(8, 0), 13, 12),
        # 02:30 does not exist on 8 March: moved forward by the gap, to 03:30 EDT.
        ("02:30", date(2026, 3, 5), date(2026, 3, 8), time(3, 30), 7, 6),
        # Fall back on Sunday 1 November 2026.
        ("08:00", date(2026, 10, 29), date(2026, 11, 1), time(8, 0), 12, 13),
        # 01:30 happens twice on 1 November: the first one (EDT, 05:30 UTC).
        ("01:30", date(2026, 10, 29), date(2026, 11, 1), time(1, 30), 5, 6),
    ],
    ids=["spring-08:00", "spring-gap-02:30", "fall-08:00", "fall-ambiguous-01:30"],
)
def test_daily_dose_keeps_its_local_time_through_a_dst_week(
    session: Session,
    catalog: Catalog,
    wanted: str,
    first_day: date,
    changeover: date,
    local_on_changeover: time,
    utc_before: int,
    utc_after: int,
) -> None:
    now = datetime.combine(first_day, time(0, 1), NY)
    e = enroll(session, catalog, "Aubagio", first_day, now=now, times=[wanted])
    materialize(session, now=now, catalog=catalog, horizon_days=7)

    rows = doses(session, e.plan)
    local = {d.due_at.astimezone(NY).date(): d.due_at.astimezone(NY) for d in rows}
    assert sorted(local) == [first_day + timedelta(days=n) for n in range(8)]  # one a day
    wall = datetime.strptime(wanted, "%H:%M").time()
    for day, when in local.items():
        expected = local_on_changeover if day == changeover else wall
        assert when.time() == expected, day
    assert local[first_day].astimezone(UTC).hour == utc_before
    assert local[changeover + timedelta(days=1)].astimezone(UTC).hour == utc_after
    changed = next(d for d in rows if d.local_date == changeover)
    assert changed.local_time == wanted  # what the patient asked for, kept


def test_materialize_is_idempotent_and_a_dose_is_unique_by_plan_epoch_and_key(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 3, 2, 0, 5)
    e = enroll(session, catalog, "Tecfidera", date(2026, 3, 2), now=now)
    first = materialize(session, now=now, catalog=catalog, horizon_days=10)
    before = [(d.id, d.epoch, d.key, d.due_at, d.status) for d in doses(session, e.plan)]

    again = materialize(session, now=now, catalog=catalog, horizon_days=10)
    later = materialize(session, now=now + timedelta(hours=3), catalog=catalog, horizon_days=10)

    assert first == 22 and (again, later) == (0, 0)  # twice daily, 11 days
    assert [(d.id, d.epoch, d.key, d.due_at, d.status) for d in doses(session, e.plan)] == before
    assert doses(session, e.plan)[:2][1].amount == 120  # Days 1-7: 120 mg twice a day
    copy = doses(session, e.plan)[0]
    session.add(
        Dose(
            plan_id=copy.plan_id,
            patient_id=copy.patient_id,
            epoch=copy.epoch,
            key=copy.key,
            due_at=copy.due_at,
            local_date=copy.local_date,
            local_time=copy.local_time,
            day=copy.day,
            amount=copy.amount,
            unit=copy.unit,
            kind=copy.kind,
            phase=copy.phase,
            window_closes_at=copy.window_closes_at,
            updated_at=now,
        )
    )
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


@pytest.mark.parametrize(
    ("regimen", "start", "enrolled", "expected"),
    [
        # Enrolled after the two 300 mg halves: the 600 mg infusion 6 months after Day 1.
        ("Ocrevus", date(2026, 1, 5), at(2026, 1, 20, 12), [("infusion", date(2026, 7, 5))]),
        # After the first mitoxantrone infusion: the heart check a week before the next one,
        # and the infusion itself (not the check alone).
        (
            "mitoxantrone",
            date(2026, 1, 5),
            at(2026, 1, 6, 12),
            [("monitoring", date(2026, 3, 29)), ("infusion", date(2026, 4, 5))],
        ),
    ],
    ids=["ocrevus", "mitoxantrone"],
)
def test_next_dose_of_a_far_apart_schedule_is_written_beyond_the_horizon(
    session: Session,
    catalog: Catalog,
    regimen: str,
    start: date,
    enrolled: datetime,
    expected: list[tuple[str, date]],
) -> None:
    e = enroll(session, catalog, regimen, start, now=enrolled)
    written = materialize(session, now=enrolled, catalog=catalog, horizon_days=35)

    session.expire_all()
    rows = session.exec(
        select(Dose).where(Dose.plan_id == e.plan.id).order_by(col(Dose.due_at))
    ).all()
    assert written == len(expected)
    assert [(d.kind, d.local_date) for d in rows] == expected
    infusion = rows[-1]
    # The clinic appointment is reminded the day before.
    assert infusion.next_action_at == infusion.due_at - timedelta(days=1)
    assert [d.local_date for d in open_doses(session, e.plan)] == [expected[-1][1]]
    # Running again the next day writes nothing new.
    assert (
        materialize(session, now=enrolled + timedelta(days=1), catalog=catalog, horizon_days=35)
        == 0
    )
