"""Materialising at scale: the daemon's pass in slices between dispatches, the per-plan
"materialised until" mark, the advisory lock held while a slice writes (PostgreSQL), the
index the existing-dose lookup uses, and one bad plan unable to stop the others."""

from __future__ import annotations

import logging
import time
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, text, update
from sqlmodel import Session, col, func, select

from adherence.bootstrap import App
from adherence.core.clock import VirtualClock
from adherence.core.config import settings_from_mapping
from adherence.daemon import MATERIALIZE_LOCK, Worker
from adherence.dosing.materialize import existing_doses_query, materialize, materialize_slice
from adherence.metrics import DaemonState
from adherence.patients.enrollment import update_patient
from adherence.storage.db import make_engine
from adherence.storage.models import Dose, Plan
from notifiers.sms import MemorySms
from schedules import Catalog
from tests.adherence.engine_helpers import at, enroll


def _clinic(session: Session, catalog: Catalog, n: int, *, now: Any) -> list[Plan]:
    first = enroll(session, catalog, "Gilenya", date(2026, 2, 1), now=now, times=["09:00"])
    plans = [first.plan]
    for i in range(1, n):
        e = enroll(
            session,
            catalog,
            "Aubagio",
            date(2026, 2, 1),
            now=now,
            times=["10:00"],
            options={"strength": "14"},
            team=first.team,
            n=i,
        )
        plans.append(e.plan)
    return plans


def _dose_count(session: Session) -> int:
    count = session.exec(select(func.count()).select_from(Dose)).one()
    session.rollback()  # ends the read (on SQLite it holds the write lock)
    return count


def _unmarked(session: Session) -> int:
    """Plans no pass has written yet."""
    count = session.exec(
        select(func.count()).select_from(Plan).where(col(Plan.materialized_until).is_(None))
    ).one()
    session.rollback()
    return count


def _worker(engine: Engine, catalog: Catalog, clock: VirtualClock, texts: MemorySms) -> Worker:
    settings = settings_from_mapping({"engine": {"horizon_days": 10}})
    return Worker(
        App(settings=settings, engine=engine, catalog=catalog), texts, DaemonState(), clock
    )


def test_a_pass_skips_plans_already_written_and_redoes_what_changed(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 3, 2, 8)
    plans = _clinic(session, catalog, 4, now=at(2026, 2, 1))
    first = materialize_slice(session, now=now, catalog=catalog, horizon_days=10)
    assert (first.examined, first.skipped) == (4, 0) and first.written > 0
    assert first.next_after is None  # the whole pass
    marks = session.exec(select(Plan.materialized_until)).all()
    assert set(marks) == {date(2026, 3, 12)}  # local today + horizon

    # A restart with nothing new: every plan skipped, none expanded, nothing written.
    again = materialize_slice(
        session, now=now + timedelta(minutes=5), catalog=catalog, horizon_days=10
    )
    assert (again.examined, again.skipped, again.written) == (0, 4, 0)

    # The patient moves to Paris: that plan (and only that one) is recomputed.
    later = now + timedelta(hours=1)
    patient = plans[1]
    from adherence.storage.models import Patient

    update_patient(
        session, patient=session.get(Patient, patient.patient_id), now=later, tz="Europe/Paris"
    )  # type: ignore[arg-type]
    moved = materialize_slice(
        session, now=later + timedelta(minutes=1), catalog=catalog, horizon_days=10
    )
    assert (moved.examined, moved.skipped) == (1, 3)

    # The next local day: every horizon is one day short again.
    tomorrow = materialize_slice(
        session, now=now + timedelta(days=1), catalog=catalog, horizon_days=10
    )
    assert tomorrow.examined == 4 and tomorrow.written > 0

    # Named plans (just changed by a command) are always recomputed, mark or not.
    named = materialize_slice(
        session,
        now=now + timedelta(days=1),
        catalog=catalog,
        horizon_days=10,
        plan_ids=[plans[0].id or 0],
        skip_written=False,
    )
    assert named.examined == 1


