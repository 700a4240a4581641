"""Today's call list for a team of 10,000 patients on SQLite, against a bare flag query.

    python bench/calllist.py               # 10,000 patients (and a second team of 2,000)
    python bench/calllist.py --quick       # 1,000 patients
    python bench/calllist.py --patients 20000 --repeat 9

Setup (not timed): a migrated SQLite file with two care teams, every patient on a daily
pill, written with bulk inserts: a few percent of the patients with open flags of every
rule (missed doses with their counts, low PDC, silence, an infusion or a refill overdue,
urgent ones), older resolved flags, plans whose supply is running out, call results from
the last week (some still waiting to come back), and twenty inbound texts per patient.

Timed, each the median of ``--repeat`` runs: ``call_list`` plus rendering ``today.html``
(what ``GET /workspace/`` does), counting the SQL statements with a ``before_cursor_execute``
event; the whole ``GET /workspace/`` through the app (session check, audit row, HTTP); and,
as the baseline, a bare SELECT of the team's open flags joined to their patients, all rows
fetched. The ratio is call list over baseline. The goal in the issue: under 300 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, insert, text
from sqlmodel import Session

from adherence.bootstrap import App
from adherence.care.calls import OUTCOME_WORDS, call_list
from adherence.care.coordinators import add_coordinator
from adherence.core.config import settings_from_mapping
from adherence.patients.enrollment import create_team
from adherence.storage.db import make_engine, upgrade
from adherence.storage.models import CareTeam, Coordinator, Flag, InboundMessage, Patient, Plan
from adherence.storage.workspace import CallOutcome, CallResult
from adherence.web import create_app
from adherence.web.workspace.auth import Viewer
from adherence.web.workspace.render import render
from adherence.web.workspace.today import TIER_WORDS
from schedules import load_catalog

NOW = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
# rule -> (share of patients with it open, severity)
OPEN_FLAGS = {
    "missed_doses": (0.015, "normal"),
    "low_pdc": (0.012, "normal"),
    "silence": (0.006, "normal"),
    "infusion_overdue": (0.003, "normal"),
    "refill_overdue": (0.003, "normal"),
    "titration_restart": (0.002, "normal"),
    "flare_reported": (0.002, "urgent"),
    "opted_out": (0.002, "normal"),
    "undeliverable": (0.002, "normal"),
}
RUNNING_OUT = 0.015
CALLED = 0.03
RESOLVED = 0.05
TEXTS = 20


def details(rule: str, rnd: random.Random) -> dict[str, Any]:
    if rule == "missed_doses":
        return {"missed_in_a_row": rnd.randint(2, 9), "threshold": 2}
    if rule == "low_pdc":
        return {"pdc": round(rnd.uniform(0.3, 0.79), 4), "threshold": 0.8}
    if rule == "silence":
        return {"unanswered_texts": rnd.randint(6, 20), "days": rnd.randint(7, 14)}
    if rule == "infusion_overdue":
        return {"days_late": rnd.randint(1, 20)}
    return {}


def build(path: Path, patients: int, others: int, seed: int) -> tuple[int, str]:
    """The database; returns the big team's id and its coordinator's token."""
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with Session(engine) as s:
        big = create_team(s, name="Bench clinic", tz="America/New_York", now=NOW)
        other = create_team(s, name="Other clinic", tz="America/Chicago", now=NOW)
        _, token = add_coordinator(s, team=big, name="Bench", email="b@clinic.org", now=NOW)
        teams = [(big.id, patients), (other.id, others)]
    rnd = random.Random(seed)
    stamp = NOW - timedelta(days=90)
    people, plans, flags, calls, texts = [], [], [], [], []
    pid = 0
    for team_id, count in teams:
        for _ in range(count):
            pid += 1
            people.append(
                {"id": pid, "team_id": team_id, "name": f"Patient {pid}",
                 "phone": f"+1202555{pid % 10000:04d}", "tz": "America/New_York",
                 "external_id": f"MRN-{pid}", "email": "", "discreet": True, "language": "en",
                 "sms_status": "active", "active": True, "invites": False,
                 "caregiver_name": "", "caregiver_phone": "", "caregiver_email": "",
                 "created_at": stamp, "updated_at": stamp}
            )  # fmt: skip
            low = rnd.random() < RUNNING_OUT
            plans.append(
                {"id": pid, "patient_id": pid, "regimen": "teriflunomide", "options_json": "{}",
                 "start_date": stamp.date(), "times_json": '["09:00"]', "status": "active",
                 "epoch": 0, "epoch_start": stamp.date(), "rebases_json": "{}",
                 "stop_reason": "", "created_at": stamp, "updated_at": stamp,
                 "supply_checked_on": NOW.date(),
                 "refill_remind_at": NOW - timedelta(hours=rnd.randint(1, 48)) if low
                 else NOW + timedelta(days=rnd.randint(1, 25)),
                 "refill_overdue_at": NOW + timedelta(days=rnd.randint(1, 5)) if low
                 else NOW + timedelta(days=rnd.randint(26, 30))}
            )  # fmt: skip
            for rule, (share, severity) in OPEN_FLAGS.items():
                if rnd.random() < share:
                    first = NOW - timedelta(hours=rnd.randint(1, 24 * 20))
                    flags.append(
                        {"open_key": f"plan:{pid}:{rule}", "team_id": team_id, "patient_id": pid,
                         "plan_id": pid, "rule": rule, "severity": severity,
                         "status": "acknowledged" if rnd.random() < 0.2 else "open",
                         "occurrences": 1, "first_at": first,
                         "last_at": first + timedelta(hours=rnd.randint(0, 12)),
                         "details_json": json.dumps(details(rule, rnd)),
                         "acknowledged_by": "", "resolved_by": "", "note": ""}
                    )  # fmt: skip
            if rnd.random() < RESOLVED:
                old = NOW - timedelta(days=rnd.randint(30, 80))
                flags.append(
                    {"open_key": None, "team_id": team_id, "patient_id": pid, "plan_id": pid,
                     "rule": "missed_doses", "severity": "normal", "status": "resolved",
                     "occurrences": 1, "first_at": old, "last_at": old, "details_json": "{}",
                     "acknowledged_by": "", "resolved_by": "Bench", "resolved_at": old,
                     "note": "done"}
                )  # fmt: skip
            if rnd.random() < CALLED:
                at = NOW - timedelta(hours=rnd.randint(1, 24 * 7))
                outcome = rnd.choice(list(CallOutcome))
                back = {"no_answer": 1, "voicemail": 1, "call_back": 2}.get(outcome)
                calls.append(
                    {"team_id": team_id, "patient_id": pid, "coordinator_id": None,
                     "by": "Bench (coordinator:1)", "outcome": outcome,
                     "note": "moved" if outcome == "removed" else "", "at": at,
                     "requeue_at": at + timedelta(days=back) if back else None}
                )  # fmt: skip
            for n in range(TEXTS):
                texts.append(
                    {"provider_sid": f"SM{pid}x{n}", "patient_id": pid,
                     "from_number": people[-1]["phone"], "body": "taken",
                     "intent": rnd.choice(("taken", "taken", "taken", "skip", "unknown")),
                     "dose_id": None, "received_at": NOW - timedelta(hours=12 * n + 1)}
                )  # fmt: skip
    with engine.begin() as conn:
        for model, rows in ((Patient, people), (Plan, plans), (Flag, flags),
                            (CallResult, calls), (InboundMessage, texts)):  # fmt: skip
            conn.execute(insert(model.__table__), rows)  # type: ignore[union-attr]
    engine.dispose()
    assert big.id is not None
    return big.id, token


def median_ms(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = run()
        times.append(1000 * (time.perf_counter() - t))
    return statistics.median(times), out


def statements(engine: Engine, run: Callable[[], Any]) -> int:
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--others", type=int, default=2_000, help="patients of a second team")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.patients, args.others, args.repeat = 1_000, 200, 3
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "calls.db"
        t = time.perf_counter()
        team_id, token = build(path, args.patients, args.others, args.seed)
        print(
            f"setup: {args.patients:,} patients (+{args.others:,} in another team), "
            f"{TEXTS} texts each, in {time.perf_counter() - t:.1f} s"
        )
        settings = settings_from_mapping({"database": {"url": f"sqlite:///{path}"}})
        engine = make_engine(settings.database.url)
        with Session(engine, expire_on_commit=False) as s:
            team = s.get(CareTeam, team_id)
            coordinator = s.get(Coordinator, 1)
        assert team is not None and coordinator is not None
        viewer = Viewer(coordinator=coordinator, team=team, csrf="0" * 64)

        def build_and_render() -> tuple[int, int]:
            with Session(engine, expire_on_commit=False) as s:
                calls = call_list(s, team_id=team_id, now=NOW, settings=settings)
            html = render(
                "today.html", viewer=viewer, csrf=viewer.csrf, nav="today", title="Today",
                notice="", rows=calls.rows, waiting=calls.waiting,
                called_today=calls.called_today, outcomes=list(OUTCOME_WORDS.items()), outcome_words=OUTCOME_WORDS,
                tier_words=TIER_WORDS, tz=team.tz,
            )  # fmt: skip
            return len(calls.rows), len(html)

        def baseline() -> int:
            with Session(engine) as s:
                return len(
                    s.connection()
                    .execute(
                        text(
                            "SELECT flag.*, patient.name, patient.phone FROM flag"
                            " JOIN patient ON patient.id = flag.patient_id"
                            " WHERE flag.team_id = :t AND flag.status IN ('open', 'acknowledged')"
                        ),
                        {"t": team_id},
                    )
                    .all()
                )

        def build_only() -> int:
            with Session(engine, expire_on_commit=False) as s:
                return len(call_list(s, team_id=team_id, now=NOW, settings=settings).rows)

        build_and_render()  # warm: templates compiled, pages cached
        queries = statements(engine, build_and_render)
        took, (rows, size) = median_ms(build_and_render, args.repeat)
        built, _ = median_ms(build_only, args.repeat)
        base, flagged = median_ms(baseline, args.repeat)

        app = App(settings=settings, engine=engine, catalog=load_catalog())
        with TestClient(create_app(app, clock=lambda: NOW)) as client:
            form = client.get("/workspace/signin").text
            csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form)
            assert csrf is not None
            client.post("/workspace/signin", data={"token": token, "csrf": csrf.group(1)})
            assert client.get("/workspace/").status_code == 200
            served, _ = median_ms(lambda: client.get("/workspace/"), args.repeat)
        print(
            f"call list: {rows:,} patients to call of {args.patients:,} ({flagged:,} open flags), "
            f"{size / 1024:,.0f} KiB of HTML"
        )
        print(
            f"build + render: {took:.1f} ms (median of {args.repeat}; the list alone "
            f"{built:.1f} ms), {queries} SQL statements"
        )
        print(f"GET /workspace/ through the app (sign-in check, audit row): {served:.1f} ms")
        print(f"baseline: bare SELECT of the team's open flags joined to patients: {base:.1f} ms")
        print(f"ratio: {took / base:.1f}x the baseline")
        verdict = "met" if served < 300 else "NOT met"
        print(f"goal: under 300 ms for {args.patients:,} patients: {verdict}")


if __name__ == "__main__":
    main()
