"""Materialising doses into SQLite against a bare executemany of the same rows.

    python bench/materialize.py            # 10,000 patients, mixed regimens, 35-day horizon
    python bench/materialize.py --quick    # 1,000 patients

Ours: ``adherence.dosing.materialize.materialize`` for every plan (expansion in each patient's
zone, the existing-dose lookup, row building, INSERT .. ON CONFLICT DO NOTHING), timed on a
migrated SQLite file where the patients and plans are already enrolled. Baseline, same run:
the rows ours wrote, read back as tuples beforehand, inserted into a fresh copy of the same
enrolled database (same schema and indexes, no doses) with one ``sqlite3`` ``executemany``
and a commit. The sides alternate ``--repeat`` times and each keeps its best. Prints doses written per second for
both, the ratio (goal >= 0.5) and the peak memory of the materialise step (tracemalloc).
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import Session

from adherence.dosing.materialize import materialize
from adherence.patients.enrollment import create_patient, create_plan, create_team
from adherence.storage.db import make_engine, upgrade
from schedules import load_catalog

ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Europe/London",
    "Europe/Madrid",
    "Australia/Sydney",
    "Asia/Kolkata",
    "America/St_Johns",
]
# (regimen, options, times): a clinic's mix, pills and injections mostly.
MIX = [
    ("Tecfidera", {}, ["08:00", "20:00"]),
    ("Vumerity", {}, ["08:00", "20:00"]),
    ("Aubagio", {"strength": "14"}, ["09:00"]),
    ("Gilenya", {}, ["09:00"]),
    ("Zeposia", {}, ["09:00"]),
    ("Ponvory", {}, ["09:00"]),
    ("Mayzent", {"cyp2c9": "*1/*1"}, ["09:00"]),
    ("Copaxone", {"strength": "40"}, ["19:00"]),
    ("Copaxone", {"strength": "20"}, ["19:00"]),
    ("Rebif", {}, ["19:00"]),
    ("Betaseron", {}, ["19:00"]),
    ("Kesimpta", {}, ["09:00"]),
    ("Plegridy", {}, ["19:00"]),
    ("Avonex", {}, ["19:00"]),
    ("Ocrevus", {}, ["09:00"]),
    ("Tysabri", {}, ["09:00"]),
    ("Mavenclad", {"weight_kg": "72"}, ["09:00"]),
]


def enrol(url: str, patients: int, now: datetime) -> None:
    engine = make_engine(url)
    upgrade(engine)
    catalog = load_catalog()
    rnd = random.Random(7)
    with Session(engine, expire_on_commit=False) as s:
        team = create_team(s, name="Bench clinic", tz="America/New_York", now=now)
        for i in range(patients):
            regimen, options, times = MIX[i % len(MIX)]
            zone = rnd.choice(ZONES)
            p = create_patient(
                s,
                team=team,
                name=f"P{i}",
                phone=f"+1202555{i % 10000:04d}",
                tz=zone,
                now=now,
                commit=False,
            )
            start = (now - timedelta(days=rnd.randrange(0, 120))).date()
            create_plan(
                s,
                catalog=catalog,
                patient=p,
                regimen=regimen,
                start=start,
                now=now - timedelta(days=200),
                times=times,
                options=options,
                commit=False,
            )
            if i % 2000 == 1999:
                s.commit()
        s.commit()
    engine.dispose()


def timed_materialize(db: Path, now: datetime, horizon: int) -> tuple[float, int]:
    engine = make_engine(f"sqlite:///{db}")
    catalog = load_catalog()
    t = time.perf_counter()
    with Session(engine) as s:
        written = materialize(s, now=now, catalog=catalog, horizon_days=horizon)
    seconds = time.perf_counter() - t
    engine.dispose()
    return seconds, written


def timed_executemany(db: Path, cols: list[str], rows: list[Any]) -> float:
    dst = sqlite3.connect(db)
    dst.execute("PRAGMA journal_mode=WAL")
    dst.execute("PRAGMA synchronous=NORMAL")
    sql = f"INSERT INTO dose ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    t = time.perf_counter()
    dst.executemany(sql, rows)
    dst.commit()
    seconds = time.perf_counter() - t
    dst.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--horizon", type=int, default=35)
    parser.add_argument("--repeat", type=int, default=3, help="runs per side; best is kept")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.patients, args.repeat = 1_000, min(args.repeat, 2)
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        enrolled, run_db = Path(tmp) / "enrolled.db", Path(tmp) / "run.db"
        t = time.perf_counter()
        enrol(f"sqlite:///{enrolled}", args.patients, now)
        print(
            f"setup: {args.patients:,} patients and plans enrolled in {time.perf_counter() - t:.1f} s"
        )
        # The two sides alternate, each on a fresh copy of the enrolled database (same
        # schema, indexes and plans, no doses), so that both see the same machine and
        # disk; each keeps its best run.
        ours = base = float("inf")
        cols: list[str] = []
        rows: list[Any] = []
        for round_ in range(args.repeat):
            shutil.copy(enrolled, run_db)
            seconds, written = timed_materialize(run_db, now, args.horizon)
            ours = min(ours, seconds)
            if round_ == 0:
                catalog = load_catalog()
                again_engine = make_engine(f"sqlite:///{run_db}")
                with Session(again_engine) as s:
                    again = materialize(s, now=now, catalog=catalog, horizon_days=args.horizon)
                again_engine.dispose()
                src = sqlite3.connect(run_db)
                cols = [r[1] for r in src.execute("PRAGMA table_info(dose)") if r[1] != "id"]
                rows = src.execute(f"SELECT {', '.join(cols)} FROM dose").fetchall()
                src.close()
            run_db.unlink()
            shutil.copy(enrolled, run_db)
            base = min(base, timed_executemany(run_db, cols, rows))
            run_db.unlink()
        # Peak memory on a copy: tracemalloc slows Python down, so it is not in the timing.
        shutil.copy(enrolled, run_db)
        mem_engine = make_engine(f"sqlite:///{run_db}")
        tracemalloc.start()
        with Session(mem_engine) as s:
            materialize(s, now=now, catalog=load_catalog(), horizon_days=args.horizon)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        mem_engine.dispose()
        print(f"best of {args.repeat} alternating runs per side")
        print(
            f"materialize: {written:,} doses in {ours:.2f} s = {written / ours:,.0f} doses/s, "
            f"peak memory {peak / 2**20:.0f} MiB (Python allocations)"
        )
        print(f"re-run: {again} doses written (idempotent)")
        print(
            f"baseline: executemany of the same {len(rows):,} rows in {base:.2f} s = "
            f"{len(rows) / base:,.0f} rows/s"
        )
        print(f"ratio: {(written / ours) / (len(rows) / base):.2f} (goal >= 0.5)")


if __name__ == "__main__":
    main()
