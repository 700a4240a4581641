"""The daemon's engine at scale, on SQLite: first materialisation, dispatch while it runs,
a restart with nothing new, and the process's memory.

    python bench/daemon_scale.py                  # 10,000 plans
    python bench/daemon_scale.py --plans 30000
    python bench/daemon_scale.py --plans 100000   # the issue's clinic (slow: ~10 min)

Each phase runs in its own process (its memory is its own), on a migrated SQLite file, with
the daemon's ``Worker`` ticking as ``adherence run`` does (``run_once`` until idle) on a clock
that runs in real time from 09:00 America/New_York:

- **first**: a fresh database with the plans enrolled and no dose written. One plan in ten
  (New York, a daily pill at 09:00) has a reminder due the moment the daemon starts. Figures:
  seconds until the first reminder was handed to the SMS channel, until all those due at
  start were, until the materialisation was complete (doses written), and the CPU time.
- **restart**: a new process on the same file at 09:30, nothing new to write; one plan in ten
  has a reminder due at 09:30. Figures: first reminder, all due ones, idle, CPU time.
- **memory**: each phase's peak RSS (``ru_maxrss``) and its RSS once idle after a collection.

Baseline, same process as the figures it is compared with (as the other benchmarks do): for
``first``, one ``sqlite3`` ``executemany`` of the dose rows the phase wrote into a fresh copy
of the enrolled file; for ``restart``, one bare ``sqlite3`` read of every plan and patient row
(the least a pass that looks at each plan must do). Ratios are ours over the baseline.

Figures on this machine (2 shared cores, other work running; 10,000 plans):

  before (the branch point: the whole pass ahead of dispatch; load average ~5):
    first: 266,522 doses, materialised by 11.2 s, idle 50.2 s (CPU 21.7 s); 1,000 due at
      start: first sent 8.04 s, all 45.78 s
    restart: idle 34.5 s (CPU 10.9 s); first due reminder sent 7.08 s, all 34.36 s
    memory: first peak 161 MiB, settled 142; restart peak 160, settled 146
  after (slices of 200 plans between dispatches, marks; load average ~13, so wall times
  are not comparable, CPU and first-sent are the figures to read):
    first: 262,136 doses, materialised by 108.7 s, idle 163.2 s (CPU 35.4 s); first due
      reminder sent 3.57 s, all 62.19 s
    restart: idle 44.5 s (CPU 8.8 s); first due reminder sent 1.09 s, all 44.35 s
    memory: first peak 170 MiB, settled 154; restart peak 162, settled 144
  Both runs enrolled the plans 200 days before the start, so yesterday's doses were
  written and missed at once (missed-dose flags, the care step): the enrolment is now
  "this morning"; re-measure both sides with it.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import Session

from adherence.bootstrap import App
from adherence.core.config import settings_from_mapping
from adherence.daemon import Worker
from adherence.metrics import DaemonState
from adherence.patients.enrollment import create_patient, create_plan, create_team
from adherence.storage.db import make_engine, upgrade
from notifiers.sms import SendResult, SmsMessage
from schedules import load_catalog

ZONES = ["America/Chicago", "America/Los_Angeles", "Europe/London", "Europe/Madrid"]
MIX = [
    ("Tecfidera", {}, ["08:00", "20:00"]),
    ("Aubagio", {"strength": "14"}, ["10:00"]),
    ("Zeposia", {}, ["10:00"]),
    ("Copaxone", {"strength": "40"}, ["19:00"]),
    ("Rebif", {}, ["19:00"]),
    ("Kesimpta", {}, ["10:00"]),
    ("Ocrevus", {}, ["10:00"]),
    ("Mavenclad", {"weight_kg": "72"}, ["10:00"]),
]
# 09:00 America/New_York on the bench's day: the first phase starts here, the restart later.
START = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
RESTART = START + timedelta(minutes=30)


def enrol(db: Path, plans: int) -> None:
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    catalog = load_catalog()
    rnd = random.Random(7)
    now = START - timedelta(hours=1)  # enrolled this morning, before the daemon's start
    with Session(engine, expire_on_commit=False) as s:
        team = create_team(s, name="Bench clinic", tz="America/New_York", now=now)
        for i in range(plans):
            if i % 10 == 0:
                regimen, options, times, zone = "Gilenya", {}, ["09:00"], "America/New_York"
            elif i % 10 == 5:
                regimen, options, times, zone = "Gilenya", {}, ["09:30"], "America/New_York"
            else:
                regimen, options, times = MIX[i % len(MIX)]
                zone = rnd.choice(ZONES)
            p = create_patient(
                s,
                team=team,
                name=f"P{i}",
                phone=f"+1202{555 + i // 10_000}{i % 10_000:04d}",
                tz=zone,
                now=now,
                commit=False,
            )
            create_plan(
                s,
                catalog=catalog,
                patient=p,
                regimen=regimen,
                start=(START - timedelta(days=rnd.randrange(1, 120))).date(),
                now=now,
                times=times,
                options=options,
                commit=False,
            )
            if i % 2000 == 1999:
                s.commit()
        s.commit()
    engine.dispose()


class RunningClock:
    """Real time, from ``start``: the daemon sees its own work take time."""

    def __init__(self, start: datetime) -> None:
        self.start, self.t0 = start, time.perf_counter()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.perf_counter() - self.t0)

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0


class TimedSms:
    name = "memory"

    def __init__(self, clock: RunningClock) -> None:
        self.clock, self.at = clock, [0.0][:0]

    def send(self, message: SmsMessage) -> SendResult:
        self.at.append(self.clock.elapsed())
        return SendResult(provider_id=f"SIM{len(self.at):08d}", status="sent")


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def dose_count(db: Path) -> int:
    with sqlite3.connect(db) as c:
        return int(c.execute("SELECT count(*) FROM dose").fetchone()[0])


def phase(db: Path, start: datetime, due_local: str) -> dict[str, Any]:
    """The worker ticking from ``start`` until idle; what it did, when."""
    settings = settings_from_mapping({"database": {"url": f"sqlite:///{db}"}})
    engine = make_engine(settings.database.url)
    with sqlite3.connect(db) as c:
        due = int(
            c.execute(
                "SELECT count(*) FROM plan WHERE times_json = ?", (json.dumps([due_local]),)
            ).fetchone()[0]
        )
    before = dose_count(db)
    cpu = time.process_time()
    clock = RunningClock(start)
    sms = TimedSms(clock)
    worker = Worker(
        App(settings=settings, engine=engine, catalog=load_catalog()), sms, DaemonState(), clock
    )
    written = ticks = 0
    materialized_at = 0.0
    while clock.elapsed() < 3600:
        result = worker.run_once()
        ticks += 1
        if result.materialized:
            written += result.materialized
            materialized_at = clock.elapsed()
        if worker.sender.busy:
            time.sleep(0.01)
            continue
        if result.next_at is None or result.next_at > clock.now():
            break
    idle = clock.elapsed()
    worker.stop()
    cpu = time.process_time() - cpu
    gc.collect()
    all_due = sms.at[due - 1] if len(sms.at) >= due else float("nan")
    return {
        "due": due,
        "sent": len(sms.at),
        "first_sent": sms.at[0] if sms.at else float("nan"),
        "all_due_sent": all_due,
        "materialized_s": materialized_at,
        "idle_s": idle,
        "cpu_s": cpu,
        "ticks": ticks,
        "written": written,
        "doses": dose_count(db) - before,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "settled_rss": rss_mib(),
    }


def child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def baseline_insert(enrolled: Path, run_db: Path, scratch: Path) -> float:
    src = sqlite3.connect(run_db)
    cols = [r[1] for r in src.execute("PRAGMA table_info(dose)") if r[1] != "id"]
    rows = src.execute(f"SELECT {', '.join(cols)} FROM dose").fetchall()
    src.close()
    shutil.copy(enrolled, scratch)
    dst = sqlite3.connect(scratch)
    dst.execute("PRAGMA journal_mode=WAL")
    dst.execute("PRAGMA synchronous=NORMAL")
    sql = f"INSERT INTO dose ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    t = time.perf_counter()
    dst.executemany(sql, rows)
    dst.commit()
    seconds = time.perf_counter() - t
    dst.close()
    scratch.unlink()
    return seconds


def baseline_read(db: Path) -> float:
    c = sqlite3.connect(db)
    t = time.perf_counter()
    for _ in c.execute("SELECT * FROM plan JOIN patient ON patient.id = plan.patient_id"):
        pass
    seconds = time.perf_counter() - t
    c.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--plans", type=int, default=10_000)
    parser.add_argument("--phase", choices=["enrol", "first", "restart"], help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "enrol":
        enrol(args.db, args.plans)
        print(json.dumps({}))
        return
    if args.phase == "first":
        print(json.dumps(phase(args.db, START, "09:00")))
        return
    if args.phase == "restart":
        print(json.dumps(phase(args.db, RESTART, "09:30")))
        return
    with tempfile.TemporaryDirectory() as tmp:
        enrolled, run_db = Path(tmp) / "enrolled.db", Path(tmp) / "run.db"
        t = time.perf_counter()
        child(["--phase", "enrol", "--db", str(enrolled), "--plans", str(args.plans)])
        print(f"setup: {args.plans:,} plans enrolled in {time.perf_counter() - t:.1f} s")
        shutil.copy(enrolled, run_db)
        first = child(["--phase", "first", "--db", str(run_db)])
        restart = child(["--phase", "restart", "--db", str(run_db)])
        insert_s = baseline_insert(enrolled, run_db, Path(tmp) / "scratch.db")
        read_s = baseline_read(run_db)
    print(
        f"first: {first['doses']:,} doses written, materialised by {first['materialized_s']:.1f} s, "
        f"idle at {first['idle_s']:.1f} s ({first['ticks']} ticks, CPU {first['cpu_s']:.1f} s)"
    )
    print(
        f"first: {first['due']:,} reminders due at start: first sent after "
        f"{first['first_sent']:.2f} s, all sent after {first['all_due_sent']:.2f} s"
    )
    print(
        f"restart: {restart['doses']:,} doses written, idle at {restart['idle_s']:.2f} s "
        f"(CPU {restart['cpu_s']:.2f} s); {restart['due']:,} due at start: first sent after "
        f"{restart['first_sent']:.2f} s, all after {restart['all_due_sent']:.2f} s"
    )
    print(
        f"memory: first peak {first['peak_rss']:.0f} MiB, settled {first['settled_rss']:.0f} MiB; "
        f"restart peak {restart['peak_rss']:.0f} MiB, settled {restart['settled_rss']:.0f} MiB"
    )
    print(
        f"baseline: executemany of the {first['doses']:,} rows {insert_s:.2f} s "
        f"(first materialisation / baseline = {first['materialized_s'] / insert_s:.1f}); "
        f"bare read of every plan {read_s:.3f} s "
        f"(restart idle / baseline = {restart['idle_s'] / read_s:.1f})"
    )


if __name__ == "__main__":
    main()
