"""Two patients sharing one phone (a family phone), through the real signed webhook: every
reminder to the number carries a code and whose dose it is, a reply naming a code lands on
that code's patient, a reply without one is applied only when one patient has a dose open
and otherwise asks for the code. No reply lands on the wrong patient."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlmodel import Session, col, select

from adherence.dosing.dispatch import DispatchPolicy, dispatch_due
from adherence.dosing.materialize import materialize
from adherence.patients.enrollment import (
    create_patient,
    create_plan,
    create_team,
    shared_phone_warning,
)
from adherence.storage.models import Dose, InboundMessage, OutboxMessage, Patient, Plan
from schedules import Catalog
from tests.adherence.engine_helpers import at
from tests.adherence.web import test_webhooks
from tests.adherence.web.test_webhooks import FROM, Webhooks

# The served app and the fake Twilio API, as the webhook tests set them up.
fake, hooks = test_webhooks.fake, test_webhooks.hooks

PHONE = "+12025550160"
DAY = date(2026, 3, 2)
SMS = "/webhooks/twilio/sms"


def _family(
    session: Session, catalog: Catalog, times: tuple[str, str] = ("08:00", "08:00")
) -> tuple[Patient, Patient, Plan, Plan]:
    now = at(2026, 3, 1, 12)
    team = create_team(session, name="Riverside MS Clinic", tz="America/New_York", now=now)
    ana, jon = (
        create_patient(session, team=team, name=name, phone=PHONE, tz="America/New_York", now=now)
        for name in ("Ana Martin", "Jon Perez")
    )
    plans = [
        create_plan(
            session, catalog=catalog, patient=p, regimen="Aubagio", start=DAY, now=now, times=[t]
        )
        for p, t in zip((ana, jon), times, strict=True)
    ]
    materialize(session, now=now, catalog=catalog, horizon_days=2)
    session.commit()  # no transaction left open: on SQLite it would hold the write lock
    return ana, jon, plans[0], plans[1]


def _dose(hooks: Webhooks, plan: Plan) -> Dose:
    with Session(hooks.engine) as s:
        first = s.exec(
            select(Dose).where(Dose.plan_id == plan.id).order_by(col(Dose.due_at))
        ).first()
        assert first is not None
        return first


def _reply(hooks: Webhooks, sid: str, body: str, when: datetime) -> str:
    hooks.clock[0] = when.astimezone(UTC)
    answered = hooks.post(SMS, {"MessageSid": sid, "From": PHONE, "To": FROM, "Body": body})
    assert answered.status_code == 200
    return answered.text


def _row(hooks: Webhooks, sid: str) -> InboundMessage:
    with Session(hooks.engine) as s:
        return s.exec(select(InboundMessage).where(InboundMessage.provider_sid == sid)).one()


def test_a_reply_without_a_code_is_not_guessed_and_a_code_finds_its_patient(
    session: Session, catalog: Catalog, hooks: Webhooks
) -> None:
    ana, jon, ana_plan, jon_plan = _family(session, catalog)
    dispatch_due(session, now=at(2026, 3, 2, 8), catalog=catalog, policy=DispatchPolicy())
    session.commit()
    a, j = _dose(hooks, ana_plan), _dose(hooks, jon_plan)
    assert a.reply_code and j.reply_code and a.reply_code != j.reply_code
    bodies = {m.patient_id: m.body for m in session.exec(select(OutboxMessage)).all()}
    session.commit()
    assert "(for A.M.)" in bodies[ana.id] and f"Reply T {a.reply_code} " in bodies[ana.id]
    assert "(for J.P.)" in bodies[jon.id] and f"Reply T {j.reply_code} " in bodies[jon.id]
    assert "Martin" not in bodies[ana.id] and "Perez" not in bodies[jon.id]

    asked = _reply(hooks, "SM1", "T", at(2026, 3, 2, 8, 5))
    assert "Nothing was recorded" in asked
    assert f"T {a.reply_code} (A.M.)" in asked and f"T {j.reply_code} (J.P.)" in asked
    assert (_dose(hooks, ana_plan).status, _dose(hooks, jon_plan).status) == ("reminded",) * 2
    row = _row(hooks, "SM1")
    assert (row.intent, row.patient_id, row.dose_id) == ("taken", None, None)

    named = _reply(hooks, "SM2", f"t {j.reply_code.lower()}", at(2026, 3, 2, 8, 6))
    assert "Thanks, recorded." in named and "for J.P." in named
    assert (_dose(hooks, ana_plan).status, _dose(hooks, jon_plan).status) == ("reminded", "taken")
    assert (_row(hooks, "SM2").patient_id, _row(hooks, "SM2").dose_id) == (jon.id, j.id)

    # only Ana's dose is waiting now: a plain T is hers, and the answer says whose it was
    plain = _reply(hooks, "SM3", "T", at(2026, 3, 2, 8, 7))
    assert "for A.M." in plain
    assert _dose(hooks, ana_plan).status == "taken"
    assert _row(hooks, "SM3").patient_id == ana.id


def test_the_second_patient_s_dose_is_not_lost(
    session: Session, catalog: Catalog, hooks: Webhooks
) -> None:
    """The bug: a reply from a shared number went to the first patient ("no dose
    waiting") and the second patient's dose was later marked missed."""
    _, jon, ana_plan, jon_plan = _family(session, catalog, times=("07:00", "20:00"))
    dispatch_due(session, now=at(2026, 3, 2, 7), catalog=catalog, policy=DispatchPolicy())
    session.commit()
    _reply(hooks, "SMa", "T", at(2026, 3, 2, 7, 5))
    assert _dose(hooks, ana_plan).status == "taken"
    dispatch_due(session, now=at(2026, 3, 2, 20), catalog=catalog, policy=DispatchPolicy())
    session.commit()

    answered = _reply(hooks, "SMj", "T", at(2026, 3, 2, 20, 5))

    assert "Thanks, recorded." in answered and "for J.P." in answered
    assert _dose(hooks, jon_plan).status == "taken"
    assert _row(hooks, "SMj").patient_id == jon.id


def test_stop_from_a_shared_phone_stops_every_patient_on_it(
    session: Session, catalog: Catalog, hooks: Webhooks
) -> None:
    ana, jon, _, _ = _family(session, catalog)
    _reply(hooks, "SMstop", "STOP", at(2026, 3, 2, 9))
    with Session(hooks.engine) as s:
        statuses = [s.get(Patient, p.id).sms_status for p in (ana, jon)]  # type: ignore[union-attr]
    assert statuses == ["opted_out", "opted_out"]


def test_enrolling_a_second_patient_on_a_phone_warns_naming_the_first(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 3, 1, 12)
    team = create_team(session, name="Clinic", tz="America/New_York", now=now)
    ana = create_patient(session, team=team, name="Ana", phone=PHONE, tz="UTC", now=now)
    assert shared_phone_warning(session, ana) is None
    jon = create_patient(session, team=team, name="Jon", phone=PHONE, tz="UTC", now=now)
    warning = shared_phone_warning(session, jon)
    assert warning is not None and f"patient {ana.id}" in warning and PHONE not in warning
