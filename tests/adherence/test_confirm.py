"""Recording what happened to a dose: clinic corrections with their history, SMS answers
that never overwrite, which dose a reply is about, and entries that are refused."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from adherence.confirm import ConfirmError, confirm, open_dose_for_reply
from adherence.dispatch import DispatchPolicy, dispatch_due
from adherence.enrollment import pause_plan
from adherence.materialize import materialize
from adherence.models import DoseChange
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
