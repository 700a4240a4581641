"""Flags on SQLite and PostgreSQL: the store (one open flag per scope and rule, ack/resolve)
and every rule, raised from what the real engine recorded on a virtual clock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from adherence.care.flags import (
    FlagError,
    FlagNotFound,
    acknowledge,
    flag_json,
    get_flag,
    list_flags,
    raise_flag,
    resolve,
)
from adherence.care.measures import measure_plan
from adherence.care.step import care_step
from adherence.core.config import Settings, settings_from_mapping
from adherence.dosing.materialize import materialize
from adherence.dosing.replies import handle_reply
from adherence.engine import tick
from adherence.messaging.outbox import deliver
from adherence.storage.db import make_engine
from adherence.storage.models import Dose, Flag, InboundMessage, OutboxMessage, Patient, RuleEvent
from notifiers.sms import MemorySms, SendResult, SmsMessage, TransportError
from schedules import Catalog
from tests.adherence.engine_helpers import NO_NUDGES, Enrolled, at, drive, enroll, open_doses

DEFAULTS = settings_from_mapping({})


def flags(session: Session, rule: str | None = None) -> list[Flag]:
    session.expire_all()
    query = select(Flag)
    if rule is not None:
        query = query.where(Flag.rule == rule)
    return list(session.exec(query.order_by(col(Flag.id))).all())


def care(
    session: Session,
    catalog: Catalog,
    now: datetime,
    *,
    settings: Settings = DEFAULTS,
    full: bool = False,
) -> None:
    care_step(session, now=now, catalog=catalog, settings=settings, full=full)


@contextmanager
def restarted(session: Session, db_url: str) -> Iterator[Session]:
    """What a restarted daemon starts from: a new engine on the same database, nothing of
    this process in memory. ``session`` ends its transaction first (on SQLite it would hold
    the write lock)."""
    session.commit()
    engine = make_engine(db_url)
    try:
        with Session(engine, expire_on_commit=False) as fresh:
            yield fresh
    finally:
        engine.dispose()
    session.expire_all()


def day_by_day(
    session: Session,
    catalog: Catalog,
    *,
    first: date,
    last: date,
    take: Callable[[Dose], bool],
    settings: Settings = DEFAULTS,
) -> None:
    """Drive the engine one local day at a time; the care step runs after each (a frequent,
    incremental tick), as the daemon would run it many times a day."""
    day = first
    while day <= last:
        start = at(day.year, day.month, day.day)
        end = start + timedelta(days=1)
        drive(session, catalog, start=start, until=end, take=take)
        care(session, catalog, end, settings=settings)
        day += timedelta(days=1)


def reply(session: Session, catalog: Catalog, patient: Patient, text: str, now: datetime) -> None:
    """An inbound text, recorded and applied as the webhook does."""
    row = InboundMessage(
        provider_sid=f"SM{now.timestamp():.0f}{patient.id}",
        patient_id=patient.id,
        from_number=patient.phone,
        body=text,
        received_at=now,
    )
    session.add(row)
    session.commit()
    handle_reply(session, catalog=catalog, patient=patient, text=text, now=now)


# --- the store -------------------------------------------------------------------------------


@pytest.fixture
def enrolled(session: Session, catalog: Catalog, t0: datetime) -> Enrolled:
    return enroll(session, catalog, "teriflunomide", date(2026, 3, 1), now=t0, times=["09:00"])


def _raise(session: Session, e: Enrolled, now: datetime, occurrence: str, **kw: Any) -> Flag:
    assert e.patient.id is not None
    flag = raise_flag(
        session,
        team_id=e.team.id or 0,
        patient_id=e.patient.id,
        plan_id=e.plan.id,
        rule="missed_doses",
        now=now,
        occurrence=occurrence,
        **kw,
    )
    session.commit()
    return flag


def test_recurrence_while_open_adds_to_the_flag_instead_of_duplicating(
    session: Session, enrolled: Enrolled, t0: datetime
) -> None:
    first = _raise(session, enrolled, t0, "run-a", details={"missed_in_a_row": 2})
    again = _raise(session, enrolled, t0 + timedelta(hours=1), "run-a", details={"n": 3})
    other = _raise(session, enrolled, t0 + timedelta(days=2), "run-b")

    assert first.id == again.id == other.id
    (flag,) = flags(session)
    # The same run seen again only refreshes details; a new run is a second occurrence.
    assert flag.occurrences == 2
    assert (flag.first_at, flag.last_at) == (t0, t0 + timedelta(days=2))
    assert flag.open_key == f"plan:{enrolled.plan.id}:missed_doses"
    assert flag_json(flag)["details"]["occurrence"] == "run-b"


def test_ack_and_resolve_keep_who_when_and_note_and_the_next_occurrence_opens_a_new_flag(
    session: Session, enrolled: Enrolled, t0: datetime
) -> None:
    flag = _raise(session, enrolled, t0, "run-a")
    assert flag.id is not None
    acked = acknowledge(
        session, flag.id, by="Nurse Kim", now=t0 + timedelta(hours=1), note="calling"
    )
    recurred = _raise(session, enrolled, t0 + timedelta(hours=2), "run-b")
    assert recurred.id == flag.id and recurred.status == "acknowledged"
    assert recurred.occurrences == 2
    done = resolve(
        session, flag.id, by="Dr Ade", note="spoke to patient", now=t0 + timedelta(hours=3)
    )

    assert (acked.acknowledged_by, acked.acknowledged_at) == ("Nurse Kim", t0 + timedelta(hours=1))
    data = flag_json(get_flag(session, flag.id))
    assert data["status"] == "resolved"
    assert (data["resolved_by"], data["resolved_at"]) == (
        "Dr Ade",
        (t0 + timedelta(hours=3)).isoformat(),
    )
    assert "calling" in data["note"] and "spoke to patient" in data["note"]
    assert done.open_key is None
    assert list_flags(session, team_id=enrolled.team.id) == []

    fresh = _raise(session, enrolled, t0 + timedelta(days=1), "run-c")
    assert fresh.id != flag.id and fresh.occurrences == 1 and fresh.status == "open"
    assert [f.id for f in list_flags(session, status="all")] == [fresh.id, flag.id]
    assert [f.id for f in list_flags(session, status="resolved")] == [flag.id]


def test_refusals_name_the_problem_and_change_nothing(
    session: Session, catalog: Catalog, enrolled: Enrolled, t0: datetime
) -> None:
    flag = _raise(session, enrolled, t0, "run-a")
    assert flag.id is not None
    with pytest.raises(FlagError, match="note"):
        resolve(session, flag.id, by="Dr Ade", note="  ", now=t0)
    # A flag of another care team is "not found", exactly like a flag that does not exist.
    with pytest.raises(FlagNotFound):
        get_flag(session, flag.id, team_id=(enrolled.team.id or 0) + 1000)
    with pytest.raises(FlagNotFound):
        acknowledge(session, 999_999, by="x", now=t0)
    resolve(session, flag.id, by="Dr Ade", note="done", now=t0)
    with pytest.raises(FlagError, match="already resolved; it cannot be acknowledged"):
        acknowledge(session, flag.id, by="Nurse Kim", now=t0)
    with pytest.raises(FlagError, match="already resolved"):
        resolve(session, flag.id, by="Nurse Kim", note="again", now=t0)
    session.expire_all()
    kept = get_flag(session, flag.id)
    assert (kept.status, kept.resolved_by, kept.acknowledged_by) == ("resolved", "Dr Ade", "")


def test_two_workers_raising_the_same_flag_at_once_make_one_flag(
    engine: Engine, session: Session, enrolled: Enrolled, t0: datetime
) -> None:
    session.commit()  # the fixture's transaction would hold SQLite's write lock
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with Session(engine, expire_on_commit=False) as s:
                barrier.wait()
                _raise(s, enrolled, t0 + timedelta(minutes=n), f"run-{n}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    (flag,) = flags(session)
    assert flag.occurrences == 2


# --- missed doses ----------------------------------------------------------------------------


def test_two_missed_pills_in_a_row_flag_the_plan_and_one_does_not(
    session: Session, catalog: Catalog, db_url: str
) -> None:
    now = at(2026, 3, 1)
    one = enroll(session, catalog, "teriflunomide", date(2026, 3, 1), now=now, times=["09:00"])
    two = enroll(
        session, catalog, "teriflunomide", date(2026, 3, 1), now=now, times=["09:00"],
        team=one.team, n=1,
    )  # fmt: skip
    missed = {
        one.plan.id: {date(2026, 3, 3)},
        two.plan.id: {date(2026, 3, 3), date(2026, 3, 4), date(2026, 3, 8), date(2026, 3, 9)},
    }
    day_by_day(
        session,
        catalog,
        first=date(2026, 3, 1),
        last=date(2026, 3, 6),
        take=lambda d: d.local_date not in missed[d.plan_id],
    )

    (flag,) = flags(session, "missed_doses")
    assert (flag.plan_id, flag.severity, flag.occurrences) == (two.plan.id, "normal", 1)
    assert flag.details["missed_in_a_row"] == 2 and flag.details["threshold"] == 2
    first_at = flag.first_at

    # A taken dose ended that run; two more missed in a row are a second occurrence.
    day_by_day(
        session,
        catalog,
        first=date(2026, 3, 7),
        last=date(2026, 3, 10),
        take=lambda d: d.local_date not in missed[d.plan_id],
    )
    (flag,) = flags(session, "missed_doses")
    assert flag.occurrences == 2 and flag.first_at == first_at and flag.last_at > first_at
    # A restart and a full pass find nothing new.
    with restarted(session, db_url) as fresh:
        care(fresh, catalog, at(2026, 3, 11), full=True)
    (again,) = flags(session, "missed_doses")
    assert again.occurrences == 2


def test_one_missed_injection_flags_and_config_lowers_the_pill_threshold(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 3, 1)
    pill = enroll(session, catalog, "teriflunomide", date(2026, 3, 1), now=now, times=["09:00"])
    shot = enroll(
        session, catalog, "glatiramer", date(2026, 3, 1), now=now, options={"strength": "20"},
        team=pill.team, n=1,
    )  # fmt: skip
    strict = settings_from_mapping({"care": {"missed_in_a_row_oral": 1}})
    day_by_day(
        session,
        catalog,
        first=date(2026, 3, 1),
        last=date(2026, 3, 4),
        take=lambda d: d.local_date != date(2026, 3, 2),
    )
    assert [f.plan_id for f in flags(session, "missed_doses")] == [shot.plan.id]

    # The same history read with [care] missed_in_a_row_oral = 1 (a full pass).
    care(session, catalog, at(2026, 3, 5), settings=strict, full=True)
    # The pill's run ended on 3 March (taken), so nothing is trailing: no flag from history.
    assert [f.plan_id for f in flags(session, "missed_doses")] == [shot.plan.id]
    day_by_day(
        session,
        catalog,
        first=date(2026, 3, 5),
        last=date(2026, 3, 6),
        take=lambda d: d.local_date != date(2026, 3, 6),
        settings=strict,
    )
    got = {f.plan_id: f.details["threshold"] for f in flags(session, "missed_doses")}
    assert got == {shot.plan.id: 1, pill.plan.id: 1}


def test_a_resolved_run_is_not_raised_again_while_it_goes_on(
    session: Session, catalog: Catalog, db_url: str
) -> None:
    now = at(2026, 3, 1)
    e = enroll(session, catalog, "teriflunomide", date(2026, 3, 1), now=now, times=["09:00"])
    day_by_day(
        session, catalog, first=date(2026, 3, 1), last=date(2026, 3, 4),
        take=lambda d: d.local_date < date(2026, 3, 3),
    )  # fmt: skip
    (flag,) = flags(session, "missed_doses")
    assert flag.id is not None and flag.plan_id == e.plan.id
    resolve(session, flag.id, by="Nurse Kim", note="in hospital", now=at(2026, 3, 5, 8))
    day_by_day(
        session, catalog, first=date(2026, 3, 5), last=date(2026, 3, 6),
        take=lambda d: False,
    )  # fmt: skip
    with restarted(session, db_url) as fresh:
        care(fresh, catalog, at(2026, 3, 7), full=True)
    assert [f.status for f in flags(session, "missed_doses")] == ["resolved"]


# --- infusions, label rules ------------------------------------------------------------------


def test_infusion_not_given_by_the_last_day_of_its_window_is_flagged(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 2, 20, 12)
    e = enroll(session, catalog, "ocrelizumab", date(2025, 9, 1), now=now)
    materialize(session, now=now, catalog=catalog, horizon_days=35)
    (infusion,) = [d for d in open_doses(session, e.plan) if d.latest is not None][:1]
    assert infusion.kind == "infusion" and infusion.latest is not None
    latest = infusion.latest
    on_last_day = at(latest.year, latest.month, latest.day, 20)
    care(session, catalog, on_last_day, full=True)
    assert flags(session, "infusion_overdue") == []

    care(session, catalog, on_last_day + timedelta(days=3), full=True)
    care(session, catalog, on_last_day + timedelta(days=4), full=True)
    (flag,) = flags(session, "infusion_overdue")
    assert (flag.plan_id, flag.occurrences) == (e.plan.id, 1)
    assert flag.details["dose_id"] == infusion.id and flag.details["days_late"] == 4


def test_titration_restart_and_repeat_observation_become_flags_once(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 3, 1)
    mayzent = enroll(
        session, catalog, "Mayzent", date(2026, 3, 2), now=now, options={"cyp2c9": "*1/*1"}
    )
    gilenya = enroll(session, catalog, "Gilenya", date(2026, 3, 1), now=now, team=mayzent.team, n=1)
    drive(
        session,
        catalog,
        start=now,
        until=at(2026, 3, 4, 12),
        take=lambda d: d.local_date != date(2026, 3, 3),
    )
    care(session, catalog, at(2026, 3, 4, 12))
    care(session, catalog, at(2026, 3, 4, 13), full=True)

    (restart,) = flags(session, "titration_restart")
    assert (restart.plan_id, restart.severity) == (mayzent.plan.id, "normal")
    assert restart.details["new_start"] == "2026-03-04"
    (observe,) = flags(session, "repeat_first_dose_observation")
    assert (observe.plan_id, observe.severity, observe.occurrences) == (
        gilenya.plan.id,
        "urgent",
        1,
    )
    consumed = session.exec(
        select(RuleEvent).where(
            col(RuleEvent.type).in_(("titration_restart", "repeat_first_dose_observation"))
        )
    ).all()
    assert consumed and all(ev.notified for ev in consumed)


# --- texts: opt-out, undeliverable, silence, flare -------------------------------------------


@dataclass
class Unreachable:
    """The carrier says the number cannot receive texts (a permanent error)."""

    name: str = "unreachable"
    sent: list[SmsMessage] = field(default_factory=list)

    def send(self, message: SmsMessage) -> SendResult:
        raise TransportError("30006 landline", permanent=True, outcome="undeliverable", code=30006)


def test_stop_undeliverable_phone_and_flare_flag_the_patient(
    session: Session, catalog: Catalog, db_url: str
) -> None:
    now = at(2026, 3, 1, 8)
    stop = enroll(session, catalog, "teriflunomide", date(2026, 3, 1), now=now, times=["09:00"])
    lost = enroll(
        session, catalog, "teriflunomide", date(2026, 3, 1), now=now, times=["09:00"],
        team=stop.team, n=1,
    )  # fmt: skip
    flare = enroll(
        session, catalog, "teriflunomide", date(2026, 3, 1), now=now, times=["20:00"],
        team=stop.team, n=2,
    )  # fmt: skip
    care(session, catalog, now, full=True)  # nothing yet

    reply(session, catalog, stop.patient, "STOP", now + timedelta(minutes=1))
    reply(session, catalog, flare.patient, "flare", now + timedelta(minutes=2))
    reply(session, catalog, flare.patient, "FLARE again", now + timedelta(minutes=3))
    drive(session, catalog, start=now, until=at(2026, 3, 1, 9, 5), take=lambda d: False)
    # Only the unreachable patient's 09:00 reminder is due: the carrier refuses it for good.
    assert deliver(session, now=at(2026, 3, 1, 9, 5), channel=Unreachable()) == 0
    care(session, catalog, at(2026, 3, 1, 9, 6))

    by_rule = {f.rule: f for f in flags(session)}
    assert by_rule["opted_out"].patient_id == stop.patient.id
    assert by_rule["opted_out"].open_key == f"patient:{stop.patient.id}:opted_out"
    assert by_rule["undeliverable"].patient_id == lost.patient.id
    assert by_rule["flare_reported"].patient_id == flare.patient.id
    assert by_rule["flare_reported"].severity == "urgent"
    assert by_rule["flare_reported"].occurrences == 2  # two reports, one open flag
    assert by_rule["opted_out"].severity == by_rule["undeliverable"].severity == "normal"

    # Still opted out at the next full pass: no second flag, no extra occurrence.
    with restarted(session, db_url) as fresh:
        care(fresh, catalog, at(2026, 3, 1, 10), full=True)
    assert sorted(f.rule for f in flags(session)) == [
        "flare_reported",
        "opted_out",
        "undeliverable",
    ]
    assert {f.occurrences for f in flags(session) if f.rule != "flare_reported"} == {1}
    assert session.get(Patient, lost.patient.id).sms_status == "undeliverable"  # type: ignore[union-attr]


def run_daemon(
    session: Session,
    catalog: Catalog,
    *,
    start: datetime,
    until: datetime,
    answers: Callable[[OutboxMessage], bool],
    settings: Settings = DEFAULTS,
) -> None:
    """``engine.tick`` with settings, as the daemon runs it (materialise + full care step
    hourly), texts through a memory channel; a patient for whom ``answers`` is true replies
    T to each reminder as it arrives."""
    channel = MemorySms()
    now = start.astimezone(UTC)
    last_full: datetime | None = None
    while now <= until:
        full = last_full is None or now - last_full >= timedelta(hours=1)
        if full:
            last_full = now
        result = tick(
            session,
            now=now,
            catalog=catalog,
            policy=NO_NUDGES,
            channel=channel,
            horizon_days=10,
            do_materialize=full,
            settings=settings,
        )
        fresh = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.purpose == "reminder", OutboxMessage.sent_at == now
            )
        ).all()
        for msg in fresh:
            patient = session.get(Patient, msg.patient_id)
            if patient is not None and answers(msg):
                reply(session, catalog, patient, "T", now)
        nxt = result.next_at or now + timedelta(hours=1)
        now = max(min(nxt, now + timedelta(hours=1)), now + timedelta(seconds=1))


def test_no_answer_to_a_week_of_texts_flags_silence(session: Session, catalog: Catalog) -> None:
    now = at(2026, 3, 1)
    quiet = enroll(session, catalog, "teriflunomide", date(2026, 3, 1), now=now, times=["09:00"])
    chatty = enroll(
        session, catalog, "teriflunomide", date(2026, 3, 1), now=now, times=["09:00"],
        team=quiet.team, n=1,
    )  # fmt: skip
    run_daemon(
        session,
        catalog,
        start=now,
        until=at(2026, 3, 7, 12),
        answers=lambda m: m.patient_id == chatty.patient.id,
    )
    assert flags(session, "silence") == []  # six days are not seven

    run_daemon(
        session,
        catalog,
        start=at(2026, 3, 7, 12),
        until=at(2026, 3, 9, 12),
        answers=lambda m: m.patient_id == chatty.patient.id,
    )
    (silence,) = flags(session, "silence")
    assert silence.patient_id == quiet.patient.id
    assert silence.details["days"] >= 7 and silence.details["unanswered_texts"] >= 7
    # The quiet patient also missed every pill: the missed-dose rule ran through tick too.
    assert [f.plan_id for f in flags(session, "missed_doses")] == [quiet.plan.id]
    assert flags(session, "missed_doses")[0].details["missed_in_a_row"] >= 7


def test_low_pdc_over_the_last_30_days_flags_plans_running_that_long(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 3, 1)
    low = enroll(session, catalog, "teriflunomide", date(2026, 3, 1), now=now, times=["09:00"])
    fine = enroll(
        session, catalog, "teriflunomide", date(2026, 3, 1), now=now, times=["09:00"],
        team=low.team, n=1,
    )  # fmt: skip
    young = enroll(
        session, catalog, "teriflunomide", date(2026, 3, 10), now=now, times=["09:00"],
        team=low.team, n=2,
    )  # fmt: skip
    # "low" takes every third pill only: runs of two missed, PDC about a third.
    drive(
        session,
        catalog,
        start=now,
        until=at(2026, 4, 3, 12),
        take=lambda d: d.plan_id != low.plan.id or d.local_date.day % 3 == 0,
    )
    care(session, catalog, at(2026, 4, 3, 12), full=True)

    (flag,) = flags(session, "low_pdc")
    assert flag.plan_id == low.plan.id
    assert flag.details["pdc"] < 0.8 and flag.details["threshold"] == 0.8
    assert (flag.details["period_start"], flag.details["period_end"]) == (
        "2026-03-04",
        "2026-04-02",
    )  # the 30 whole days up to yesterday
    measured = measure_plan(
        session,
        low.plan,
        start=date(2026, 3, 4),
        end=date(2026, 4, 2),
        catalog=catalog,
        settings=DEFAULTS,
    )
    assert measured.pdc is not None and flag.details["pdc"] == round(measured.pdc, 4)
    # (young's baseline check, due 2 Mar and never recorded, is overdue: another rule)
    others = {f.plan_id for f in flags(session) if f.rule != "monitoring_overdue"}
    assert {fine.plan.id, young.plan.id}.isdisjoint(others)
    # Checked once a day per plan: another full tick the same day changes nothing.
    care(session, catalog, at(2026, 4, 3, 13), full=True)
    (again,) = flags(session, "low_pdc")
    assert again.occurrences == 1 and again.last_at == flag.last_at
