"""The care step keeps its state in rows: two daemons on one PostgreSQL database send each
digest once, and a restarted daemon neither sends a digest again nor loses a missed dose.

Every engine here is a separate ``make_engine`` (as each daemon builds its own), so nothing
a process could remember is shared between them."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, update
from sqlmodel import Session, col, select

from adherence.care.flags import raise_flag
from adherence.care.step import care_step
from adherence.dosing.rules import DOSE_MISSED
from adherence.storage.db import alembic_config, make_engine, upgrade
from adherence.storage.models import Coordinator, Dose, Plan, RuleEvent
from schedules import Catalog
from tests.adherence.care.test_escalation import coordinator, messages
from tests.adherence.care.test_flags import DEFAULTS, flags
from tests.adherence.engine_helpers import at, drive, enroll

LONDON = ZoneInfo("Europe/London")


def _care_at_once(engines: list[Engine], catalog: Catalog, now: datetime) -> list[object]:
    """Each daemon's care step at the same ``now``, released together; their results (the
    next wake-up each one asked for)."""
    barrier = threading.Barrier(len(engines))
    results: list[object] = [None] * len(engines)

    def daemon(n: int) -> None:
        try:
            with Session(engines[n], expire_on_commit=False) as s:
                barrier.wait()
                results[n] = care_step(s, now=now, catalog=catalog, settings=DEFAULTS, full=False)
        except BaseException as exc:  # reported by the caller's assertion
            results[n] = exc

    threads = [threading.Thread(target=daemon, args=(n,)) for n in range(len(engines))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite runs one daemon
def test_two_daemons_on_one_postgresql_database_send_each_digest_once(
    db_url: str, catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    assert db_url.startswith("postgresql")
    caplog.set_level(logging.INFO, logger="adherence.escalation")
    setup = make_engine(db_url)
    daemons = [make_engine(db_url), make_engine(db_url)]
    try:
        with Session(setup, expire_on_commit=False) as s:
            t = at(2026, 3, 6, 0)  # Friday; New York springs forward on Sunday 8 March
            ann = enroll(s, catalog, "teriflunomide", date(2026, 3, 1), now=t, times=["09:00"])
            team_id, patient_id = ann.team.id or 0, ann.patient.id or 0
            ny = coordinator(s, team_id, "NY", t, email="ny@clinic.example")
            uk = coordinator(
                s, team_id, "UK", t, email="uk@clinic.example", phone="+12025550181",
                notify_sms=True, tz="Europe/London",
            )  # fmt: skip
            raise_flag(
                s, team_id=team_id, patient_id=patient_id, plan_id=ann.plan.id,
                rule="missed_doses", now=t, occurrence="run-1",
            )  # fmt: skip
            s.commit()

            ticks = [
                at(2026, 3, 6, 2),  # first sight: yesterday's digests are too late to send
                datetime(2026, 3, 6, 8, tzinfo=LONDON),  # 03:00 in New York
                datetime(2026, 3, 6, 8, 20, tzinfo=LONDON),
                at(2026, 3, 6, 8),
                at(2026, 3, 6, 8, 20),
            ]
            for now in ticks:
                results = _care_at_once(daemons, catalog, now)
                assert results[0] == results[1], results  # both: the same next digest
                assert isinstance(results[0], datetime) and results[0] > now
            # A new flag for the next day's digests.
            raise_flag(
                s, team_id=team_id, patient_id=patient_id, plan_id=None,
                rule="silence", now=at(2026, 3, 6, 12), occurrence="since:never",
            )  # fmt: skip
            s.commit()
            for now in (
                datetime(2026, 3, 7, 8, tzinfo=LONDON),
                datetime(2026, 3, 7, 9, tzinfo=LONDON),
                at(2026, 3, 7, 8),
                at(2026, 3, 7, 8, 1),
            ):
                results = _care_at_once(daemons, catalog, now)
                assert results[0] == results[1], results
                assert isinstance(results[0], datetime) and results[0] > now

            digests = messages(s, "digest")
            keys = [m.key for m in digests]
            assert sorted(keys) == sorted(
                [
                    f"digest:{uk.id}:2026-03-06:email",
                    f"digest:{uk.id}:2026-03-06:sms",
                    f"digest:{ny.id}:2026-03-06:email",
                    f"digest:{uk.id}:2026-03-07:email",
                    f"digest:{uk.id}:2026-03-07:sms",
                    f"digest:{ny.id}:2026-03-07:email",
                ]
            )
            # One daemon did each coordinator's digest (the claim), not both racing to it.
            done = [r.getMessage() for r in caplog.records if r.getMessage().startswith("digest ")]
            assert len(done) == 4, done
            # The next digest instants, in rows: 08:00 local, through the DST change.
            s.expire_all()
            rows = {c.id: c.next_digest_at for c in s.exec(select(Coordinator)).all()}
            assert rows[ny.id] == at(2026, 3, 8, 8) == datetime(2026, 3, 8, 12, tzinfo=UTC)
            assert rows[uk.id] == datetime(2026, 3, 8, 8, tzinfo=UTC)
            assert results[0] == rows[uk.id]
    finally:
        for engine in (setup, *daemons):
            engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_restarted_daemon_keeps_a_missed_dose_and_does_not_resend_a_digest(
    db_url: str, catalog: Catalog
) -> None:
    first = make_engine(db_url)
    with Session(first, expire_on_commit=False) as s:
        now = at(2026, 3, 1)
        ann = enroll(s, catalog, "teriflunomide", date(2026, 3, 1), now=now, times=["09:00"])
        coordinator(s, ann.team.id or 0, "NY", now, email="ny@clinic.example")
        care_step(s, now=now, catalog=catalog, settings=DEFAULTS, full=False)
        # The pills of 2 and 3 March are missed (the window closes at 21:00); the daemon
        # stops before its care step sees the second miss.
        drive(
            s, catalog, start=now, until=at(2026, 3, 2, 22),
            take=lambda d: d.local_date < date(2026, 3, 2),
        )  # fmt: skip
        care_step(s, now=at(2026, 3, 2, 22), catalog=catalog, settings=DEFAULTS, full=False)
        drive(s, catalog, start=at(2026, 3, 2, 22), until=at(2026, 3, 3, 22), take=lambda d: False)
        missed = s.exec(
            select(Dose).where(Dose.status == "missed").order_by(col(Dose.due_at))
        ).all()
        assert [d.local_date for d in missed] == [date(2026, 3, 2), date(2026, 3, 3)]
        assert flags(s, "missed_doses") == []  # one miss is below the threshold of two
    first.dispose()

    second = make_engine(db_url)  # the restarted daemon: an ordinary (not hourly) tick
    with Session(second, expire_on_commit=False) as s:
        care_step(s, now=at(2026, 3, 3, 22, 1), catalog=catalog, settings=DEFAULTS, full=False)
        (flag,) = flags(s, "missed_doses")
        flag_id = flag.id
        assert flag.details["missed_in_a_row"] == 2
        events = s.exec(select(RuleEvent).where(RuleEvent.type == DOSE_MISSED)).all()
        assert len(events) == 2 and all(e.notified for e in events)
        assert flag.first_at == at(2026, 3, 3, 22, 1)
        # The next morning's digest lists it ...
        care_step(s, now=at(2026, 3, 4, 8), catalog=catalog, settings=DEFAULTS, full=False)
        (digest,) = messages(s, "digest")
        assert digest.created_at == at(2026, 3, 4, 8)
    second.dispose()

    third = make_engine(db_url)  # ... and a daemon restarted after it does not send it again.
    with Session(third, expire_on_commit=False) as s:
        for later in (at(2026, 3, 4, 8, 1), at(2026, 3, 4, 8, 30), at(2026, 3, 4, 12)):
            nxt = care_step(s, now=later, catalog=catalog, settings=DEFAULTS, full=False)
            assert nxt == at(2026, 3, 5, 8)
        assert len(messages(s, "digest")) == 1
        (again,) = flags(s, "missed_doses")
        assert (again.id, again.occurrences) == (flag_id, 1)  # nor raises the run again
    third.dispose()


def test_the_pdc_check_day_is_kept_per_plan(db_url: str, catalog: Catalog) -> None:
    """The low-PDC rule measures a plan once a local day, and a restarted daemon knows it
    did: a measurement shows in the open flag's figures, refreshed by each one."""
    engine = make_engine(db_url)
    try:
        with Session(engine, expire_on_commit=False) as s:
            now = at(2026, 3, 1)
            e = enroll(s, catalog, "teriflunomide", date(2026, 3, 1), now=now, times=["09:00"])
            young = enroll(
                s, catalog, "teriflunomide", date(2026, 3, 20), now=now, times=["09:00"],
                team=e.team, n=1,
            )  # fmt: skip
            drive(s, catalog, start=now, until=at(2026, 4, 3, 12), take=lambda d: False)
            care_step(s, now=at(2026, 4, 3, 12), catalog=catalog, settings=DEFAULTS, full=True)
            (low,) = flags(s, "low_pdc")
            low_id = low.id
            assert (low.plan_id, low.details["pdc"]) == (e.plan.id, 0.0)
            s.expire_all()
            checked = {p.id: p.pdc_checked_on for p in s.exec(select(Plan)).all()}
            # Measured on its local day; the young plan needs no measuring, so no write.
            assert checked == {e.plan.id: date(2026, 4, 3), young.plan.id: None}
            # The clinic records five of those days as taken after all.
            s.execute(
                update(Dose)
                .where(
                    col(Dose.plan_id) == e.plan.id,
                    col(Dose.kind) == "dose",
                    col(Dose.local_date).between(date(2026, 3, 10), date(2026, 3, 14)),
                )
                .values(status="taken", taken_at=Dose.due_at)
            )
            s.commit()
    finally:
        engine.dispose()

    restarted = make_engine(db_url)
    try:
        with Session(restarted, expire_on_commit=False) as s:
            # The same local day after a restart: not measured again ...
            care_step(s, now=at(2026, 4, 3, 14), catalog=catalog, settings=DEFAULTS, full=True)
            (same,) = flags(s, "low_pdc")
            assert same.details["pdc"] == 0.0
            # ... the next one it is (and finds the five days).
            care_step(s, now=at(2026, 4, 4, 12), catalog=catalog, settings=DEFAULTS, full=True)
            (fresh,) = flags(s, "low_pdc")
            assert fresh.id == low_id and 0.1 < fresh.details["pdc"] < 0.2
            plan = s.get(Plan, e.plan.id)
            assert plan is not None and plan.pdc_checked_on == date(2026, 4, 4)
    finally:
        restarted.dispose()


def test_down_to_0003_drops_the_care_state_columns_and_up_restores_them(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        command.downgrade(alembic_config(engine), "0003")
        columns = {
            table: {c["name"] for c in inspect(engine).get_columns(table)}
            for table in ("coordinator", "plan")
        }
        assert "next_digest_at" not in columns["coordinator"]
        assert "pdc_checked_on" not in columns["plan"]
        upgrade(engine)
        pending = {
            ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes("rule_event")
        }
        assert pending["ix_rule_event_pending"] == ["notified", "type"]
        by_digest = {ix["name"] for ix in inspect(engine).get_indexes("coordinator")}
        assert "ix_coordinator_next_digest_at" in by_digest
    finally:
        engine.dispose()
