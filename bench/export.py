"""A full-year team report and CSV export on SQLite, against `pdcscore` on the same data.

    python bench/export.py                  # 10,000 patients x one year of twice-daily doses
    python bench/export.py --quick          # 1,000 patients
    python bench/export.py --patients 2000 --pdcscore-patients 500

Setup (not timed): a migrated SQLite file with one care team, ``--patients`` patients on
dimethyl fumarate (Tecfidera, 08:00 and 20:00, America/New_York) from 1 January, and every
dose of the year written straight in its final state (taken a few minutes after the due
time, or missed; each patient has their own adherence level) with one ``executemany``.

Timed: ``measure_team`` over the whole year (the `adherence report --team` computation),
then ``export_stream`` to CSV into a file. Peak memory of the export is measured on a second
run with ``tracemalloc`` (which slows Python down, so it is not in the timing).

Baseline, same run: ``pdcscore`` computing PDC for ``--pdcscore-patients`` of the same
patients (its row-by-row loop takes minutes for millions of doses), from a DataFrame built
beforehand from the same doses on a half-day axis (each day two slots, each taken dose one
slot: the package counts whole days; docs/measures.md). Both sides must give the same PDC
for every sampled patient; the ratio compares patients per second.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd
from pdcscore import pdcCalc
from sqlalchemy import update
from sqlmodel import Session, col, select

from adherence.care.exports import export_stream
from adherence.care.measures import measure_team
from adherence.core.config import Settings
from adherence.patients.enrollment import create_team
from adherence.storage.db import make_engine, upgrade
from adherence.storage.models import CareTeam, Patient
from adherence.storage.utc import sqlite_text
from schedules import load_catalog

ZONE = ZoneInfo("America/New_York")
SLOTS = ((8, 0), (20, 0))


def build(
    path: Path, patients: int, start: date, days: int, seed: int, keep: int
) -> dict[int, set[int]]:
    """The database; returns the taken slots of the first ``keep`` patients (for pdcscore)."""
    now = datetime.combine(start, datetime.min.time(), UTC) - timedelta(days=1)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with Session(engine) as s:
        team = create_team(s, name="Bench clinic", tz="America/New_York", now=now)
        team_id = team.id
    engine.dispose()
    rnd = random.Random(seed)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    stamp = sqlite_text(now)
    con.executemany(
        "INSERT INTO patient (id, team_id, name, phone, tz, external_id, email, discreet, language,"
        " sms_status, active, invites, caregiver_name, caregiver_phone, caregiver_email,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, 'America/New_York', ?, '', 1, 'en',"
        " 'active', 1, 0, '', '', '', ?, ?)",
        [
            (i + 1, team_id, f"P{i}", f"+1202555{i % 10000:04d}", f"MRN-{i}", stamp, stamp)
            for i in range(patients)
        ],
    )
    con.executemany(
        "INSERT INTO plan (id, patient_id, regimen, options_json, start_date, times_json, status,"
        " epoch, epoch_start, rebases_json, stop_reason, created_at, updated_at) VALUES"
        " (?, ?, 'dimethyl-fumarate', '{}', ?, '[\"08:00\", \"20:00\"]', 'active', 0, ?, '{}',"
        " '', ?, ?)",
        [
            (i + 1, i + 1, start.isoformat(), start.isoformat(), stamp, stamp)
            for i in range(patients)
        ],
    )
    # The instants of each (day, slot), the same for every patient (one zone).
    slots = []
    for day in range(days):
        d = start + timedelta(days=day)
        for hh, mm in SLOTS:
            due = datetime(d.year, d.month, d.day, hh, mm, tzinfo=ZONE)
            slots.append((d.isoformat(), f"{hh:02d}:{mm:02d}", due, day + 1))
    taken_slots: dict[int, set[int]] = {}
    sql = (
        "INSERT INTO dose (plan_id, patient_id, epoch, key, occasion, due_at, local_date,"
        " local_time, day, amount, unit, kind, phase, label, window_closes_at, status, late,"
        " taken_at, confirmed_at, confirmed_via, confirmed_by, nudges_sent, updated_at)"
        " VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?, ?, 'mg', 'dose', ?, '', ?, ?, 0, ?, ?, ?, '', 0, ?)"
    )
    batch = []
    for p in range(1, patients + 1):
        level = rnd.uniform(0.55, 1.0)  # this patient's adherence
        taken: set[int] = set()
        if p <= keep:
            taken_slots[p] = taken
        for seq, (local_date, local_time, due, day) in enumerate(slots):
            ok = seq == 0 or rnd.random() < level  # first dose taken: both index dates agree
            closes = sqlite_text(due + timedelta(hours=4))
            at = sqlite_text(due + timedelta(minutes=rnd.randrange(1, 90))) if ok else None
            if ok:
                taken.add(seq)
            batch.append(
                (p, p, f"dose:{seq}", seq // 2, sqlite_text(due), local_date, local_time, day,
                 120.0 if day <= 7 else 240.0, "titration" if day <= 7 else "maintenance",
                 closes, "taken" if ok else "missed", at, at, "sms" if ok else "", stamp)
            )  # fmt: skip
        if len(batch) >= 200_000:
            con.executemany(sql, batch)
            batch.clear()
    con.executemany(sql, batch)
    con.commit()
    con.close()
    return taken_slots


def pdcscore_frame(
    taken: dict[int, set[int]], sample: list[int], start: date, days: int
) -> pd.DataFrame:
    rows = [(p, start + timedelta(days=slot)) for p in sample for slot in sorted(taken[p])]
    end = start + timedelta(days=2 * days - 1)
    return pd.DataFrame(
        {
            "patient": [p for p, _ in rows],
            "drug": "dmf",
            "fill": pd.to_datetime([f for _, f in rows]),
            "supply": 1,
            "start": pd.Timestamp(start),
            "end": pd.Timestamp(end),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--pdcscore-patients", type=int, default=200)
    parser.add_argument("--fhir-patients", type=int, default=100)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.patients = 1_000
    args.pdcscore_patients = min(args.pdcscore_patients, args.patients)
    args.fhir_patients = min(args.fhir_patients, args.patients)
    start = date(2025, 1, 1)
    end = start + timedelta(days=args.days - 1)
    settings = Settings()
    catalog = load_catalog()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        t = time.perf_counter()
        taken = build(db, args.patients, start, args.days, args.seed, args.pdcscore_patients)
        doses = args.patients * args.days * len(SLOTS)
        print(
            f"setup: {args.patients:,} patients, {doses:,} doses ({args.days} days twice daily)"
            f" written in {time.perf_counter() - t:.1f} s; file {db.stat().st_size / 2**20:,.0f} MiB"
        )
        engine = make_engine(f"sqlite:///{db}")
        with Session(engine, expire_on_commit=False) as s:
            team = s.exec(select(CareTeam)).one()
            t = time.perf_counter()
            tm = measure_team(s, team, start=start, end=end, catalog=catalog, settings=settings)
            summary = tm.to_json(patients=False)
            report = time.perf_counter() - t
        print(
            f"report: measures for {len(tm.patients):,} patients over {args.days} days in"
            f" {report:.2f} s = {len(tm.patients) / report:,.0f} patients/s,"
            f" {doses / report:,.0f} doses/s (goal: full year, 10,000 patients < 30 s)"
        )
        print(
            f"        median PDC {summary['pdc_median']}, adherent {summary['patients_adherent']:,}"
            f" of {summary['patients_in_pdc']:,}"
        )
        out = Path(tmp) / "export.csv"
        with Session(engine, expire_on_commit=False) as s:
            team = s.exec(select(CareTeam)).one()
            t = time.perf_counter()
            with out.open("wb") as f:
                for chunk in export_stream(
                    s, team=team, start=start, end=end, fmt="csv", catalog=catalog,
                    settings=settings,
                ):  # fmt: skip
                    f.write(chunk)
            csv_time = time.perf_counter() - t
        size = out.stat().st_size
        print(
            f"csv export: {doses:,} dose rows + {args.patients:,} summaries, {size / 2**20:,.0f} MiB"
            f" in {csv_time:.2f} s = {doses / csv_time:,.0f} rows/s"
        )
        os.unlink(out)
        # Peak memory on a second run: tracemalloc slows Python, so it is not in the timing.
        with Session(engine, expire_on_commit=False) as s:
            team = s.exec(select(CareTeam)).one()
            tracemalloc.start()
            written = 0
            for chunk in export_stream(
                s, team=team, start=start, end=end, fmt="csv", catalog=catalog, settings=settings
            ):
                written += len(chunk)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            # FHIR, with and without validating every resource (--validate), on a sample.
            fhir_team = create_team(
                s, name="FHIR sample", tz="America/New_York", now=datetime.now(UTC)
            )
            s.execute(
                update(Patient)
                .where(col(Patient.id) <= args.fhir_patients)
                .values(team_id=fhir_team.id)
            )
            s.commit()
            fhir = {}
            for validate in (False, True):
                t = time.perf_counter()
                size = sum(
                    len(c)
                    for c in export_stream(
                        s, team=fhir_team, start=start, end=end, fmt="fhir", catalog=catalog,
                        settings=settings, validate=validate,
                    )
                )  # fmt: skip
                fhir[validate] = time.perf_counter() - t
            resources = args.fhir_patients * (2 + args.days * len(SLOTS))
            print(
                f"fhir export: {args.fhir_patients:,} patients, ~{resources:,} resources,"
                f" {size / 2**20:,.0f} MiB: {fhir[False]:.2f} s = {resources / fhir[False]:,.0f}"
                f" resources/s; with --validate {fhir[True]:.2f} s ="
                f" {resources / fhir[True]:,.0f} resources/s ({fhir[True] / fhir[False]:.1f}x)"
            )
        engine.dispose()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"memory: export peak {peak / 2**20:.1f} MiB traced for {written / 2**20:,.0f} MiB"
            f" written; process max RSS {rss:,.0f} MiB (the report keeps every patient's"
            " measures; SQLite's page cache)"
        )

        sample = list(range(1, args.pdcscore_patients + 1))
        frame = pdcscore_frame(taken, sample, start, args.days)
        t = time.perf_counter()
        result = pdcCalc(
            frame, "patient", "drug", "fill", "supply", "start", "end", True
        ).calculate_pdc_scores()
        base = time.perf_counter() - t
        theirs = dict(zip(result["patient"], result["pdc_score"], strict=True))
        ours = {p.patient_id: p.pdc for p in tm.patients}
        worst = max(abs(float(theirs[p]) - (ours[p] or 0.0)) for p in sample)
        rate_ours, rate_base = len(tm.patients) / report, len(sample) / base
        print(
            f"baseline: pdcscore PDC for {len(sample):,} patients ({len(frame):,} fills) in"
            f" {base:.2f} s = {rate_base:,.1f} patients/s"
        )
        print(
            f"same numbers: largest PDC difference {worst:.2e} over {len(sample):,} patients"
            f" ({'OK' if worst < 1e-9 else 'MISMATCH'})"
        )
        print(f"ratio: {rate_ours / rate_base:,.1f}x pdcscore's patients/s (ours reads SQLite too)")
        if worst >= 1e-9:
            sys.exit(1)


if __name__ == "__main__":
    main()
