"""Today's call list on SQLite and PostgreSQL: the ranking across and inside the tiers, the
queue after each call result, the team boundary and the fixed number of statements."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session, select

from adherence.care.calls import CallError, CallNotFound, call_list, record_call
from adherence.core.config import settings_from_mapping
from adherence.patients.enrollment import create_team
from adherence.storage.models import CareTeam, Flag, InboundMessage
from adherence.storage.workspace import CallOutcome, CallResult
from schedules import Catalog
from tests.adherence.engine_helpers import Enrolled, enroll

SETTINGS = settings_from_mapping({"workspace": {"call_back_days": 3, "retry_days": 1}})


def flag(
    s: Session,
    e: Enrolled,
    rule: str,
    at: datetime,
    *,
    severity: str = "normal",
    last_at: datetime | None = None,
    **details: Any,
) -> Flag:
    row = Flag(
        open_key=f"plan:{e.plan.id}:{rule}",
        team_id=e.patient.team_id,
        patient_id=e.patient.id,  # type: ignore[arg-type]
        plan_id=e.plan.id,
        rule=rule,
        severity=severity,
        first_at=at,
        last_at=last_at or at,
        details_json=json.dumps(details),
    )
    s.add(row)
    s.commit()
    s.refresh(row)
    return row


class Clinic:
    """A care team whose patients are enrolled on demand, each with its own phone."""

    count = 0

    def __init__(self, s: Session, catalog: Catalog, now: datetime, name: str) -> None:
        self.s, self.catalog, self.now = s, catalog, now
        self.team: CareTeam = create_team(s, name=name, tz="America/New_York", now=now)

    def patient(self, name: str) -> Enrolled:
        Clinic.count += 1
        e = enroll(
            self.s,
            self.catalog,
            "teriflunomide",
            self.now.date() - timedelta(days=40),
            now=self.now - timedelta(days=40),
            team=self.team,
            n=Clinic.count % 50,
        )
        e.patient.name = name
        self.s.add(e.patient)
        self.s.commit()
        return e


@pytest.fixture
def now(t0: datetime) -> datetime:
    return t0 + timedelta(days=60, hours=14)


@pytest.fixture
def clinic(session: Session, catalog: Catalog, now: datetime) -> Clinic:
    Clinic.count = 0
    return Clinic(session, catalog, now, "North Clinic")


def names(s: Session, team: CareTeam, now: datetime) -> list[str]:
    assert team.id is not None
    return [r.name for r in call_list(s, team_id=team.id, now=now, settings=SETTINGS).rows]


def call(s: Session, e: Enrolled, outcome: str, at: datetime, note: str = "") -> CallResult:
    assert e.patient.id is not None
    return record_call(
        s,
        team_id=e.patient.team_id,
        patient_id=e.patient.id,
        coordinator_id=None,
        by="Ana (coordinator:1)",
        outcome=outcome,
        note=note,
        now=at,
        settings=SETTINGS,
    )


def running_out(s: Session, e: Enrolled, now: datetime, *, remind: timedelta) -> None:
    """The plan's refill instants as the supply layer leaves them when it runs low."""
    e.plan.supply_checked_on = now.date()
    e.plan.refill_remind_at = now + remind
    e.plan.refill_overdue_at = now + timedelta(days=3)
    s.add(e.plan)
    s.commit()


