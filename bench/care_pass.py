"""The care step's hourly pass at clinic scale, on SQLite: the low-PDC rule and the
missed-run look of a full tick, each against the way it worked before, in the same run.

    python bench/care_pass.py                      # 10,000 plans, 32 days of daily doses
    python bench/care_pass.py --plans 100000       # 100,000 plans (3.2 million doses)
    python bench/care_pass.py --quick              # 1,000 plans

Setup (not timed): a migrated SQLite file, one care team, ``--plans`` patients on a daily
pill (teriflunomide, 09:00, America/New_York) from 32 days before "now", every dose up to
yesterday written taken or missed (each patient their own adherence level), today's and
three days ahead scheduled.

Timed (process CPU time and wall time):
- **PDC, before**: the old rule's work, one ``measure_plan`` per plan (a few statements per
  plan), on ``--sample`` plans: plans per second, and what the old cap of 1,000 plans per
  hourly pass meant for the clinic (passes, hours, until every plan is measured once).
- **PDC, after**: ``pdc_rule`` as the care step runs it: the day's first pass (every plan:
  its period moved), the next hourly pass with nothing changed, and one after 1 % of the
  plans had a dose recorded (only those are measured).
- **missed-run look, before / after**: the full tick's look for plans with a dose missed,
  as it was (every missed dose of the last [care] pdc_days by due time) and as it is (the
  doses changed since the last full tick, by ``ix_dose_updated_at``), with SQLite's plan
  for each; the after figure is an idle tick (nothing changed since the mark).

Each ratio compares the two sides of the same run (before / after, per plan or per pass).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text, update
from sqlmodel import Session, col, select

from adherence.care.flags.pdc import PDC_BATCH, pdc_rule
from adherence.care.flags.rules import _missed_since_mark
from adherence.care.measures import measure_plan, measure_plans
from adherence.core.config import Settings
from adherence.patients.enrollment import create_team
from adherence.storage.db import make_engine, upgrade
from adherence.storage.models import Dose, Patient, Plan
from adherence.storage.utc import sqlite_text
from schedules import load_catalog

ZONE = ZoneInfo("America/New_York")
HISTORY_DAYS = 32
AHEAD_DAYS = 3


def build(path: Path, plans: int, today: date, seed: int) -> int:
    """The database; returns the number of doses written."""
    start = today - timedelta(days=HISTORY_DAYS)
    stamp_at = datetime.combine(start, datetime.min.time(), UTC)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with Session(engine) as s:
        team = create_team(s, name="Bench clinic", tz="America/New_York", now=stamp_at)
        team_id = team.id
    engine.dispose()
    rnd = random.Random(seed)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    stamp = sqlite_text(stamp_at)
    con.executemany(
        "INSERT INTO patient (id, team_id, name, phone, tz, external_id, email, discreet, language,"
        " sms_status, active, invites, caregiver_name, caregiver_phone, caregiver_email,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, 'America/New_York', ?, '', 1, 'en',"
        " 'active', 1, 0, '', '', '', ?, ?)",
        [
            (i + 1, team_id, f"P{i}", f"+1202{i:07d}", f"MRN-{i}", stamp, stamp)
            for i in range(plans)
        ],
    )
    con.executemany(
        "INSERT INTO plan (id, patient_id, regimen, options_json, start_date, times_json, status,"
        " epoch, epoch_start, rebases_json, stop_reason, created_at, updated_at) VALUES"
        " (?, ?, 'teriflunomide', '{}', ?, '[\"09:00\"]', 'active', 0, ?, '{}', '', ?, ?)",
        [(i + 1, i + 1, start.isoformat(), start.isoformat(), stamp, stamp) for i in range(plans)],
    )
    days = []
    for n in range(HISTORY_DAYS + AHEAD_DAYS + 1):
        d = start + timedelta(days=n)
        due = datetime(d.year, d.month, d.day, 9, 0, tzinfo=ZONE)
        taken = sqlite_text(due + timedelta(minutes=7))
        days.append((d, sqlite_text(due), sqlite_text(due + timedelta(hours=12)), n + 1, taken))
    sql = (
        "INSERT INTO dose (plan_id, patient_id, epoch, key, occasion, due_at, local_date,"
        " local_time, day, amount, unit, kind, phase, label, window_closes_at, status, late,"
        " taken_at, confirmed_at, confirmed_via, confirmed_by, nudges_sent, next_action_at,"
        " updated_at) VALUES (?, ?, 0, ?, ?, ?, ?, '09:00', ?, 14.0, 'mg', 'dose', 'daily',"
        " '', ?, ?, 0, ?, ?, ?, '', 0, ?, ?)"
    )
    batch: list[tuple[Any, ...]] = []
    written = 0
    for p in range(1, plans + 1):
        level = rnd.uniform(0.7, 1.0)
        for seq, (d, due, closes, day, taken) in enumerate(days):
            if d < today:
                ok = rnd.random() < level
                at = taken if ok else None
                status, nxt, changed = ("taken" if ok else "missed"), None, closes
            else:
                status, at, nxt, changed = "scheduled", None, due, stamp
            batch.append(
                (p, p, f"dose:{seq}", seq, due, d.isoformat(), day, closes, status, at, at,
                 "sms" if at else "", nxt, changed)
            )  # fmt: skip
        if len(batch) >= 200_000:
            con.executemany(sql, batch)
            written += len(batch)
            batch.clear()
    con.executemany(sql, batch)
    written += len(batch)
    con.commit()
    con.execute("ANALYZE")  # what a daemon's database has after a while (PRAGMA optimize)
    con.close()
    return written


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - cpu, time.perf_counter() - wall


def sqlite_plan(s: Session, sql: str, params: dict[str, Any]) -> str:
    rows = s.execute(text("EXPLAIN QUERY PLAN " + sql), params).all()
    return "; ".join(str(r[-1]) for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--plans", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=1_000, help="plans measured the old way")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.plans, args.sample = 1_000, 300
    args.sample = min(args.sample, args.plans)
    settings = Settings()
    catalog = load_catalog()
    today = date(2026, 4, 3)
    now = datetime(2026, 4, 3, 12, 0, tzinfo=ZONE)
    days = settings.care.pdc_days
    end = today - timedelta(days=1)
    start = end - timedelta(days=days - 1)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        t = time.perf_counter()
        doses = build(db, args.plans, today, args.seed)
        print(
            f"setup: {args.plans:,} plans, {doses:,} doses written in"
            f" {time.perf_counter() - t:.1f} s; file {db.stat().st_size / 2**20:,.0f} MiB"
        )
        engine = make_engine(f"sqlite:///{db}")

        # --- PDC, before: one measure_plan per plan (the old rule's loop) ---------------
        with Session(engine, expire_on_commit=False) as s:
            sample = list(s.exec(select(Plan).order_by(col(Plan.id)).limit(args.sample)).all())

            def old_way() -> int:
                for plan in sample:
                    measure_plan(s, plan, start=start, end=end, catalog=catalog, settings=settings)
                return len(sample)

            _, old_cpu, old_wall = timed(old_way)
            patients = {p.id or 0: p for p in s.exec(select(Patient)).all()}

            def new_way() -> int:
                for i in range(0, len(sample), PDC_BATCH):
                    measure_plans(
                        s, sample[i : i + PDC_BATCH], patients, start=start, end=end,
                        catalog=catalog, settings=settings,
                    )  # fmt: skip
                return len(sample)

            _, new_cpu, new_wall = timed(new_way)
        old_rate = len(sample) / old_wall
        passes = -(-args.plans // 1000)
        print(
            f"PDC before: {len(sample):,} plans one by one in {old_wall:.2f} s"
            f" (CPU {old_cpu:.2f} s) = {old_rate:,.0f} plans/s; capped at 1,000 a pass:"
            f" {passes} hourly passes (~{passes - 1} h) to measure the clinic once,"
            f" ~{args.plans / old_rate:.1f} s of work"
        )
        print(
            f"PDC after, measuring alone: the same {len(sample):,} plans in batches in"
            f" {new_wall:.2f} s (CPU {new_cpu:.2f} s) = {len(sample) / new_wall:,.0f} plans/s;"
            f" ratio {old_wall / new_wall:.1f}x"
        )

        # --- PDC, after: the rule as the care step runs it -----------------------------
        with Session(engine, expire_on_commit=False) as s:
            flags, cpu, wall = timed(
                lambda: pdc_rule(s, now=now, catalog=catalog, settings=settings)
            )
            s.commit()
        measured = args.plans
        print(
            f"PDC after, day's first pass: {measured:,} plans measured in {wall:.2f} s"
            f" (CPU {cpu:.2f} s) = {measured / wall:,.0f} plans/s, with {len(flags):,} low-PDC"
            f" flags raised; ratio {measured / wall / old_rate:.1f}x plans/s vs before"
        )
        with Session(engine, expire_on_commit=False) as s:
            _, cpu, wall = timed(
                lambda: pdc_rule(
                    s, now=now + timedelta(hours=1), catalog=catalog, settings=settings
                )
            )
            s.commit()
        print(f"PDC after, next hourly pass, nothing changed: {wall:.3f} s (CPU {cpu:.3f} s)")
        changed = max(1, args.plans // 100)
        with Session(engine, expire_on_commit=False) as s:
            s.execute(
                update(Dose)
                .where(col(Dose.plan_id) <= changed, col(Dose.local_date) == end)
                .values(status="taken", updated_at=now + timedelta(hours=1, minutes=30))
            )
            s.commit()
            _, cpu, wall = timed(
                lambda: pdc_rule(
                    s, now=now + timedelta(hours=2), catalog=catalog, settings=settings
                )
            )
            s.commit()
        print(f"PDC after, a pass with {changed:,} plans changed: {wall:.3f} s (CPU {cpu:.3f} s)")

        # --- the full tick's missed-run look ------------------------------------------
        since = now - timedelta(days=days)
        old_sql = (
            "SELECT DISTINCT plan_id FROM dose WHERE status = 'missed' AND kind = 'dose'"
            " AND due_at >= :since"
        )
        with Session(engine, expire_on_commit=False) as s:
            params = {"since": sqlite_text(since)}
            print(f"missed-run look before, SQLite plan: {sqlite_plan(s, old_sql, params)}")
            found, old_cpu, old_wall = timed(lambda: s.execute(text(old_sql), params).all())
            print(
                f"missed-run look before: {len(found):,} plans in {old_wall:.3f} s"
                f" (CPU {old_cpu:.3f} s), every full tick"
            )
            _missed_since_mark(s, now=now, settings=settings)  # the first pass sets the mark
            s.commit()
            new_sql = "SELECT plan_id FROM dose WHERE updated_at > :mark"
            mark = {"mark": sqlite_text(now - timedelta(minutes=10))}
            print(f"missed-run look after, SQLite plan: {sqlite_plan(s, new_sql, mark)}")
            found2, cpu, wall = timed(
                lambda: _missed_since_mark(s, now=now + timedelta(hours=1), settings=settings)
            )
            s.commit()
        print(
            f"missed-run look after (idle full tick): {len(found2):,} plans in {wall:.4f} s"
            f" (CPU {cpu:.4f} s); ratio before/after {old_wall / max(wall, 1e-6):,.0f}x"
        )
        engine.dispose()


if __name__ == "__main__":
    main()
