"""The reminder step on real dates: reminder, nudges, quiet hours, snooze, missed, replies,
pause / resume / stop, and what the texts say."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from adherence.dosing.dispatch import DispatchPolicy, dispatch_due, next_due
from adherence.dosing.materialize import materialize
from adherence.dosing.replies import handle_reply
from adherence.patients.enrollment import pause_plan, resume_plan, stop_plan
from adherence.storage.models import Dose, OutboxMessage
from schedules import Catalog
from tests.adherence.engine_helpers import NY, Enrolled, at, doses, enroll, open_doses, outbox


def _run(
    session: Session, catalog: Catalog, policy: DispatchPolicy, start: datetime, until: datetime
) -> None:
    """Dispatch at every instant a dose is due for action, from ``start`` to ``until``."""
    now = start
    while now <= until:
        dispatch_due(session, now=now, catalog=catalog, policy=policy)
        nxt = next_due(session)
        if nxt is None:
            return
        now = max(nxt, now + timedelta(seconds=1))


def _texts(session: Session, dose: Dose) -> list[tuple[str, str]]:
    """(local time sent, purpose) of every text about ``dose``."""
    rows = session.exec(
        select(OutboxMessage)
        .where(OutboxMessage.dose_id == dose.id)
        .order_by(col(OutboxMessage.created_at), col(OutboxMessage.id))
    ).all()
    return [(m.created_at.astimezone(NY).strftime("%d %H:%M"), m.purpose) for m in rows]


def _first_dose(session: Session, catalog: Catalog, times: list[str]) -> tuple[Dose, Enrolled]:
    now = at(2026, 3, 2, 0, 5)
    e = enroll(session, catalog, "Aubagio", date(2026, 3, 2), now=now, times=times)
    materialize(session, now=now, catalog=catalog, horizon_days=3)
    return doses(session, e.plan)[0], e


def test_reminder_is_sent_at_the_dose_time_and_not_before(
    session: Session, catalog: Catalog
) -> None:
    dose, _ = _first_dose(session, catalog, times=["08:00"])
    assert dose.next_action_at == at(2026, 3, 2, 8)

    dispatch_due(session, now=at(2026, 3, 2, 7, 59), catalog=catalog, policy=DispatchPolicy())
    session.refresh(dose)
    assert (dose.status, _texts(session, dose)) == ("scheduled", [])
    dispatch_due(session, now=at(2026, 3, 2, 8), catalog=catalog, policy=DispatchPolicy())
    session.refresh(dose)
    assert (dose.status, _texts(session, dose)) == ("reminded", [("02 08:00", "reminder")])


def test_unanswered_reminder_gets_the_policy_nudges_then_is_missed_when_the_window_closes(
    session: Session, catalog: Catalog
) -> None:
    dose, _ = _first_dose(session, catalog, times=["08:00"])
    policy = DispatchPolicy(nudges=3, nudge_every=timedelta(minutes=45))

    _run(session, catalog, policy, at(2026, 3, 2, 8), at(2026, 3, 2, 19, 59))
    session.refresh(dose)
    assert dose.status == "reminded" and dose.nudges_sent == 3
    assert _texts(session, dose) == [
        ("02 08:00", "reminder"),
        ("02 08:45", "nudge"),
        ("02 09:30", "nudge"),
        ("02 10:15", "nudge"),
    ]
    # Aubagio's late window is 12 hours: the dose is missed at 20:00, not before.
    assert dose.next_action_at == at(2026, 3, 2, 20)
    result = dispatch_due(session, now=at(2026, 3, 2, 20), catalog=catalog, policy=policy)
    session.refresh(dose)
    assert (dose.status, result.missed) == ("missed", 1)
    assert dose.next_action_at is None
    assert len(_texts(session, dose)) == 4


def test_quiet_hours_hold_back_nudges_but_never_the_dose_time_reminder(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 3, 2, 0, 5)
    evening = enroll(
        session,
        catalog,
        "Aubagio",
        date(2026, 3, 2),
        now=now,
        times=["21:30"],
        quiet_hours="22:00-07:00",
        n=0,
    )
    night = enroll(
        session,
        catalog,
        "Aubagio",
        date(2026, 3, 2),
        now=now,
        times=["23:00"],
        quiet_hours="22:00-07:00",
        team=evening.team,
        n=1,
    )
    materialize(session, now=now, catalog=catalog, horizon_days=2)
    policy = DispatchPolicy(nudges=2, nudge_every=timedelta(minutes=60))

    _run(session, catalog, policy, now, at(2026, 3, 3, 12))

    # 21:30 reminder; the 22:30 nudge waits for 07:00; the window closes at 09:30.
    assert _texts(session, doses(session, evening.plan)[0]) == [
        ("02 21:30", "reminder"),
        ("03 07:00", "nudge"),
        ("03 08:00", "nudge"),
    ]
    # A dose chosen inside quiet hours is still reminded at its time.
    assert _texts(session, doses(session, night.plan)[0])[:2] == [
        ("02 23:00", "reminder"),
        ("03 07:00", "nudge"),
    ]


def test_snooze_reminds_again_after_the_snooze_then_nudges_resume(
    session: Session, catalog: Catalog
) -> None:
    dose, e = _first_dose(session, catalog, times=["08:00"])
    policy = DispatchPolicy(nudges=1, nudge_every=timedelta(minutes=60))
    _run(session, catalog, policy, at(2026, 3, 2, 8), at(2026, 3, 2, 8, 1))

    outcome = handle_reply(
        session,
        catalog=catalog,
        patient=e.patient,
        text="Z 20",
        now=at(2026, 3, 2, 8, 5),
    )
    assert outcome.answer == "OK, we'll remind you in 20 min."
    _run(session, catalog, policy, at(2026, 3, 2, 8, 5), at(2026, 3, 2, 12))

    assert _texts(session, dose) == [
        ("02 08:00", "reminder"),
        ("02 08:25", "snooze"),
        ("02 09:25", "nudge"),
    ]


def test_reply_in_the_window_is_on_time_and_a_day_after_it_is_late_on_that_same_dose(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 3, 2, 0, 5)
    e = enroll(session, catalog, "Aubagio", date(2026, 3, 2), now=now, times=["08:00"])
    materialize(session, now=now, catalog=catalog, horizon_days=5)
    policy = DispatchPolicy(nudges=0)

    _run(session, catalog, policy, now, at(2026, 3, 2, 19))
    on_time = handle_reply(
        session, catalog=catalog, patient=e.patient, text="taken", now=at(2026, 3, 2, 19)
    )
    _run(session, catalog, policy, at(2026, 3, 2, 19), at(2026, 3, 3, 23))
    late = handle_reply(
        session, catalog=catalog, patient=e.patient, text="T", now=at(2026, 3, 3, 23, 30)
    )

    assert on_time.dose is not None and late.dose is not None
    assert (on_time.dose.local_date, on_time.dose.status, on_time.dose.late) == (
        date(2026, 3, 2),
        "taken",
        False,
    )
    assert on_time.answer == "Thanks, recorded."
    # 3 March was missed at 20:00; the 23:30 reply is about it, taken late.
    assert (late.dose.local_date, late.dose.status, late.dose.late) == (
        date(2026, 3, 3),
        "taken",
        True,
    )
    assert late.answer == "Thanks, recorded as late."
    assert late.dose.taken_at == at(2026, 3, 3, 23, 30)
    rows = doses(session, e.plan)
    assert [(d.local_date, d.status) for d in rows[:3]] == [
        (date(2026, 3, 2), "taken"),
        (date(2026, 3, 3), "taken"),
        (date(2026, 3, 4), "scheduled"),  # not a new dose
    ]


def test_reply_more_than_a_day_after_the_window_finds_no_dose(
    session: Session, catalog: Catalog
) -> None:
    dose, e = _first_dose(session, catalog, times=["08:00"])
    pause_at = at(2026, 3, 2, 7)
    _run(session, catalog, DispatchPolicy(nudges=0), pause_at, at(2026, 3, 2, 20))
    pause_plan(session, plan=e.plan, now=at(2026, 3, 2, 21))

    outcome = handle_reply(
        session,
        catalog=catalog,
        patient=e.patient,
        text="T",
        now=at(2026, 3, 3, 20, 1),
    )

    assert outcome.dose is None
    assert outcome.answer is not None and "no dose waiting" in outcome.answer
    session.refresh(dose)
    assert (dose.status, dose.taken_at) == ("missed", None)


def test_pause_stops_reminders_and_resume_brings_future_doses_back(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 3, 2, 0, 5)
    e = enroll(session, catalog, "Aubagio", date(2026, 3, 2), now=now, times=["08:00"])
    materialize(session, now=now, catalog=catalog, horizon_days=7)
    policy = DispatchPolicy(nudges=0)

    pause_plan(session, plan=e.plan, now=at(2026, 3, 2, 6))
    materialize(session, now=at(2026, 3, 3, 6), catalog=catalog, horizon_days=7)
    _run(session, catalog, policy, at(2026, 3, 2, 6), at(2026, 3, 4, 12))
    assert outbox(session, purpose="reminder") == []
    assert {d.status for d in doses(session, e.plan)} == {"cancelled"}

    resume_plan(session, plan=e.plan, now=at(2026, 3, 4, 12))
    materialize(session, now=at(2026, 3, 4, 12), catalog=catalog, horizon_days=7)
    upcoming = open_doses(session, e.plan)
    assert [d.local_date for d in upcoming[:2]] == [date(2026, 3, 5), date(2026, 3, 6)]
    assert all(d.due_at.astimezone(NY).hour == 8 for d in upcoming)
    _run(session, catalog, policy, at(2026, 3, 4, 12), at(2026, 3, 5, 9))
    reminded = [m.dose_id for m in outbox(session, purpose="reminder")]
    assert reminded == [upcoming[0].id]
    # The paused days stay cancelled: nothing is owed for them.
    past = [d for d in doses(session, e.plan) if d.local_date < date(2026, 3, 5)]
    assert {d.status for d in past} == {"cancelled"}


def test_stop_ends_reminders_and_materialising_writes_no_new_doses(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 3, 2, 0, 5)
    e = enroll(session, catalog, "Aubagio", date(2026, 3, 2), now=now, times=["08:00"])
    materialize(session, now=now, catalog=catalog, horizon_days=7)

    stop_plan(session, plan=e.plan, now=at(2026, 3, 2, 6), reason="switched therapy")
    written = materialize(session, now=at(2026, 3, 9), catalog=catalog, horizon_days=14)
    _run(session, catalog, DispatchPolicy(), at(2026, 3, 2, 6), at(2026, 3, 10))

    assert written == 0
    assert (e.plan.status, e.plan.stop_reason) == ("stopped", "switched therapy")
    assert open_doses(session, e.plan) == []
    assert outbox(session) == []


def test_texts_name_no_drug_unless_the_patient_opted_out_of_discretion(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 3, 2, 0, 5)
    discreet = enroll(session, catalog, "Aubagio", date(2026, 3, 2), now=now, times=["08:00"])
    named = enroll(
        session,
        catalog,
        "Aubagio",
        date(2026, 3, 2),
        now=now,
        times=["08:00"],
        discreet=False,
        team=discreet.team,
        n=1,
    )
    materialize(session, now=now, catalog=catalog, horizon_days=2)
    _run(session, catalog, DispatchPolicy(nudges=1), now, at(2026, 3, 2, 9, 30))

    by_patient: dict[int | None, list[str]] = {}
    for m in outbox(session):
        by_patient.setdefault(m.patient_id, []).append(m.body)
    quiet, open_ = by_patient[discreet.patient.id], by_patient[named.patient.id]
    assert len(quiet) == len(open_) == 2  # reminder and nudge
    for body in quiet:
        assert "medication" in body
        assert not any(
            w in body.lower() for w in ("aubagio", "teriflunomide", "14 mg", "sclerosis")
        )
    assert quiet[0] == (
        "Riverside MS Clinic: time for your medication (08:00). "
        "Reply T when taken, S to skip, Z to snooze."
    )
    assert all("Aubagio 14 mg" in body for body in open_)