def test_call_list_orders_patients_across_the_tiers_and_inside_each(
    session: Session, clinic: Clinic, now: datetime
) -> None:
    s, day = session, timedelta(days=1)
    flag(s, clinic.patient("PDC 70"), "low_pdc", now - 9 * day, pdc=0.7)
    flag(s, clinic.patient("Silent"), "silence", now - 9 * day, unanswered_texts=6, days=7)
    flag(s, clinic.patient("PDC 50"), "low_pdc", now - day, pdc=0.5)
    flag(s, clinic.patient("Infusion late"), "infusion_overdue", now - 2 * day, days_late=4)
    running_out(s, clinic.patient("Running out"), now, remind=-timedelta(hours=2))
    flag(s, clinic.patient("Ran out"), "refill_overdue", now - day)
    flag(s, clinic.patient("Restarted"), "titration_restart", now - 9 * day)
    flag(s, clinic.patient("Missed 3"), "missed_doses", now - 5 * day, missed_in_a_row=3)
    flag(s, clinic.patient("Missed 6"), "missed_doses", now - day, missed_in_a_row=6)
    flag(s, clinic.patient("Opted out"), "opted_out", now - 3 * day)
    flag(s, clinic.patient("Flare"), "flare_reported", now - day, severity="urgent")
    flag(s, clinic.patient("Urgent other"), "low_pdc", now - 4 * day, severity="urgent", pdc=0.2)
    clinic.patient("All well")
    running_out(s, clinic.patient("Not yet low"), now, remind=timedelta(days=1))
    assert names(s, clinic.team, now) == [
        "Urgent other",  # any urgent flag is tier 1; the oldest first inside the tier
        "Opted out",
        "Flare",
        "Missed 6",  # more missed first
        "Missed 3",
        "Restarted",
        "Ran out",  # a refill_overdue flag before a supply that is only running out
        "Running out",
        "Infusion late",
        "PDC 50",  # lower PDC first, whatever the age
        "PDC 70",
        "Silent",
    ]


def test_a_patients_reasons_are_all_given_most_serious_first(
    session: Session, clinic: Clinic, now: datetime
) -> None:
    e = clinic.patient("Many")
    flag(session, e, "low_pdc", now - timedelta(days=8), pdc=0.62)
    flag(session, e, "missed_doses", now - timedelta(days=1), missed_in_a_row=4)
    flag(session, e, "flare_reported", now, severity="urgent")
    assert clinic.team.id is not None
    [row] = call_list(session, team_id=clinic.team.id, now=now, settings=SETTINGS).rows
    assert [r.words for r in row.reasons] == [
        "patient reported a flare",
        "4 doses missed in a row",
        "proportion of days covered 62%, below threshold",
    ]
    assert row.tier == 1 and len(row.flags) == 3


@pytest.mark.parametrize(
    ("outcome", "back_after"),
    [
        (CallOutcome.NO_ANSWER, timedelta(days=1)),
        (CallOutcome.VOICEMAIL, timedelta(days=1)),
        (CallOutcome.CALL_BACK, timedelta(days=3)),
        (CallOutcome.REACHED, None),
        (CallOutcome.AGREED_RESTART, None),
        (CallOutcome.WRONG_NUMBER, None),
        (CallOutcome.REMOVED, None),
    ],
)
def test_a_call_result_takes_the_patient_off_until_its_requeue_time(
    session: Session,
    clinic: Clinic,
    now: datetime,
    outcome: str,
    back_after: timedelta | None,
) -> None:
    e = clinic.patient("Called")
    flag(session, e, "missed_doses", now - timedelta(days=2), missed_in_a_row=3)
    assert names(session, clinic.team, now) == ["Called"]
    result = call(session, e, outcome, now, note="moved away" if outcome == "removed" else "")
    assert result.requeue_at == (now + back_after if back_after else None)
    assert names(session, clinic.team, now + timedelta(minutes=1)) == []
    if back_after is None:
        assert names(session, clinic.team, now + timedelta(days=30)) == []
        return
    assert names(session, clinic.team, now + back_after - timedelta(minutes=1)) == []
    assert clinic.team.id is not None
    later = call_list(session, team_id=clinic.team.id, now=now + back_after, settings=SETTINGS)
    assert [r.name for r in later.rows] == ["Called"]
    assert later.rows[0].back and later.rows[0].last_call is not None
    assert later.rows[0].last_call.outcome == outcome


def test_requeued_patients_wait_in_their_own_list_soonest_first(
    session: Session, clinic: Clinic, now: datetime
) -> None:
    late, soon = clinic.patient("Later"), clinic.patient("Sooner")
    for e in (late, soon):
        flag(session, e, "silence", now - timedelta(days=3))
    call(session, late, "call_back", now)
    call(session, soon, "no_answer", now)
    assert clinic.team.id is not None
    calls = call_list(session, team_id=clinic.team.id, now=now, settings=SETTINGS)
    assert calls.rows == []
    assert [r.name for r in calls.waiting] == ["Sooner", "Later"]
    assert calls.called_today == 2