def test_the_daemon_dispatches_between_slices_of_the_pass(
    engine: Engine, session: Session, catalog: Catalog
) -> None:
    """A reminder due now leaves in the first tick, long before the pass is over."""
    start = at(2026, 3, 2, 9)
    plans = _clinic(session, catalog, 12, now=at(2026, 2, 1))
    # Yesterday's daemon wrote the first plan's doses; today the rest are new.
    materialize(
        session,
        now=start - timedelta(hours=1),
        catalog=catalog,
        horizon_days=10,
        plan_ids=[plans[0].id or 0],
    )
    clock, texts = VirtualClock(start), MemorySms()
    worker = _worker(engine, catalog, clock, texts)
    worker.materialize_slice_plans = 3
    try:
        first = worker.run_once()
        assert first.dispatched.reminders == 1
        assert first.next_at == start  # more of the pass to do: come back at once
        assert _unmarked(session) > 0  # most plans not materialised when the reminder went
        ticks = 1
        while worker.materialize_pass is not None and not worker.materialize_pass.done:
            worker.run_once()
            ticks += 1
            assert ticks < 50
        assert _unmarked(session) == 0
        assert ticks >= 12 // 3  # one bounded slice per tick
        assert [m.purpose for m in texts.sent if m.purpose == "reminder"] == ["reminder"]
    finally:
        worker.stop()


def test_a_second_daemon_redoes_nothing_the_first_wrote(
    engine: Engine, session: Session, catalog: Catalog
) -> None:
    start = at(2026, 3, 2, 9)
    _clinic(session, catalog, 5, now=at(2026, 2, 1))
    session.commit()
    a = _worker(engine, catalog, VirtualClock(start), MemorySms())
    b = _worker(engine, catalog, VirtualClock(start + timedelta(minutes=2)), MemorySms())
    try:
        while a.materialize_pass is None or not a.materialize_pass.done:
            a.run_once()
        assert a.materialize_pass.total.examined >= 5  # each plan, in each stage
        written = _dose_count(session)
        while b.materialize_pass is None or not b.materialize_pass.done:
            b.run_once()
        assert (b.materialize_pass.total.examined, b.materialize_pass.total.skipped) == (0, 10)
        assert _dose_count(session) == written
    finally:
        a.stop()
        b.stop()


def test_each_slice_holds_the_advisory_lock_while_it_writes(
    db_url: str, engine: Engine, session: Session, catalog: Catalog
) -> None:
    """On PostgreSQL another daemon cannot take the lock while this one writes doses (it was
    released before materialising), and a daemon that finds it taken writes nothing."""
    if not db_url.startswith("postgresql"):
        pytest.skip("advisory locks are PostgreSQL's")
    _clinic(session, catalog, 3, now=at(2026, 2, 1))
    other = make_engine(db_url)
    seen: list[bool] = []

    def probe(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO DOSE"):
            with other.connect() as c:
                got = bool(
                    c.execute(
                        text("SELECT pg_try_advisory_lock(:k)"), {"k": MATERIALIZE_LOCK}
                    ).scalar()
                )
                if got:
                    c.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MATERIALIZE_LOCK})
                c.commit()
            seen.append(got)

    event.listen(engine, "before_cursor_execute", probe)
    worker = _worker(engine, catalog, VirtualClock(at(2026, 3, 2, 9)), MemorySms())
    try:
        worker.run_once()
        assert seen and not any(seen)  # every insert ran under the lock
        event.remove(engine, "before_cursor_execute", probe)
        written = _dose_count(session)
        assert written > 0

        # Another daemon mid-slice holds the lock: this one's pass writes nothing, gives way.
        with other.connect() as c:
            c.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MATERIALIZE_LOCK})
            late = _worker(engine, catalog, VirtualClock(at(2026, 3, 3, 9)), MemorySms())
            try:
                for _ in range(100):  # the day's reminders first, then its pass
                    late.run_once()
                    if late.materialize_pass is not None and late.materialize_pass.done:
                        break
                    time.sleep(0.02)
                assert late.materialize_pass is not None and late.materialize_pass.total.locked
                assert late.materialize_pass.total.examined == 0
            finally:
                late.stop()
            c.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MATERIALIZE_LOCK})
            c.commit()
        assert _dose_count(session) == written
    finally:
        worker.stop()
        other.dispose()


