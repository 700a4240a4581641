"""The refill step on real databases: instants kept in the plan's row, a text claimed by
one worker only, quiet hours and opted-out patients respected, discreet texts and logs,
and the patient's "R" reply."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adherence.care.flags.refill import refill_step
from adherence.core.config import Settings, SupplySettings
from adherence.dosing.replies import handle_reply, parse_reply
from adherence.engine import dispatch_policy, tick
from adherence.storage.models import Flag, Patient, Plan, RuleEvent
from adherence.supply.onhand import supply_of
from adherence.supply.records import fills_of
from adherence.supply.schedule import claim, send_refill_reminders
from notifiers.sms import MemorySms
from schedules import Catalog
from tests.adherence.engine_helpers import Enrolled, at, enroll, outbox
from tests.adherence.supply.test_onhand import fill

SUPPLY = SupplySettings()
START = at(2026, 1, 1, 0, 1)
REMIND = at(2026, 1, 26, 10)  # 30 tablets from 1 January run out on the 31st; 5 days before


def enrolled(session: Session, catalog: Catalog, **patient: object) -> Enrolled:
    e = enroll(
        session, catalog, "teriflunomide", date(2026, 1, 1), now=START, times=["09:00"], **patient
    )
    fill(session, catalog, e, date(2026, 1, 1), 30, now=START)
    refill_step(session, now=START, catalog=catalog, settings=SUPPLY, full=True)
    session.refresh(e.plan)
    return e


def test_the_plan_row_holds_the_reminder_and_overdue_instants(
    session: Session, catalog: Catalog
) -> None:
    e = enrolled(session, catalog)

    assert e.plan.supply_checked_on == date(2026, 1, 1)
    assert e.plan.refill_remind_at == REMIND.astimezone(UTC)
    assert e.plan.refill_overdue_at == at(2026, 2, 3, 10).astimezone(UTC)
    # Nothing is sent before its time.
    assert (
        send_refill_reminders(session, now=at(2026, 1, 26, 9, 59), catalog=catalog, settings=SUPPLY)
        == 0
    )


def test_two_workers_claim_one_reminder(engine: Engine, catalog: Catalog) -> None:
    with Session(engine, expire_on_commit=False) as s:
        e = enrolled(s, catalog)
    # Both workers read the plan (SQLite serialises transactions: B reads and ends its
    # transaction first, keeping its copy), A claims, then B tries with what it read.
    with Session(engine, expire_on_commit=False) as a, Session(engine, expire_on_commit=False) as b:
        plan_b = b.get(Plan, e.plan.id)
        b.commit()
        plan_a = a.get(Plan, e.plan.id)
        assert plan_a is not None and plan_b is not None
        assert plan_a.refill_remind_at == plan_b.refill_remind_at is not None
        assert claim(a, plan_a, "refill_remind_at", None) is True
        a.commit()
        assert claim(b, plan_b, "refill_remind_at", None) is False  # it moved under B
        b.commit()
    with Session(engine, expire_on_commit=False) as s:
        # Restore the instant, as a worker that had not seen A's claim would read it.
        fill(s, catalog, e, date(2026, 1, 1), 30, now=START)
        s.commit()
        # Two passes by two sessions once it is due: one text.
        for _ in range(2):
            with Session(engine) as worker:
                refill_step(worker, now=REMIND, catalog=catalog, settings=SUPPLY, full=True)
        assert len(outbox(s, purpose="refill")) == 1


def test_one_text_per_fill_even_when_recomputed(session: Session, catalog: Catalog) -> None:
    e = enrolled(session, catalog)

    refill_step(session, now=REMIND, catalog=catalog, settings=SUPPLY, full=False)
    # A new day's recompute (the text's day has passed) does not schedule it again.
    refill_step(session, now=at(2026, 1, 27, 1), catalog=catalog, settings=SUPPLY, full=True)
    session.refresh(e.plan)

    (text,) = outbox(session, purpose="refill")
    assert text.key == f"refill:{e.plan.id}:{fills_of(session, e.plan.id or 0)[0].id}"
    assert e.plan.refill_remind_at is None
    assert text.valid_until == at(2026, 2, 1).astimezone(UTC)  # the run-out day ends


def test_quiet_hours_hold_the_text_until_they_end(session: Session, catalog: Catalog) -> None:
    e = enrolled(session, catalog, quiet_hours="09:30-11:15")

    refill_step(session, now=REMIND, catalog=catalog, settings=SUPPLY, full=False)
    session.refresh(e.plan)

    assert outbox(session, purpose="refill") == []
    assert e.plan.refill_remind_at == at(2026, 1, 26, 11, 15).astimezone(UTC)
    refill_step(session, now=at(2026, 1, 26, 11, 15), catalog=catalog, settings=SUPPLY, full=False)
    assert len(outbox(session, purpose="refill")) == 1


def test_an_opted_out_patient_gets_no_refill_text(session: Session, catalog: Catalog) -> None:
    e = enrolled(session, catalog)
    e.patient.sms_status = "opted_out"
    session.add(e.patient)
    session.commit()

    refill_step(session, now=REMIND, catalog=catalog, settings=SUPPLY, full=False)
    session.refresh(e.plan)

    assert outbox(session, purpose="refill") == []
    assert e.plan.refill_remind_at is None


@pytest.mark.parametrize(("discreet", "named"), [(True, False), (False, True)])
def test_the_text_names_the_drug_only_for_a_patient_who_opted_out_of_discretion(
    session: Session,
    catalog: Catalog,
    caplog: pytest.LogCaptureFixture,
    discreet: bool,
    named: bool,
) -> None:
    e = enrolled(session, catalog, discreet=discreet)
    caplog.set_level(logging.INFO)

    channel = MemorySms()
    tick(
        session,
        now=REMIND,
        catalog=catalog,
        policy=dispatch_policy(Settings()),
        channel=channel,
        horizon_days=10,
        do_materialize=False,
        settings=Settings(),
    )  # fmt: skip (no doses materialised: a missed one would push the run-out later)

    (text,) = outbox(session, purpose="refill")
    assert [m.body for m in channel.sent if m.key.startswith("refill:")] == [text.body]
    assert ("Aubagio" in text.body) is named
    assert "teriflunomide" not in text.body.lower()
    assert "runs out around Jan 31" in text.body and "Reply R" in text.body
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "refill reminder queued" in logged
    for secret in ("Aubagio", "teriflunomide", e.patient.phone, text.body, "Jan 31"):
        assert secret not in logged


def test_reply_r_records_refill_ordered_on_the_reminded_plan(
    session: Session, catalog: Catalog
) -> None:
    e = enrolled(session, catalog, language="es")
    before = handle_reply(session, catalog=catalog, patient=e.patient, text="R", now=START)
    assert before.intent.kind == "unknown" and before.events is None  # no refill text yet
    refill_step(session, now=REMIND, catalog=catalog, settings=SUPPLY, full=False)

    later = at(2026, 1, 26, 12)
    done = handle_reply(session, catalog=catalog, patient=e.patient, text="pedido", now=later)

    assert done.answer == "Riverside MS Clinic: gracias, anotamos que pidió la reposición."
    (event,) = session.exec(select(RuleEvent).where(RuleEvent.type == "refill_ordered")).all()
    assert (event.plan_id, event.patient_id) == (e.plan.id, e.patient.id)
    supply = supply_of(
        session, catalog=catalog, plan=e.plan, patient=e.patient, settings=SUPPLY, now=later
    )
    assert supply.refill_ordered_at == later.astimezone(UTC)


@pytest.mark.parametrize(
    "text", ["R", "r", "Refill", "ORDERED", "refill ordered", "Pedido", "receta"]
)
def test_refill_keywords(text: str) -> None:
    assert parse_reply(text).kind == "refill"


@pytest.mark.parametrize(
    ("text", "kind"),
    [("T", "taken"), ("S", "skip"), ("Z", "snooze"), ("remind", "snooze"), ("STOP", "stop")],
)
def test_refill_keywords_leave_the_others_alone(text: str, kind: str) -> None:
    assert parse_reply(text).kind == kind


def test_overdue_flag_is_raised_once_and_a_newer_fill_resolves_it(
    engine: Engine, catalog: Catalog
) -> None:
    overdue = at(2026, 2, 3, 10)
    with Session(engine, expire_on_commit=False) as s:
        e = enrolled(s, catalog)
        s.commit()
        for worker in (Session(engine), Session(engine)):
            with worker:
                refill_step(worker, now=overdue, catalog=catalog, settings=SUPPLY, full=True)
        (flag,) = s.exec(select(Flag)).all()
        assert (flag.rule, flag.status, flag.plan_id) == ("refill_overdue", "open", e.plan.id)
        assert flag.details["runs_out"] == "2026-01-31"
        fill(s, catalog, e, date(2026, 2, 4), 30, now=at(2026, 2, 4, 15))
        refill_step(s, now=at(2026, 2, 4, 15), catalog=catalog, settings=SUPPLY, full=False)
        s.expire_all()
        (flag,) = s.exec(select(Flag)).all()
        assert (flag.status, flag.resolved_by) == ("resolved", "system: dispensing recorded")
        plan = s.get(Plan, e.plan.id)
        patient = s.get(Patient, e.patient.id)
        assert plan is not None and patient is not None
        refill_step(s, now=at(2026, 2, 5, 1), catalog=catalog, settings=SUPPLY, full=True)
        s.refresh(plan)
        assert plan.refill_overdue_at == at(2026, 3, 9, 10).astimezone(UTC)  # Mar 6 + 3 days
        assert plan.refill_remind_at == at(2026, 3, 1, 10).astimezone(UTC)
        assert isinstance(plan.refill_remind_at, datetime)


def test_a_reminder_whose_day_has_passed_goes_at_once_unless_already_overdue(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 1, 29, 15)
    late = enroll(session, catalog, "teriflunomide", date(2026, 1, 1), now=now, times=["09:00"])
    gone = enroll(
        session, catalog, "teriflunomide", date(2025, 12, 1), now=now, times=["09:00"],
        team=late.team, n=1,
    )  # fmt: skip
    fill(session, catalog, late, date(2026, 1, 1), 30, now=now)  # runs out 31 Jan
    fill(session, catalog, gone, date(2025, 12, 20), 30, now=now)  # ran out 19 Jan

    refill_step(session, now=now, catalog=catalog, settings=SUPPLY, full=True)

    texts = outbox(session, purpose="refill")
    assert [t.patient_id for t in texts] == [late.patient.id]
    flags = session.exec(select(Flag)).all()
    assert [(f.plan_id, f.details["days_past_run_out"]) for f in flags] == [(gone.plan.id, 10)]
    session.refresh(gone.plan)
    assert gone.plan.refill_remind_at is None and gone.plan.refill_overdue_at is None