def test_a_newer_flag_brings_a_removed_patient_back(
    session: Session, clinic: Clinic, now: datetime
) -> None:
    e = clinic.patient("Removed")
    old = flag(session, e, "silence", now - timedelta(days=3))
    call(session, e, "removed", now, note="in hospital, family will call")
    assert names(session, clinic.team, now + timedelta(days=5)) == []
    flag(session, e, "missed_doses", now + timedelta(days=6), missed_in_a_row=3)
    assert names(session, clinic.team, now + timedelta(days=6)) == ["Removed"]
    # ... and so does a recurrence of a flag the call already knew about.
    f = clinic.patient("Reached")
    known = flag(session, f, "low_pdc", now - timedelta(days=1), pdc=0.6)
    call(session, f, "reached", now)
    assert names(session, clinic.team, now + timedelta(days=1)) == ["Removed"]
    known.last_at = now + timedelta(days=2)
    session.add(known)
    session.commit()
    assert names(session, clinic.team, now + timedelta(days=2)) == ["Removed", "Reached"]
    assert old.id is not None


def test_a_refill_reminder_come_due_after_the_call_is_a_newer_reason(
    session: Session, clinic: Clinic, now: datetime
) -> None:
    e = clinic.patient("Low")
    flag(session, e, "low_pdc", now - timedelta(days=2), pdc=0.7)
    call(session, e, "reached", now)
    running_out(session, e, now, remind=timedelta(hours=5))
    assert names(session, clinic.team, now + timedelta(hours=4)) == []
    assert names(session, clinic.team, now + timedelta(hours=6)) == ["Low"]


def test_supply_is_running_out_only_once_recomputed_and_reminded(
    session: Session, clinic: Clinic, now: datetime
) -> None:
    sent = clinic.patient("Reminder sent")
    running_out(session, sent, now, remind=timedelta(0))
    sent.plan.refill_remind_at = None  # the text went: the supply layer cleared the instant
    stale = clinic.patient("New fill not yet recomputed")
    running_out(session, stale, now, remind=-timedelta(hours=1))
    stale.plan.supply_checked_on = None  # record_fill clears it until the plan is refreshed
    for e in (sent, stale):
        session.add(e.plan)
    session.commit()
    assert names(session, clinic.team, now) == ["Reminder sent"]


def test_the_last_answer_is_the_latest_inbound_intent_never_its_body(
    session: Session, clinic: Clinic, now: datetime
) -> None:
    e = clinic.patient("Texter")
    flag(session, e, "missed_doses", now - timedelta(days=1), missed_in_a_row=3)
    for n, (intent, ago) in enumerate([("taken", 3), ("skip", 1), ("unknown", 2)]):
        session.add(
            InboundMessage(
                provider_sid=f"SM{n}",
                patient_id=e.patient.id,
                from_number=e.patient.phone,
                body="private words",
                intent=intent,
                received_at=now - timedelta(days=ago),
            )
        )
    session.commit()
    assert clinic.team.id is not None
    [row] = call_list(session, team_id=clinic.team.id, now=now, settings=SETTINGS).rows
    assert row.answer_intent == "skip" and row.answer_at == now - timedelta(days=1)
    assert "private words" not in repr(row)


def test_another_teams_patients_flags_and_calls_never_appear(
    session: Session, clinic: Clinic, catalog: Catalog, now: datetime
) -> None:
    south = Clinic(session, catalog, now, "South Clinic")
    mine, theirs = clinic.patient("Mine"), south.patient("Theirs")
    flag(session, mine, "silence", now - timedelta(days=2))
    flag(session, theirs, "flare_reported", now - timedelta(days=2), severity="urgent")
    running_out(session, south.patient("Theirs too"), now, remind=-timedelta(hours=1))
    call(session, theirs, "no_answer", now - timedelta(days=3))
    assert names(session, clinic.team, now) == ["Mine"]
    assert clinic.team.id is not None
    assert call_list(session, team_id=clinic.team.id, now=now, settings=SETTINGS).called_today == 0
    assert names(session, south.team, now) == ["Theirs", "Theirs too"]
    with pytest.raises(CallNotFound):
        assert mine.patient.id is not None
        record_call(
            session,
            team_id=south.team.id,  # type: ignore[arg-type]
            patient_id=mine.patient.id,
            coordinator_id=None,
            by="someone",
            outcome="reached",
            note="",
            now=now,
            settings=SETTINGS,
        )
    assert len(session.exec(select(CallResult)).all()) == 1