def test_the_existing_dose_lookup_uses_the_plan_and_time_index(
    db_url: str, engine: Engine, session: Session, catalog: Catalog
) -> None:
    """EXPLAIN of a batch's lookup on a clinic-shaped dose table: 400 plans with two months
    of doses each, a batch of 5 plans, from two days ago on."""
    if not db_url.startswith("postgresql"):
        pytest.skip("EXPLAIN as PostgreSQL plans it")
    plans = _clinic(session, catalog, 1, now=at(2026, 2, 1))
    now = at(2026, 3, 2, 8)
    materialize(session, now=now, catalog=catalog, horizon_days=10)
    session.commit()
    plan_cols = [c.name for c in Plan.__table__.columns if c.name != "id"]  # type: ignore[attr-defined]
    dose_cols = [c.name for c in Dose.__table__.columns if c.name != "id"]  # type: ignore[attr-defined]
    varied = {
        "plan_id": "p.id",
        "key": "d.key || '-' || g",
        "due_at": "d.due_at + g * interval '1 day'",
    }
    with engine.begin() as conn:
        template = conn.execute(text("SELECT min(id) FROM dose")).scalar()
        conn.execute(
            text(
                f"INSERT INTO plan ({', '.join(plan_cols)}) SELECT {', '.join(plan_cols)} "
                "FROM plan, generate_series(1, 400) WHERE id = :id"
            ),
            {"id": plans[0].id},
        )
        conn.execute(
            text(
                f"INSERT INTO dose ({', '.join(dose_cols)}) SELECT "
                + ", ".join(varied.get(c, f"d.{c}") for c in dose_cols)
                + " FROM dose d, plan p, generate_series(-30, 30) g "
                "WHERE d.id = :tpl AND p.id <> :first"
            ),
            {"tpl": template, "first": plans[0].id},
        )
        conn.execute(text("ANALYZE dose"))
        ids = list(
            conn.execute(text("SELECT id FROM plan ORDER BY id LIMIT 5 OFFSET 100")).scalars()
        )
    compiled = existing_doses_query(ids, now).compile(
        engine, compile_kwargs={"literal_binds": True}
    )
    with engine.connect() as conn:
        plan = "\n".join(r[0] for r in conn.execute(text(f"EXPLAIN {compiled}")))
    assert "ix_dose_plan_due" in plan, plan
    assert "Seq Scan" not in plan, plan


def test_one_bad_plan_is_logged_and_skipped_and_the_others_go_on(
    engine: Engine, session: Session, catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    """A plan whose dates reach past the calendar's range, written straight to the
    database (the command refuses it): the engine names it and carries on."""
    start = at(2026, 3, 2, 9)
    plans = _clinic(session, catalog, 3, now=at(2026, 2, 1))
    bad = plans[1]
    session.execute(
        update(Plan)
        .where(col(Plan.id) == bad.id)
        .values(start_date=date(9999, 12, 31), epoch_start=date(9999, 12, 31))
    )
    session.commit()
    session.expire_all()
    texts = MemorySms()
    worker = _worker(engine, catalog, VirtualClock(start), texts)
    caplog.set_level(logging.WARNING)
    try:
        for _ in range(5):
            result = worker.run_once()
        assert worker.materialize_pass is not None and worker.materialize_pass.done
        assert worker.materialize_pass.total.failed >= 1
        assert result.next_at is not None
    finally:
        worker.stop()
    assert any(f"plan {bad.id} skipped" in r.getMessage() for r in caplog.records)
    session.expire_all()
    by_plan = dict(
        session.exec(select(Dose.plan_id, func.count()).group_by(col(Dose.plan_id))).all()
    )
    assert bad.id not in by_plan
    assert by_plan[plans[0].id] > 0 and by_plan[plans[2].id] > 0
    assert [m.purpose for m in texts.sent] == ["reminder"]  # plan 0's 09:00 dose
