"""Materialising doses into SQLite against a bare executemany of the same rows.

    python bench/materialize.py            # 10,000 patients, mixed regimens, 35-day horizon
    python bench/materialize.py --quick    # 1,000 patients

Ours: ``adherence.materialize.materialize`` for every plan (expansion in each patient's
zone, the existing-dose lookup, row building, INSERT .. ON CONFLICT DO NOTHING), timed on a
migrated SQLite file where the patients and plans are already enrolled. Baseline, same run:
the rows ours wrote, read back as tuples beforehand, inserted into an empty copy of the same
schema with one ``sqlite3`` ``executemany`` and a commit. Prints doses written per second for
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import Session

from adherence.db import make_engine, upgrade
from adherence.enrollment import create_patient, create_plan, create_team
from adherence.materialize import materialize
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--horizon", type=int, default=35)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.patients = 1_000
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        ours_db, base_db, empty_db = (Path(tmp) / n for n in ("ours.db", "base.db", "empty.db"))
        t = time.perf_counter()
        enrol(f"sqlite:///{ours_db}", args.patients, now)
        print(
            f"setup: {args.patients:,} patients and plans enrolled in {time.perf_counter() - t:.1f} s"
        )
        upgrade_engine = make_engine(f"sqlite:///{empty_db}")
        upgrade(upgrade_engine)
        upgrade_engine.dispose()
        shutil.copy(ours_db, base_db)
        mem_db = Path(tmp) / "mem.db"
        shutil.copy(ours_db, mem_db)

        engine = make_engine(f"sqlite:///{ours_db}")
        catalog = load_catalog()
        t = time.perf_counter()
        with Session(engine) as s:
            written = materialize(s, now=now, catalog=catalog, horizon_days=args.horizon)
        ours = time.perf_counter() - t
        engine.dispose()
        # Peak memory on a copy: tracemalloc slows Python down, so it is not in the timing.
        mem_engine = make_engine(f"sqlite:///{mem_db}")
        tracemalloc.start()
        with Session(mem_engine) as s:
            materialize(s, now=now, catalog=catalog, horizon_days=args.horizon)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        mem_engine.dispose()
        print(
            f"materialize: {written:,} doses in {ours:.2f} s = {written / ours:,.0f} doses/s, "
            f"peak memory {peak / 2**20:.0f} MiB (Python allocations)"
        )
        again_engine = make_engine(f"sqlite:///{ours_db}")
        with Session(again_engine) as s:
            again = materialize(s, now=now, catalog=catalog, horizon_days=args.horizon)
        again_engine.dispose()
        print(f"re-run: {again} doses written (idempotent)")

        src = sqlite3.connect(ours_db)
        cols = [r[1] for r in src.execute("PRAGMA table_info(dose)") if r[1] != "id"]
        rows = src.execute(f"SELECT {', '.join(cols)} FROM dose").fetchall()
        src.close()
        dst = sqlite3.connect(base_db)
        dst.execute("PRAGMA journal_mode=WAL")
        dst.execute("PRAGMA synchronous=NORMAL")
        sql = f"INSERT INTO dose ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        t = time.perf_counter()
        dst.executemany(sql, rows)
        dst.commit()
        base = time.perf_counter() - t
        dst.close()
        print(
            f"baseline: executemany of the same {len(rows):,} rows in {base:.2f} s = "
            f"{len(rows) / base:,.0f} rows/s"
        )
        print(f"ratio: {(written / ours) / (len(rows) / base):.2f} (goal >= 0.5)")


if __name__ == "__main__":
    main()