@pytest.mark.parametrize(
    ("outcome", "note", "field"),
    [("hung_up", "", "outcome"), ("removed", "  ", "note"), ("reached", "x" * 2001, "note")],
)
def test_a_result_that_cannot_be_recorded_names_its_field_and_stores_nothing(
    session: Session, clinic: Clinic, now: datetime, outcome: str, note: str, field: str
) -> None:
    e = clinic.patient("Careful")
    with pytest.raises(CallError) as raised:
        call(session, e, outcome, now, note=note)
    assert raised.value.field == field
    assert session.exec(select(CallResult)).all() == []


def test_a_removed_result_keeps_who_when_and_the_reason(
    session: Session, clinic: Clinic, now: datetime
) -> None:
    e = clinic.patient("Gone")
    call(session, e, "removed", now, note="  moved to another clinic ")
    [row] = session.exec(select(CallResult)).all()
    assert (row.by, row.at, row.note, row.outcome) == (
        "Ana (coordinator:1)",
        now,
        "moved to another clinic",
        "removed",
    )


@contextmanager
def counted(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_the_call_list_takes_the_same_few_statements_for_few_or_many_patients(
    session: Session, engine: Engine, clinic: Clinic, now: datetime
) -> None:
    def statements() -> int:
        session.expunge_all()  # no identity-map shortcut for the team row
        with counted(engine) as seen:
            assert clinic.team.id is not None
            call_list(session, team_id=clinic.team.id, now=now, settings=SETTINGS)
        return len(seen)

    first = clinic.patient("One")
    flag(session, first, "silence", now - timedelta(days=1))
    few = statements()
    for n in range(8):
        e = clinic.patient(f"More {n}")
        flag(session, e, "low_pdc", now - timedelta(days=1), pdc=0.5)
        call(session, e, "no_answer", now - timedelta(days=2))
    assert statements() == few <= 6


def test_supply_running_out_follows_the_supply_layers_refill_instants(
    session: Session, clinic: Clinic, catalog: Catalog, now: datetime
) -> None:
    """End to end through ``adherence.supply``: a 30-day fill five days from running out is
    on the list once its reminder time passed, whether or not the text went; a newer fill,
    once the plan is recomputed, takes the patient off."""
    from adherence.supply.records import record_fill
    from adherence.supply.schedule import refresh, send_refill_reminders

    e = clinic.patient("Pills")
    supply = SETTINGS.supply

    def fill(day: datetime, at: datetime) -> None:
        record_fill(
            session,
            catalog=catalog,
            plan=e.plan,
            dispensed_on=day.date(),
            days_supply=30,
            now=at,
            today=at.date(),
        )
        session.commit()

    def recompute(at: datetime) -> None:
        refresh(session, catalog=catalog, plan=e.plan, patient=e.patient, settings=supply, now=at)
        session.commit()

    fill(now - timedelta(days=27), now - timedelta(days=27))
    recompute(now - timedelta(days=10))
    assert names(session, clinic.team, now - timedelta(days=10)) == []
    recompute(now)
    assert names(session, clinic.team, now) == ["Pills"]
    assert send_refill_reminders(session, now=now, catalog=catalog, settings=supply) == 1
    session.commit()
    session.refresh(e.plan)
    assert e.plan.refill_remind_at is None  # the text went ...
    assert names(session, clinic.team, now) == ["Pills"]  # ... the patient still needs a call
    fill(now, now)
    assert names(session, clinic.team, now) == []  # not yet recomputed: not counted as low
    recompute(now)
    assert names(session, clinic.team, now + timedelta(hours=1)) == []
