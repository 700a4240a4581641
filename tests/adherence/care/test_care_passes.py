"""The care step's periodic passes at scale: the low-PDC rule measures every plan whose
result may have moved on each pass (no cap), including plans whose doses changed since the
last pass the same day; the missed-run look of a full tick reads only the doses changed
since its watermark, by an index."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text, update
from sqlmodel import Session, col

import adherence.care.flags.pdc as pdc_module
from adherence.care.flags.marks import changed_plans
from adherence.dosing.materialize import materialize
from adherence.storage.models import Dose
from schedules import Catalog
from tests.adherence.care.test_flags import DEFAULTS, care, flags
from tests.adherence.engine_helpers import Enrolled, at, enroll

MARCH_1 = date(2026, 3, 1)


def _clinic(session: Session, catalog: Catalog, n: int) -> list[Enrolled]:
    """``n`` daily-pill plans from 1 March, every dose up to 3 April recorded missed (an
    old record: written on 3 April at 00:30, before any pass below)."""
    now = at(2026, 3, 1)
    first = enroll(session, catalog, "teriflunomide", MARCH_1, now=now, times=["09:00"])
    plans = [first] + [
        enroll(
            session,
            catalog,
            "teriflunomide",
            MARCH_1,
            now=now,
            times=["09:00"],
            team=first.team,
            n=i,
        )
        for i in range(1, n)
    ]
    materialize(session, now=now, catalog=catalog, horizon_days=40)
    session.execute(
        update(Dose)
        .where(col(Dose.local_date) < date(2026, 4, 3))
        .values(status="missed", next_action_at=None, updated_at=at(2026, 4, 3, 0, 30))
    )
    session.commit()
    return plans


def _record_taken(session: Session, plan_id: int, first: date, last: date, at_: datetime) -> None:
    session.execute(
        update(Dose)
        .where(col(Dose.plan_id) == plan_id, col(Dose.local_date).between(first, last))
        .values(status="taken", taken_at=Dose.due_at, updated_at=at_)
    )
    session.commit()


def test_one_pass_measures_every_plan_however_many(
    session: Session, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches of two: five plans take three batches, all in the one pass.
    monkeypatch.setattr(pdc_module, "PDC_BATCH", 2)
    plans = _clinic(session, catalog, 5)
    care(session, catalog, at(2026, 4, 3, 12), full=True)
    low = flags(session, "low_pdc")
    assert sorted(f.plan_id for f in low) == sorted(e.plan.id for e in plans)
    assert {f.details["pdc"] for f in low} == {0.0}


def test_a_dose_recorded_after_the_days_pass_is_measured_on_the_next_pass(
    session: Session, catalog: Catalog
) -> None:
    (e,) = _clinic(session, catalog, 1)
    care(session, catalog, at(2026, 4, 3, 12), full=True)
    (low,) = flags(session, "low_pdc")
    assert low.details["pdc"] == 0.0
    # The clinic records five of those days as taken after all, at 13:00 ...
    assert e.plan.id is not None
    _record_taken(session, e.plan.id, date(2026, 3, 10), date(2026, 3, 14), at(2026, 4, 3, 13))
    # ... and the next hourly pass, the same local day, measures the plan again.
    care(session, catalog, at(2026, 4, 3, 14), full=True)
    (fresh,) = flags(session, "low_pdc")
    assert fresh.id == low.id
    assert fresh.details["pdc"] == round(5 / 30, 4)


def test_a_full_tick_reads_the_misses_recorded_since_its_last_pass(
    session: Session, catalog: Catalog
) -> None:
    """Misses recorded without a rule event (an import, an edit) are found by the full
    tick that follows them; misses the last pass already read are not read again."""
    a, b = _clinic(session, catalog, 2)
    assert a.plan.id is not None and b.plan.id is not None
    for e in (a, b):
        assert e.plan.id is not None
        _record_taken(session, e.plan.id, MARCH_1, date(2026, 4, 2), at(2026, 4, 3, 0, 30))
    care(session, catalog, at(2026, 4, 3, 12), full=True)
    assert flags(session, "missed_doses") == []
    # Two days of a's and b's recorded missed: a's after that pass, b's (somehow) before it.
    for plan_id, when in ((a.plan.id, at(2026, 4, 3, 13)), (b.plan.id, at(2026, 4, 3, 1))):
        session.execute(
            update(Dose)
            .where(
                col(Dose.plan_id) == plan_id,
                col(Dose.local_date).between(date(2026, 4, 1), date(2026, 4, 2)),
            )
            .values(status="missed", taken_at=None, updated_at=when)
        )
    session.commit()
    care(session, catalog, at(2026, 4, 3, 14), full=True)
    # Only a's rows changed since the mark: b's are before it and are not read again.
    assert [f.plan_id for f in flags(session, "missed_doses")] == [a.plan.id]
    # A changed threshold is another basis: the whole window is read once more.
    strict = DEFAULTS.model_copy(
        update={"care": DEFAULTS.care.model_copy(update={"missed_in_a_row_oral": 1})}
    )
    care(session, catalog, at(2026, 4, 3, 15), settings=strict, full=True)
    got = sorted(f.plan_id or 0 for f in flags(session, "missed_doses"))
    assert got == sorted([a.plan.id, b.plan.id])


def test_the_changed_doses_are_read_by_their_index(session: Session) -> None:
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("PostgreSQL's planner chooses by table statistics (bench/care_pass.py)")
    since = datetime(2026, 4, 3, tzinfo=UTC) - timedelta(hours=1)
    assert changed_plans(session, since) == set()
    stmt = "EXPLAIN QUERY PLAN SELECT plan_id FROM dose WHERE updated_at > :t"
    plan = " ".join(str(r[-1]) for r in session.execute(text(stmt), {"t": "2026-04-03"}))
    assert "ix_dose_updated_at" in plan
