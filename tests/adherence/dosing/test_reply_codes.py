"""Reply codes on real doses: a patient on two plans with a dose of each open gets a code in
each reminder, a reply naming a code applies to that dose, and a reply without one keeps the
old rule (the most recent open dose) and says which dose it was recorded for."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session

from adherence.dosing import codes
from adherence.dosing.dispatch import DispatchPolicy, dispatch_due
from adherence.dosing.materialize import materialize
from adherence.dosing.replies import handle_reply
from adherence.patients.enrollment import create_plan
from adherence.storage.models import Dose
from schedules import Catalog
from tests.adherence.engine_helpers import Enrolled, at, enroll, open_doses, outbox

DAY = date(2026, 3, 2)
NO_NUDGES = DispatchPolicy(nudges=0)


def _two_plans(
    session: Session, catalog: Catalog, **patient: object
) -> tuple[Enrolled, Dose, Dose]:
    """A patient on Aubagio at 08:00 and a prednisone course at 08:30, both reminded."""
    now = at(2026, 3, 1, 12)
    e = enroll(session, catalog, "Aubagio", DAY, now=now, times=["08:00"], **patient)
    course = create_plan(
        session,
        catalog=catalog,
        patient=e.patient,
        regimen="prednisone",
        start=DAY,
        now=now,
        times=["08:30"],
    )
    materialize(session, now=now, catalog=catalog, horizon_days=2)
    dispatch_due(session, now=at(2026, 3, 2, 8), catalog=catalog, policy=NO_NUDGES)
    dispatch_due(session, now=at(2026, 3, 2, 8, 30), catalog=catalog, policy=NO_NUDGES)
    pill = open_doses(session, e.plan)[0]
    pred = open_doses(session, course)[0]
    return e, pill, pred


def _body(session: Session, dose: Dose) -> str:
    return next(m.body for m in outbox(session, purpose="reminder") if m.dose_id == dose.id)


def test_a_lone_open_dose_is_reminded_without_a_code(session: Session, catalog: Catalog) -> None:
    e = enroll(session, catalog, "Aubagio", DAY, now=at(2026, 3, 1, 12), times=["08:00"])
    materialize(session, now=at(2026, 3, 1, 12), catalog=catalog, horizon_days=2)
    dispatch_due(session, now=at(2026, 3, 2, 8), catalog=catalog, policy=NO_NUDGES)
    dose = open_doses(session, e.plan)[0]
    assert dose.reply_code is None
    assert "Reply T when taken" in _body(session, dose)
    out = handle_reply(
        session, catalog=catalog, patient=e.patient, text="T", now=at(2026, 3, 2, 8, 5)
    )
    assert out.answer == "Thanks, recorded."  # nothing to tell apart: the answer as before


def test_two_open_doses_each_carry_their_own_code(session: Session, catalog: Catalog) -> None:
    _, pill, pred = _two_plans(session, catalog)
    assert pill.reply_code and pred.reply_code and pill.reply_code != pred.reply_code
    assert all(codes.is_code(c) for c in (pill.reply_code, pred.reply_code))
    # the second reminder names its code; the first was sent when it was the only one open
    assert f"Reply T {pred.reply_code} when taken, S {pred.reply_code} to skip" in _body(
        session, pred
    )


def test_a_reply_naming_a_code_applies_to_that_dose(session: Session, catalog: Catalog) -> None:
    e, pill, pred = _two_plans(session, catalog)
    assert pill.reply_code is not None
    out = handle_reply(
        session,
        catalog=catalog,
        patient=e.patient,
        text=f"t {pill.reply_code.lower()}",
        now=at(2026, 3, 2, 8, 40),
    )
    session.refresh(pill)
    session.refresh(pred)
    assert out.dose is not None and out.dose.id == pill.id
    assert (pill.status, pred.status) == ("taken", "reminded")
    assert out.answer == f"Thanks, recorded. Dose: medication at 08:00 ({pill.reply_code})."
    # the same code again finds its dose answered, never the other one
    again = handle_reply(
        session,
        catalog=catalog,
        patient=e.patient,
        text=f"S {pill.reply_code}",
        now=at(2026, 3, 2, 8, 45),
    )
    session.refresh(pred)
    assert again.dose is not None and again.dose.id == pill.id and pred.status == "reminded"
    assert again.answer is not None and again.answer.startswith("This dose was already recorded")


def test_a_reply_without_a_code_says_which_dose_it_was_recorded_for(
    session: Session, catalog: Catalog
) -> None:
    e, _, pred = _two_plans(session, catalog, discreet=False)
    out = handle_reply(
        session, catalog=catalog, patient=e.patient, text="T", now=at(2026, 3, 2, 8, 40)
    )
    assert out.dose is not None and out.dose.id == pred.id  # the most recent, as before
    assert out.answer is not None and out.answer.startswith("Thanks, recorded. Dose: ")
    assert f"at 08:30 ({pred.reply_code})" in out.answer and "Deltasone" in out.answer


def test_spanish_replies_name_codes_and_answers_stay_discreet(
    session: Session, catalog: Catalog
) -> None:
    e, _, pred = _two_plans(session, catalog, language="es")
    assert pred.reply_code is not None
    assert f"Responda T {pred.reply_code} cuando la tome" in _body(session, pred)
    out = handle_reply(
        session,
        catalog=catalog,
        patient=e.patient,
        text=f"TOMADA {pred.reply_code}",
        now=at(2026, 3, 2, 8, 40),
    )
    assert out.dose is not None and out.dose.id == pred.id
    assert out.answer == f"Gracias, registrado. Dosis: medicina de las 08:30 ({pred.reply_code})."


def test_a_code_no_dose_has_records_nothing(session: Session, catalog: Catalog) -> None:
    e, pill, pred = _two_plans(session, catalog)
    used = {pill.reply_code, pred.reply_code}
    unused = next(
        c for c in (f"{x}{d}" for x in codes.LETTERS for d in codes.DIGITS) if c not in used
    )
    out = handle_reply(
        session, catalog=catalog, patient=e.patient, text=f"T {unused}", now=at(2026, 3, 2, 8, 40)
    )
    session.refresh(pill)
    session.refresh(pred)
    assert out.dose is None and (pill.status, pred.status) == ("reminded", "reminded")
    assert out.answer is not None and unused in out.answer and "Nothing was recorded" in out.answer


def test_a_nudge_repeats_the_dose_s_code(session: Session, catalog: Catalog) -> None:
    now = at(2026, 3, 1, 12)
    e = enroll(session, catalog, "Aubagio", DAY, now=now, times=["08:00"])
    course = create_plan(
        session,
        catalog=catalog,
        patient=e.patient,
        regimen="prednisone",
        start=DAY,
        now=now,
        times=["08:30"],
    )
    materialize(session, now=now, catalog=catalog, horizon_days=2)
    policy = DispatchPolicy(nudges=1)
    for hh, mm in [(8, 0), (8, 30), (9, 0)]:
        dispatch_due(session, now=at(2026, 3, 2, hh, mm), catalog=catalog, policy=policy)
    pill = open_doses(session, e.plan)[0]
    assert pill.reply_code is not None and open_doses(session, course)[0].reply_code
    nudges = [m.body for m in outbox(session, purpose="nudge") if m.dose_id == pill.id]
    assert nudges and f"T {pill.reply_code} if taken" in nudges[0]
