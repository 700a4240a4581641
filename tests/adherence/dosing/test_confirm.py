"""Recording what happened to a dose: clinic corrections with their history, SMS answers
that never overwrite, which dose a reply is about, and entries that are refused; and two
writers on one dose at once (two sessions on one database, really interleaved), where the
one that decided from what it read first never clobbers what the other committed."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session, col, select

from adherence.dosing.confirm import ConfirmError, confirm, open_dose_for_reply
from adherence.dosing.dispatch import DispatchPolicy, dispatch_due
from adherence.dosing.materialize import materialize
from adherence.dosing.replies import ReplyOutcome, handle_reply
from adherence.patients.enrollment import pause_plan
from adherence.storage.models import Dose, DoseChange, Patient
from schedules import Catalog
from tests.adherence.engine_helpers import Enrolled, at, doses, enroll


def _enrolled(session: Session, catalog: Catalog, regimen: str = "Aubagio") -> Enrolled:
    now = at(2026, 3, 2, 0, 5)
    e = enroll(session, catalog, regimen, date(2026, 3, 2), now=now)
    materialize(session, now=now, catalog=catalog, horizon_days=3)
    return e


def test_clinic_entry_corrects_a_missed_dose_to_taken_and_keeps_who_when_old_and_new(
    session: Session, catalog: Catalog
) -> None:
    e = _enrolled(session, catalog)
    dispatch_due(session, now=at(2026, 3, 2, 9), catalog=catalog, policy=DispatchPolicy())
    dispatch_due(session, now=at(2026, 3, 2, 21), catalog=catalog, policy=DispatchPolicy())
    dose = doses(session, e.plan)[0]
    assert dose.status == "missed"

    entered = at(2026, 3, 3, 10, 15)
    result = confirm(
        session,
        catalog=catalog,
        dose=dose,
        status="taken",
        at=at(2026, 3, 2, 13),
        now=entered,
        via="clinic",
        by="coordinator Ana",
        reason="patient phoned: took it at lunch",
    )
    # A second look the next day: it was skipped after all.
    confirm(
        session,
        catalog=catalog,
        dose=dose,
        status="skipped",
        at=entered,
        now=entered + timedelta(days=1),
        via="phone",
        by="nurse Lee",
    )

    assert (result.old_status, result.late) == ("missed", False)
    changes = session.exec(
        select(DoseChange).where(DoseChange.dose_id == dose.id).order_by(col(DoseChange.id))
    ).all()
    assert [
        (c.changed_by, c.changed_at, c.old_status, c.new_status, c.old_taken_at, c.new_taken_at)
        for c in changes
    ] == [
        ("coordinator Ana", entered, "missed", "taken", None, at(2026, 3, 2, 13)),
        ("nurse Lee", entered + timedelta(days=1), "taken", "skipped", at(2026, 3, 2, 13), None),
    ]
    assert changes[0].reason == "patient phoned: took it at lunch"
    session.refresh(dose)
    assert (dose.status, dose.confirmed_via, dose.confirmed_by) == ("skipped", "phone", "nurse Lee")


def test_sms_answer_never_overwrites_an_answer_already_given_and_leaves_no_change_row(
    session: Session, catalog: Catalog
) -> None:
    e = _enrolled(session, catalog)
    dose = doses(session, e.plan)[0]
    confirm(
        session,
        catalog=catalog,
        dose=dose,
        status="taken",
        at=at(2026, 3, 2, 9, 5),
        now=at(2026, 3, 2, 9, 5),
        via="sms",
    )

    again = confirm(
        session,
        catalog=catalog,
        dose=dose,
        status="skipped",
        at=at(2026, 3, 2, 9, 7),
        now=at(2026, 3, 2, 9, 7),
        via="sms",
    )

    assert again.old_status == "taken"
    session.refresh(dose)
    assert (dose.status, dose.taken_at) == ("taken", at(2026, 3, 2, 9, 5))
    assert session.exec(select(DoseChange)).all() == []


def test_reply_is_about_the_most_recent_dose_already_due(
    session: Session, catalog: Catalog
) -> None:
    e = _enrolled(session, catalog, "Tecfidera")  # 08:00 and 20:00, late window 8 hours
    policy = DispatchPolicy()
    dispatch_due(session, now=at(2026, 3, 2, 8), catalog=catalog, policy=policy)
    morning, evening = doses(session, e.plan)[:2]
    assert e.patient.id is not None
    assert open_dose_for_reply(session, e.patient.id, at(2026, 3, 2, 12)) == morning
    # Just after its window closed, before the engine has marked it missed: still that dose.
    assert open_dose_for_reply(session, e.patient.id, at(2026, 3, 2, 16, 1)) == morning

    dispatch_due(session, now=at(2026, 3, 2, 16), catalog=catalog, policy=policy)
    session.refresh(morning)
    assert morning.status == "missed"
    # Up to 15 minutes early counts for the coming dose; before that, the morning one (late).
    assert open_dose_for_reply(session, e.patient.id, at(2026, 3, 2, 19, 40)) == morning
    assert open_dose_for_reply(session, e.patient.id, at(2026, 3, 2, 19, 45)) == evening
    dispatch_due(session, now=at(2026, 3, 2, 20), catalog=catalog, policy=policy)
    assert open_dose_for_reply(session, e.patient.id, at(2026, 3, 2, 20, 5)) == evening


def test_reply_after_the_plan_was_paused_is_not_recorded_on_a_stale_dose(
    session: Session, catalog: Catalog
) -> None:
    e = _enrolled(session, catalog)
    dispatch_due(session, now=at(2026, 3, 2, 9), catalog=catalog, policy=DispatchPolicy())
    pause_plan(session, plan=e.plan, now=at(2026, 3, 2, 10))
    dispatch_due(session, now=at(2026, 3, 2, 10, 1), catalog=catalog, policy=DispatchPolicy())
    assert e.patient.id is not None

    # The reminded dose stays as it was, but a week later nothing is waiting for an answer.
    assert open_dose_for_reply(session, e.patient.id, at(2026, 3, 2, 10, 30)) is not None
    assert open_dose_for_reply(session, e.patient.id, at(2026, 3, 9, 9)) is None


def test_confirm_refuses_entries_that_cannot_be_true_and_changes_nothing(
    session: Session, catalog: Catalog
) -> None:
    e = _enrolled(session, catalog)
    dose = doses(session, e.plan)[0]
    refused = [
        ("taken", at(2026, 3, 2, 12), "in the future"),
        ("taken", datetime(2026, 3, 2, 9), "UTC offset"),
        ("missed", at(2026, 3, 2, 9), "taken or skipped"),
        ("taken", at(2026, 2, 26, 9), "more than 3 days before"),
    ]

    for status, taken_at, message in refused:
        with pytest.raises(ConfirmError, match=message):
            confirm(
                session,
                catalog=catalog,
                dose=dose,
                status=status,
                at=taken_at,
                now=at(2026, 3, 2, 10),
                via="clinic",
                by="coordinator Ana",
            )
    pause_plan(session, plan=e.plan, now=at(2026, 3, 2, 6))
    cancelled = doses(session, e.plan)[1]
    with pytest.raises(ConfirmError, match="cancelled"):
        confirm(
            session,
            catalog=catalog,
            dose=cancelled,
            status="taken",
            at=at(2026, 3, 3, 9),
            now=at(2026, 3, 3, 9),
            via="clinic",
        )
    session.refresh(dose)
    assert dose.status == "cancelled"  # paused; no entry above touched it
    assert session.exec(select(DoseChange)).all() == []


# --- two writers on one dose -------------------------------------------------------------


def test_a_clinic_entry_decided_before_the_engine_marked_the_dose_missed_records_it_as_missed(
    engine: Engine, session: Session, catalog: Catalog
) -> None:
    e = _enrolled(session, catalog)
    dispatch_due(session, now=at(2026, 3, 2, 9), catalog=catalog, policy=DispatchPolicy())
    # The coordinator's screen read the dose while it was still waiting for an answer...
    seen = doses(session, e.plan)[0]
    session.commit()
    assert seen.status == "reminded"
    # ...then the engine, in its own session, closed its window.
    with Session(engine) as engine_side:
        dispatch_due(engine_side, now=at(2026, 3, 2, 21), catalog=catalog, policy=DispatchPolicy())

    result = confirm(
        session,
        catalog=catalog,
        dose=seen,
        status="taken",
        at=at(2026, 3, 2, 13),
        now=at(2026, 3, 3, 10),
        via="clinic",
        by="coordinator Ana",
    )

    # The correction's history says what the dose really was when it was corrected.
    assert (result.old_status, result.applied) == ("missed", True)
    [change] = session.exec(select(DoseChange)).all()
    assert (change.old_status, change.new_status) == ("missed", "taken")
    assert (doses(session, e.plan)[0].status, doses(session, e.plan)[0].taken_at) == (
        "taken",
        at(2026, 3, 2, 13),
    )


def test_a_reply_decided_from_an_earlier_read_never_overwrites_the_answer_given_meanwhile(
    engine: Engine, session: Session, catalog: Catalog
) -> None:
    e = _enrolled(session, catalog)
    dispatch_due(session, now=at(2026, 3, 2, 9), catalog=catalog, policy=DispatchPolicy())
    assert e.patient.id is not None
    seen = open_dose_for_reply(session, e.patient.id, at(2026, 3, 2, 9, 5))
    session.commit()
    assert seen is not None and seen.status == "reminded"
    with Session(engine) as other:
        patient = other.get(Patient, e.patient.id)
        assert patient is not None
        skip = handle_reply(
            other, catalog=catalog, patient=patient, text="S", now=at(2026, 3, 2, 9, 6)
        )
    assert skip.answer == "Noted: skipped."

    result = confirm(
        session,
        catalog=catalog,
        dose=seen,
        status="taken",
        at=at(2026, 3, 2, 9, 7),
        now=at(2026, 3, 2, 9, 7),
        via="sms",
    )

    assert (result.applied, result.old_status, result.dose.status) == (False, "skipped", "skipped")
    session.expire_all()
    dose = session.get(Dose, seen.id)
    assert dose is not None and (dose.status, dose.taken_at) == ("skipped", None)


@contextmanager
def meanwhile(
    engine: Engine, table: str, action: Callable[[], None], *, wait: float
) -> Iterator[list[threading.Thread]]:
    """Run ``action`` on another thread (its own session) at the moment this thread is
    about to write its first UPDATE of ``table``: after this thread has read and decided,
    before it writes. Waits up to ``wait`` seconds for it, then lets this thread go on."""
    me = threading.get_ident()
    started: list[threading.Thread] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.get_ident() != me or started:
            return
        if statement.lstrip().upper().startswith(f"UPDATE {table.upper()} "):
            other = threading.Thread(target=action, daemon=True)
            started.append(other)
            other.start()
            other.join(wait)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield started
    finally:
        event.remove(engine, "before_cursor_execute", before)
        for other in started:
            other.join(60)


def test_two_replies_at_once_one_is_recorded_and_the_other_is_told_so(
    engine: Engine, session: Session, catalog: Catalog
) -> None:
    e = _enrolled(session, catalog)
    dispatch_due(session, now=at(2026, 3, 2, 9), catalog=catalog, policy=DispatchPolicy())
    session.commit()
    sqlite = engine.dialect.name == "sqlite"
    second: list[ReplyOutcome] = []
    blocked: list[bool] = []

    def skip_reply() -> None:
        with Session(engine, expire_on_commit=False) as other:
            patient = other.get(Patient, e.patient.id)
            assert patient is not None
            second.append(
                handle_reply(
                    other, catalog=catalog, patient=patient, text="S", now=at(2026, 3, 2, 9, 6)
                )
            )

    with meanwhile(engine, "dose", skip_reply, wait=0.5 if sqlite else 30) as others:
        # "T" reads the dose and decides; "S" arrives before it writes.
        first = handle_reply(
            session, catalog=catalog, patient=e.patient, text="T", now=at(2026, 3, 2, 9, 6)
        )
        blocked.append(others[0].is_alive())

    [skip] = second
    dose = doses(session, e.plan)[0]
    if sqlite:
        # BEGIN IMMEDIATE: the reply that read first holds the write lock until it commits,
        # so the other waited, then found the dose answered (no dose waiting any more).
        assert blocked == [True]
        assert (dose.status, first.answer) == ("taken", "Thanks, recorded.")
        assert (
            skip.answer == "Riverside MS Clinic: there is no dose waiting for an answer right now."
        )
    else:
        # PostgreSQL: the other committed between our read and our write; the conditional
        # update saw it, the dose was read again, and the earlier answer stands.
        assert blocked == [False]
        assert (dose.status, skip.answer) == ("skipped", "Noted: skipped.")
        assert first.answer == "This dose was already recorded as skipped."
        assert first.dose is not None and first.dose.status == "skipped"
    assert dose.confirmed_via == "sms"
