"""Importing dose history into SQLite against a bare executemany of the same rows.

    python bench/history_import.py            # 10,000 patients x 100 rows = 1,000,000 rows
    python bench/history_import.py --quick    # 1,000 patients x 100 rows

Set-up (not timed): a migrated SQLite file with ``--patients`` patients, each on one plan
of a clinic's mix (daily and twice-daily pills mostly, self-injections, a few interval
therapies), enrolled the day before ``now``; and a CSV with ``--rows`` rows per patient,
generated from each plan's own expected doses: taken (at the planned time, give or take 40
minutes), skipped or missed.

Ours: ``adherence.history.files.import_path`` (the CLI's path: the sha256/UTF-8 pass, the
streaming CSV reader, patients, plans and existing doses read per chunk of 5,000 rows, each
plan expanded once per chunk, matching, the insert with the driver's executemany, a commit
per chunk), in a child process on a fresh copy of the enrolled file. Baseline, same run:
the dose rows ours wrote, read back as tuples beforehand, inserted into another fresh copy
with one ``sqlite3`` ``executemany`` and a commit. The sides alternate ``--repeat`` times and
each keeps its best. Memory: the peak of Python allocations (tracemalloc, in untimed child
runs) importing the first tenth of the file and all of it: the same figure for both means
memory does not grow with the file. (Not RSS: on Linux a child's maximum RSS includes what
its parent held when it forked, here the baseline's million rows.)
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import Session

from adherence.dosing.plans import expected_items
from adherence.patients.enrollment import create_patient, create_plan, create_team
from adherence.storage.db import make_engine, upgrade
from schedules import load_catalog

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Europe/London",
    "Europe/Madrid",
    "Australia/Sydney",
]
# (regimen, options, times, weight): mostly daily pills, then injections, a few infusions.
MIX = [
    ("Aubagio", {"strength": "14"}, ["09:00"], 20),
    ("Tecfidera", {}, ["08:00", "20:00"], 15),
    ("Vumerity", {}, ["08:00", "20:00"], 10),
    ("Gilenya", {}, ["09:00"], 10),
    ("Zeposia", {}, ["09:00"], 8),
    ("Mayzent", {"cyp2c9": "*1/*1"}, ["09:00"], 5),
    ("Copaxone", {"strength": "20"}, ["19:00"], 8),
    ("Copaxone", {"strength": "40"}, ["19:00"], 10),
    ("Rebif", {}, ["19:00"], 5),
    ("Avonex", {}, ["19:00"], 3),
    ("Betaseron", {}, ["19:00"], 3),
    ("Kesimpta", {}, ["09:00"], 2),
    ("Ocrevus", {}, ["09:00"], 1),
]


def enrol(db: Path, patients: int, rows: int, csv_path: Path) -> None:
    """The enrolled database, and the history CSV (patients in file order)."""
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    catalog = load_catalog()
    rnd = random.Random(11)
    weights = [m[3] for m in MIX]
    enrolled = NOW - timedelta(days=1)
    with Session(engine, expire_on_commit=False) as s, csv_path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["patient", "regimen", "at", "status", "source"])
        team = create_team(s, name="Bench clinic", tz="America/New_York", now=enrolled)
        for i in range(patients):
            regimen, options, times, _ = rnd.choices(MIX, weights)[0]
            p = create_patient(
                s,
                team=team,
                name=f"P{i}",
                phone=f"+1202555{i % 10000:04d}",
                tz=rnd.choice(ZONES),
                now=enrolled,
                external_id=f"MS-{i:06d}",
                commit=False,
            )
            plan = create_plan(
                s,
                catalog=catalog,
                patient=p,
                regimen=regimen,
                start=date_back(regimen, rows),
                now=enrolled,
                times=times,
                options=options,
                commit=False,
            )
            _, items = expected_items(catalog, plan, p, until=(NOW - timedelta(days=2)).date())
            doses = [it for it in items if it.kind != "monitoring"][:rows]
            for it in doses:
                roll = rnd.random()
                status = "taken" if roll < 0.9 else "skipped" if roll < 0.94 else "missed"
                jitter = timedelta(minutes=rnd.randint(-40, 40))
                out.writerow([p.external_id, regimen, (it.at + jitter).isoformat(), status, "EHR"])
            if i % 2000 == 1999:
                s.commit()
        s.commit()
    engine.dispose()


def date_back(regimen: str, rows: int) -> Any:
    """A start far enough back for ``rows`` doses before now."""
    days = {"Avonex": 7 * rows, "Kesimpta": 31 * rows, "Ocrevus": 183 * rows // 2 + 30}
    spacing = {"Copaxone": 3, "Rebif": 3, "Betaseron": 2}
    back = days.get(regimen, rows * spacing.get(regimen, 1) + 10)
    return (NOW - timedelta(days=back)).date()


def child(db: Path, csv_path: Path, traced: bool) -> None:
    """One import, in this (child) process: prints its figures as JSON. ``traced``: under
    tracemalloc, for the peak of Python allocations (slower: never in a timed run)."""
    from adherence.history.apply import Settings
    from adherence.history.files import import_path

    engine = make_engine(f"sqlite:///{db}")
    catalog = load_catalog()
    settings = Settings(catalog=catalog, now=NOW, actor="bench")
    if traced:
        tracemalloc.start()
    t = time.perf_counter()
    with Session(engine, expire_on_commit=False) as s:
        result = import_path(s, csv_path, settings=settings)
    seconds = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1] / 2**20 if traced else 0.0
    engine.dispose()
    print(json.dumps({"seconds": seconds, "peak_mib": peak, **result.counts()}))


def run_child(db: Path, csv_path: Path, traced: bool = False) -> dict[str, Any]:
    flag = ["--traced"] if traced else []
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(db), str(csv_path), *flag],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


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


def head(csv_path: Path, out: Path, fraction: int) -> int:
    """The first 1/``fraction`` of the file's rows (whole patients: rows are by patient)."""
    with csv_path.open() as src:
        lines = src.readlines()
    keep = 1 + (len(lines) - 1) // fraction
    out.write_text("".join(lines[:keep]))
    return keep - 1


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=100, help="history rows per patient")
    parser.add_argument("--repeat", type=int, default=2, help="runs per side; best is kept")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("DB", "CSV"), help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), args.traced)
        return
    if args.quick:
        args.patients = 1_000
    with tempfile.TemporaryDirectory() as tmp:
        enrolled, run_db = Path(tmp) / "enrolled.db", Path(tmp) / "run.db"
        history = Path(tmp) / "history.csv"
        t = time.perf_counter()
        enrol(enrolled, args.patients, args.rows, history)
        size = history.stat().st_size
        print(
            f"setup: {args.patients:,} patients and plans enrolled, history CSV "
            f"{size / 2**20:.0f} MiB written in {time.perf_counter() - t:.1f} s"
        )
        ours: dict[str, Any] = {"seconds": float("inf")}
        base = float("inf")
        cols: list[str] = []
        rows: list[Any] = []
        for round_ in range(args.repeat):
            shutil.copy(enrolled, run_db)
            got = run_child(run_db, history)
            if got["seconds"] < ours["seconds"]:
                ours = got
            if round_ == 0:
                src = sqlite3.connect(run_db)
                cols = [r[1] for r in src.execute("PRAGMA table_info(dose)") if r[1] != "id"]
                rows = src.execute(f"SELECT {', '.join(cols)} FROM dose").fetchall()
                src.close()
                again = run_child(run_db, history)
            run_db.unlink()
            shutil.copy(enrolled, run_db)
            base = min(base, timed_executemany(run_db, cols, rows))
            run_db.unlink()
        written = len(rows)
        rows = []  # the baseline's copy is not needed any more
        tenth = Path(tmp) / "tenth.csv"
        small_rows = head(history, tenth, 10)
        peaks = []
        for path in (tenth, history):
            shutil.copy(enrolled, run_db)
            peaks.append(run_child(run_db, path, traced=True)["peak_mib"])
            run_db.unlink()
        n = ours["imported"]
        print(f"best of {args.repeat} alternating runs per side")
        print(
            f"import: {n:,} doses ({ours['refused']} refused) in {ours['seconds']:.2f} s = "
            f"{n / ours['seconds']:,.0f} rows/s"
        )
        print(
            f"re-run: {again['imported']} imported, {again['unchanged']:,} unchanged "
            f"in {again['seconds']:.2f} s (idempotent)"
        )
        print(
            f"baseline: executemany of the same {written:,} rows in {base:.2f} s = "
            f"{written / base:,.0f} rows/s"
        )
        print(f"ratio: {(n / ours['seconds']) / (written / base):.2f} (goal >= 0.3)")
        print(
            f"memory: traced peak {peaks[0]:.1f} MiB importing {small_rows:,} rows, "
            f"{peaks[1]:.1f} MiB importing {n + ours['refused']:,} rows (Python allocations)"
        )


if __name__ == "__main__":
    main()
