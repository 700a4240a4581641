"""The enrollment CLI contract, run as the installed `adherence` console script.

Every command gets ``--config`` pointing at a config file whose ``[database] url`` is the
``db_url`` fixture, so the same tests run on a SQLite file and on PostgreSQL. A process
costs about a second, so each test runs a whole story, and commands that cannot affect
each other (refusals, reads) run side by side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, MetaData, text
from sqlmodel import Session, select

from adherence.dosing.materialize import materialize
from adherence.patients.enrollment import create_patient, create_plan, create_team
from adherence.storage.db import make_engine
from adherence.storage.models import CareTeam, Patient, Plan
from schedules import Catalog

ADHERENCE = Path(sys.executable).parent / "adherence"
ROOT = Path(__file__).resolve().parents[3]
EXAMPLE_ROSTER = ROOT / "examples" / "roster.csv"
NY = "America/New_York"
Args = Sequence[str]


def local_today(tz: str) -> date:
    return datetime.now(ZoneInfo(tz)).date()


def local_at(day: date, hhmm: str, tz: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), tzinfo=ZoneInfo(tz))


@dataclass
class Cli:
    """Runs `adherence` in an empty working directory with a clean ADHERENCE_* environment."""

    cwd: Path
    config: Path
    db_url: str
    env: dict[str, str] = field(default_factory=dict)

    def _command(self, args: Args, with_config: bool) -> list[str]:
        # A command that names its own --config keeps it.
        own = not with_config or "--config" in args
        return [str(ADHERENCE), *args, *([] if own else ["--config", str(self.config)])]

    def _env(self, extra: dict[str, str] | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ADHERENCE_")}
        return env | self.env | (extra or {})

    def run(
        self,
        *args: str,
        with_config: bool = True,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self._command(args, with_config),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=cwd or self.cwd,
            env=self._env(env),
        )

    def run_all(
        self, *commands: Args, with_config: bool = True, envs: Sequence[dict[str, str]] = ()
    ) -> list[subprocess.CompletedProcess[str]]:
        """Commands that cannot affect each other, run at the same time."""
        procs = [
            (
                cmd,
                subprocess.Popen(
                    self._command(cmd, with_config),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    cwd=self.cwd,
                    env=self._env(envs[i] if i < len(envs) else None),
                ),
            )
            for i, cmd in enumerate(commands)
        ]
        done = []
        for cmd, proc in procs:
            out, err = proc.communicate(timeout=120)
            done.append(subprocess.CompletedProcess(cmd, proc.returncode, out, err))
        return done

    def ok(self, *args: str, **kw: Any) -> str:
        done = self.run(*args, **kw)
        assert done.returncode == 0, f"{args}: {done.stderr}"
        return done.stdout

    def json(self, *args: str, **kw: Any) -> Any:
        return json.loads(self.ok(*args, **kw))

    def json_all(self, *commands: Args) -> list[Any]:
        results = []
        for done in self.run_all(*commands):
            assert done.returncode == 0, f"{done.args}: {done.stderr}"
            results.append(json.loads(done.stdout))
        return results

    def refused(self, *args: str, **kw: Any) -> str:
        return one_error_line(self.run(*args, **kw))


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """A refusal: non-zero exit, nothing on stdout, exactly one `error: ...` line."""
    assert done.returncode != 0, f"{done.args} succeeded: {done.stdout}"
    assert done.stdout == "", f"{done.args}: {done.stdout}"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, f"{done.args}: {done.stderr}"
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def write_config(path: Path, db_url: str, extra: str = "") -> Path:
    path.write_text(f"[database]\nurl = {json.dumps(db_url)}\n{extra}", "utf-8")
    return path


@pytest.fixture
def cli(tmp_path: Path, db_url: str) -> Cli:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    return Cli(cwd=cwd, config=write_config(tmp_path / "cli.toml", db_url), db_url=db_url)


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (reflected, so new tables are covered too)."""
    meta = MetaData()
    with engine.connect() as conn:
        meta.reflect(conn)
        return {
            name: sorted((tuple(row) for row in conn.execute(table.select())), key=repr)
            for name, table in sorted(meta.tables.items())
        }


def counts(snap: dict[str, list[tuple[Any, ...]]]) -> dict[str, int]:
    return {name: len(rows) for name, rows in snap.items() if rows}


@dataclass
class Seed:
    team: CareTeam
    patient: Patient
    plan: Plan


def seed(engine: Engine, catalog: Catalog, *, times: list[str] | None = None) -> Seed:
    """A team, a patient (external id MS-7) on teriflunomide, and its doses, in-process."""
    now = datetime.now(UTC)
    with Session(engine, expire_on_commit=False) as s:
        team = create_team(s, name="North Clinic", tz=NY, now=now)
        patient = create_patient(
            s,
            team=team,
            name="Ann Example",
            phone="+12025550143",
            tz=NY,
            now=now,
            external_id="MS-7",
        )
        plan = create_plan(
            s,
            catalog=catalog,
            patient=patient,
            regimen="teriflunomide",
            start=local_today(NY),
            now=now,
            times=times or ["09:00"],
        )
        assert plan.id is not None
        materialize(s, now=now, catalog=catalog, horizon_days=35, plan_ids=[plan.id])
        return Seed(team, patient, plan)


def check_dose_shape(dose: dict[str, Any], tz: str) -> datetime:
    assert isinstance(dose["id"], int)
    at = datetime.fromisoformat(dose["at"])
    assert at.utcoffset() is not None, dose["at"]
    assert at.utcoffset() == at.astimezone(ZoneInfo(tz)).utcoffset()  # shown in the patient's zone
    assert isinstance(dose["amount"], int | float) and dose["amount"] > 0
    assert dose["unit"] == "mg"
    assert dose["kind"] == "dose"
    assert dose["status"] == "scheduled"
    return at


# --- enrolment from start to finish ------------------------------------------------------------


def test_team_patient_plan_doses_round_trip(cli: Cli) -> None:
    team = cli.json("team", "add", "North Clinic", "--tz", NY, "--json")
    assert isinstance(team["id"], int)
    assert (team["name"], team["tz"]) == ("North Clinic", NY)

    # --team by name; without --json the command prints the id and nothing else.
    ann_id = int(
        cli.ok(
            "patient", "add", "--team", "North Clinic", "--name", "Ann Example",
            "--phone", "+12025550143", "--tz", NY, "--external-id", "MS-1",
            "--quiet-hours", "22:00-07:00",
        ).strip()
    )  # fmt: skip
    # --team by id.
    bo = cli.json(
        "patient", "add", "--team", str(team["id"]), "--name", "Bo Tester",
        "--phone", "+13125550178", "--tz", "America/Chicago", "--no-discreet", "--json",
    )  # fmt: skip
    assert bo["team_id"] == team["id"] and bo["id"] != ann_id
    assert (bo["discreet"], bo["external_id"], bo["quiet_hours"]) == (False, None, None)

    start = local_today(NY) + timedelta(days=1)  # every dose is still ahead
    plan = cli.json(
        "plan", "add", "MS-1", "Tecfidera", "--start", start.isoformat(),
        "--time", "20:00", "--time", "08:00", "--json",
    )  # fmt: skip
    assert isinstance(plan["id"], int)
    assert plan["patient_id"] == ann_id
    assert plan["regimen"] == "dimethyl-fumarate"  # the brand resolved to the catalog code
    assert (plan["start"], plan["times"], plan["status"]) == (
        start.isoformat(),
        ["08:00", "20:00"],
        "active",
    )
    bo_plan = int(
        cli.ok(
            "plan", "add", str(bo["id"]), "Copaxone", "--start", start.isoformat(),
            "--option", "strength=40", "--option", "weekdays=mon,wed,fri",
        ).strip()
    )  # fmt: skip

    day2 = (start + timedelta(days=1)).isoformat()
    shown, plan_shown, doses, bo_doses = cli.json_all(
        ("patient", "show", "MS-1", "--json"),
        ("plan", "show", str(plan["id"]), "--json"),
        ("doses", "MS-1", "--from", start.isoformat(), "--to", day2, "--json"),
        ("doses", str(bo["id"]), "--json"),
    )
    assert (shown["id"], shown["team_id"], shown["name"]) == (ann_id, team["id"], "Ann Example")
    assert (shown["external_id"], shown["phone"], shown["tz"]) == ("MS-1", "+12025550143", NY)
    assert (shown["quiet_hours"], shown["discreet"], shown["active"]) == ("22:00-07:00", True, True)
    assert shown["plans"] == [plan]
    assert plan_shown == plan

    # Tecfidera starts at 120 mg twice a day, at the chosen local times, with the offset.
    assert [check_dose_shape(d, NY) for d in doses] == [
        local_at(day, hhmm, NY) for day in (start, start + timedelta(days=1))
        for hhmm in ("08:00", "20:00")
    ]  # fmt: skip
    assert {(d["amount"], d["plan_id"]) for d in doses} == {(120, plan["id"])}
    chicago = ZoneInfo("America/Chicago")
    assert bo_doses and {d["amount"] for d in bo_doses} == {40}
    for d in bo_doses:
        at = check_dose_shape(d, "America/Chicago").astimezone(chicago)
        assert at.weekday() in (0, 2, 4) and at.strftime("%H:%M") == "09:00"
        assert d["plan_id"] == bo_plan

    # Pausing cancels the future doses; resuming revives the same rows (no duplicates).
    assert cli.ok("plan", "pause", str(plan["id"])).strip() == f"plan {plan['id']} paused"
    assert cli.json("doses", "MS-1", "--json") == []
    assert cli.ok("plan", "resume", str(plan["id"])).strip() == f"plan {plan['id']} active"

    # A new zone keeps each dose's wall-clock time.
    moved = cli.json(
        "patient", "update", "MS-1", "--tz", "Europe/Paris", "--phone", "+33612345678",
        "--name", "Ann Moved", "--json",
    )  # fmt: skip
    assert (moved["tz"], moved["phone"], moved["name"]) == (
        "Europe/Paris",
        "+33612345678",
        "Ann Moved",
    )
    in_paris = cli.json("doses", "MS-1", "--from", start.isoformat(), "--to", day2, "--json")
    assert [d["id"] for d in in_paris] == [d["id"] for d in doses]
    expected = [
        local_at(day, hhmm, "Europe/Paris")
        for day in (start, start + timedelta(days=1))
        for hhmm in ("08:00", "20:00")
    ]
    assert [d["at"] for d in in_paris] == [e.isoformat() for e in expected]

    # Stopping is for good; removing a patient stops their plans and keeps the records.
    stopped = cli.ok("plan", "stop", str(bo_plan), "--reason", "switched therapy").strip()
    assert stopped == f"plan {bo_plan} stopped"
    removed = cli.ok("patient", "remove", "MS-1").strip()
    assert removed == f"patient {ann_id} removed (records kept)"
    results = cli.run_all(
        ("patient", "list", "--json"),
        ("patient", "list", "--all", "--json"),
        ("plan", "list", "--json"),
        ("doses", "MS-1", "--json"),
        ("plan", "resume", str(bo_plan)),
        ("plan", "add", "MS-1", "Aubagio", "--start", start.isoformat()),
    )
    active, everyone, all_plans, ann_doses = (json.loads(r.stdout) for r in results[:4])
    assert [p["id"] for p in active] == [bo["id"]]
    assert {p["id"]: p["active"] for p in everyone} == {ann_id: False, bo["id"]: True}
    assert {p["id"]: (p["status"], p["stop_reason"]) for p in all_plans} == {
        plan["id"]: ("stopped", "patient removed"),
        bo_plan: ("stopped", "switched therapy"),
    }
    assert ann_doses == []  # every future dose cancelled
    assert "is stopped, not paused" in one_error_line(results[4])
    assert "was removed" in one_error_line(results[5])


# --- confirmations and corrections ---------------------------------------------------------------


def test_confirm_a_dose_then_correct_it(cli: Cli, engine: Engine, catalog: Catalog) -> None:
    # A dose due in a few minutes: the newest open dose, so `confirm` finds it unasked.
    soon = datetime.now(ZoneInfo(NY)) + timedelta(minutes=3)
    s = seed(engine, catalog, times=[soon.strftime("%H:%M")])
    first = cli.ok("confirm", "MS-7", "--taken").strip()
    dose_id = int(first.split(":")[0].removeprefix("dose "))
    assert first == f"dose {dose_id}: scheduled -> taken"

    # The clinic corrects it: skipped after all, then taken at a stated time (any offset).
    fixed = cli.ok("confirm", "MS-7", "--skipped", "--dose", str(dose_id), "--reason", "called")
    assert fixed.strip() == f"dose {dose_id}: taken -> skipped"
    when = (datetime.now(UTC) - timedelta(minutes=20)).replace(microsecond=0)
    at = when.astimezone(ZoneInfo("Asia/Tokyo")).isoformat()
    again = cli.ok("confirm", str(s.patient.id), "--taken", "--dose", str(dose_id), "--at", at)
    assert again.strip() == f"dose {dose_id}: skipped -> taken"

    before = snapshot(engine)
    results = cli.run_all(
        ("doses", "MS-7", "--json"),
        ("confirm", "MS-7", "--taken", "--skipped"),
        ("confirm", "MS-7", "--taken", "--dose", str(dose_id), "--at", "2026-03-08T08:15"),
        ("confirm", "MS-7", "--taken", "--dose", "999999"),
        ("confirm", "MS-7", "--taken", "--dose", str(dose_id),
         "--at", (datetime.now(UTC) + timedelta(hours=2)).isoformat()),
    )  # fmt: skip
    assert snapshot(engine) == before
    doses = {d["id"]: d for d in json.loads(results[0].stdout)}
    assert doses[dose_id]["status"] == "taken"
    assert datetime.fromisoformat(doses[dose_id]["taken_at"]) == when
    assert doses[dose_id]["taken_at"] == when.astimezone(ZoneInfo(NY)).isoformat()
    assert doses[dose_id]["confirmed_via"] == "clinic"
    assert "exactly one of --taken or --skipped" in one_error_line(results[1])
    assert "--at" in one_error_line(results[2]) and "UTC offset" in results[2].stderr
    assert "no dose 999999" in one_error_line(results[3])
    assert "in the future" in one_error_line(results[4])

    # Each entry by a person left a trail: what it was, what it became, and why.
    with engine.connect() as conn:
        trail = conn.execute(
            text(
                "SELECT old_status, new_status, reason FROM dose_change "
                "WHERE dose_id = :d ORDER BY id"
            ),
            {"d": dose_id},
        ).all()
    assert [tuple(r) for r in trail] == [
        ("scheduled", "taken", ""),
        ("taken", "skipped", "called"),
        ("skipped", "taken", ""),
    ]


# --- bad input ---------------------------------------------------------------------------------


def test_bad_input_is_one_line_naming_the_field_and_stores_nothing(
    cli: Cli, engine: Engine, catalog: Catalog, tmp_path: Path
) -> None:
    seed(engine, catalog)
    before = snapshot(engine)
    assert counts(before)["patient"] == 1 and counts(before)["dose"] > 0
    wrong_key = write_config(tmp_path / "wrong-key.toml", cli.db_url, "[engine]\nhorizon = 3\n")
    wrong_type = write_config(
        tmp_path / "wrong-type.toml", cli.db_url, '[engine]\nhorizon_days = "ten"\n'
    )
    today = local_today(NY).isoformat()
    team = ("--team", "North Clinic", "--name", "New Person")
    cases: list[tuple[Args, tuple[str, ...]]] = [
        (("patient", "add", *team, "--phone", "+1202555", "--tz", NY), ("phone", "'+1202555'")),
        (
            ("patient", "add", *team, "--phone", "+13125550178", "--tz", "America/New_Yrok"),
            ("tz", "unknown time zone 'America/New_Yrok'"),
        ),
        (
            (
                "patient",
                "add",
                *team,
                "--phone",
                "+13125550178",
                "--tz",
                NY,
                "--external-id",
                "MS-7",
            ),
            ("external id 'MS-7' is already enrolled",),
        ),
        (("patient", "update", "MS-7", "--name", "Renamed", "--phone", "+1"), ("phone '+1'",)),
        (("plan", "add", "MS-7", "Tecfiderra", "--start", today), ("did you mean", "Tecfidera")),
        (
            ("plan", "add", "MS-7", "Copaxone", "--start", today, "--option", "strength=30"),
            ("strength='30' is not valid", "valid values: 20, 40"),
        ),
        (("plan", "add", "MS-7", "Aubagio", "--start", "2026-02-30"), ("--start '2026-02-30'",)),
        (
            ("plan", "add", "MS-7", "Tecfidera", "--start", today, "--time", "08:00"),
            ("--time", "2 time(s) a day; got 1"),
        ),
        (("team", "list", "--config", str(wrong_key)), (str(wrong_key), "[engine] horizon")),
        (
            ("team", "list", "--config", str(wrong_type)),
            (str(wrong_type), "[engine] horizon_days", "expected an integer"),
        ),
        (("team", "list"), ("ADHERENCE_ENGINE__NUDGES", "expected an integer")),
    ]
    envs: list[dict[str, str]] = [{} for _ in cases[:-1]]
    envs.append({"ADHERENCE_ENGINE__NUDGES": "lots"})
    results = cli.run_all(*(args for args, _ in cases), envs=envs)
    after = snapshot(engine)
    for (args, expected), done in zip(cases, results, strict=True):
        line = one_error_line(done)
        for part in expected:
            assert part in line, f"{args}: {line!r} lacks {part!r}"
    assert counts(after) == counts(before)
    assert after == before  # nothing lost, nothing half-written


# --- the database schema -------------------------------------------------------------------------


def empty_database(db_url: str) -> None:
    if db_url.startswith("sqlite"):
        path = Path(db_url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def test_an_unmigrated_database_says_to_run_db_upgrade(cli: Cli) -> None:
    empty_database(cli.db_url)
    nowhere = {"ADHERENCE_DATABASE__URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    listing, check, unreachable = cli.run_all(
        ("team", "list"), ("db", "check"), ("db", "check"), envs=[{}, {}, nowhere]
    )
    assert "`adherence db upgrade`" in one_error_line(listing)
    assert "`adherence db upgrade`" in one_error_line(check)
    # A server that does not answer is one line too, not a traceback.
    assert one_error_line(unreachable).startswith("error: database: OperationalError")

    upgraded = cli.ok("db", "upgrade").strip()
    assert upgraded.startswith("database at revision ")
    revision = upgraded.removeprefix("database at revision ")
    checked = cli.run("db", "check")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip() == f"database at revision {revision} (current)"


# --- where the configuration comes from ----------------------------------------------------------


def test_config_resolution_and_database_url_override(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    with Session(engine) as s:
        create_team(s, name="Resolved Clinic", tz=NY, now=datetime.now(UTC))
    # The database under test is behind `real`; `other` points at an empty SQLite file.
    real = cli.config
    other = write_config(tmp_path / "other.toml", f"sqlite:///{tmp_path / 'other.db'}")
    write_config(cli.cwd / "adherence.toml", cli.db_url)  # ./adherence.toml
    listing = ("team", "list", "--json")
    results = cli.run_all(
        listing,  # 0: ./adherence.toml alone
        listing,  # 1: $ADHERENCE_CONFIG beats ./adherence.toml
        (*listing, "--config", str(real)),  # 2: --config beats $ADHERENCE_CONFIG
        (*listing, "--config", str(other)),  # 3: $ADHERENCE_DATABASE__URL beats the file
        (*listing, "--config", str(real)),  # 4: ... in both directions
        listing,  # 5: $ADHERENCE_CONFIG naming a missing file
        with_config=False,
        envs=[
            {},
            {"ADHERENCE_CONFIG": str(other)},
            {"ADHERENCE_CONFIG": str(other)},
            {"ADHERENCE_DATABASE__URL": cli.db_url},
            {"ADHERENCE_DATABASE__URL": f"sqlite:///{tmp_path / 'other.db'}"},
            {"ADHERENCE_CONFIG": str(tmp_path / "missing.toml")},
        ],
    )
    for i in (0, 2, 3):
        assert results[i].returncode == 0, (i, results[i].stderr)
        assert [t["name"] for t in json.loads(results[i].stdout)] == ["Resolved Clinic"]
    for i in (1, 4):
        assert "`adherence db upgrade`" in one_error_line(results[i]), i
    assert "$ADHERENCE_CONFIG" in one_error_line(results[5])
    assert "missing.toml" in results[5].stderr


# --- CSV roster import ---------------------------------------------------------------------------

MALFORMED = """\
external_id,team,name,phone,tz,regimen,start,times,options
MS-2001,Demo MS Clinic,Good One,+12025550143,America/New_York,Aubagio,2026-03-02,09:00,

MS-2002,Demo MS Clinic,Bad Phone,+1202555,America/New_York,Aubagio,2026-03-02,09:00,
MS-2003,Demo MS Clinic,Bad Drug,+13125550178,America/Chicago,Tecfiderra,2026-03-02,,
MS-2004,Demo MS Clinic,Good Two,+16175550112,America/New_York,Copaxone,2026-03-04,19:00,strength=40
"""


def test_import_roster_dry_run_rerun_and_rejected_rows(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    with Session(engine) as s:
        create_team(s, name="Demo MS Clinic", tz=NY, now=datetime.now(UTC))
    empty = snapshot(engine)
    roster = str(EXAMPLE_ROSTER)
    rows = len(EXAMPLE_ROSTER.read_text("utf-8").strip().splitlines()) - 1

    dry = cli.run("import", roster, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"{rows} patient(s) and {rows} plan(s) would be created" in dry.stdout
    assert "dry run" in dry.stdout
    assert snapshot(engine) == empty  # a dry run writes nothing

    done = cli.run("import", roster)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip().splitlines()) == 1
    assert f"{rows} patient(s) and {rows} plan(s) created" in done.stdout
    imported = snapshot(engine)
    assert counts(imported)["patient"] == rows and counts(imported)["plan"] == rows
    assert counts(imported)["dose"] > 0  # the doses are materialised at once

    bad_header = tmp_path / "bad-header.csv"
    bad_header.write_text("external_id;team;name\nMS-1;x;y\n", "utf-8")
    not_utf8 = tmp_path / "latin1.csv"
    not_utf8.write_bytes(MALFORMED.replace("Good One", "Lucía").encode("latin-1"))
    rerun, header, missing, binary = cli.run_all(
        ("import", roster),
        ("import", str(bad_header)),
        ("import", str(tmp_path / "no-such.csv")),
        ("import", str(not_utf8)),
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"0 patient(s) and 0 plan(s) created, {rows} row(s) unchanged" in rerun.stdout
    assert header.returncode == 2 and header.stdout == ""
    assert "line 1: " in header.stderr and "separated by commas" in header.stderr
    assert missing.returncode == 2 and "no-such.csv" in one_error_line(missing)
    assert binary.returncode == 2 and "UTF-8" in one_error_line(binary)
    assert snapshot(engine) == imported  # re-running changes nothing
    with Session(engine) as s:
        grace = s.exec(select(Patient).where(Patient.external_id == "MS-1006")).one()
        stored = (grace.name, grace.tz, grace.quiet_start, grace.quiet_end, grace.discreet)
        assert stored == ("Grace Okafor", "America/Chicago", "22:00", "06:30", True)
        regimens = s.exec(select(Plan.regimen).where(Plan.patient_id == grace.id)).all()
        assert list(regimens) == ["cladribine"]

    malformed = tmp_path / "malformed.csv"
    malformed.write_text(MALFORMED, "utf-8")
    partial = cli.run("import", str(malformed))
    assert partial.returncode == 1
    lines = partial.stderr.strip().splitlines()
    errors = [e for e in lines if not e.startswith("note:")]
    # MS-2001's phone is also an example patient's: a family phone, noted, not refused
    assert any("phone is shared with patient" in e for e in lines if e.startswith("note:"))
    assert [e.split(":")[0:2] for e in errors] == [["line 4", " phone"], ["line 5", " regimen"]]
    assert "did you mean" in errors[1]
    assert "2 patient(s) and 2 plan(s) created" in partial.stdout
    assert "2 error(s)" in partial.stdout
    after = snapshot(engine)
    assert counts(after)["patient"] == rows + 2 and counts(after)["plan"] == rows + 2
    with Session(engine) as s:
        enrolled = set(s.exec(select(Patient.external_id)).all())
    assert {"MS-2001", "MS-2004"} <= enrolled
    assert not {"MS-2002", "MS-2003"} & enrolled


def test_plan_add_for_a_patient_already_on_therapy(cli: Cli) -> None:
    """`plan add --day N` starts at the real Day 1 (maintenance today, nothing for the past);
    `--last-dose` counts the next infusion from the one given and records it."""
    tz = NY
    today = local_today(tz)
    cli.ok("team", "add", "Riverside", "--tz", tz)
    for n, ext in ((43, "MS-1"), (44, "MS-2")):
        cli.ok(
            "patient",
            "add",
            "--team",
            "Riverside",
            "--name",
            ext,
            "--phone",
            f"+120255501{n}",
            "--tz",
            tz,
            "--external-id",
            ext,
        )
    plan = cli.json("plan", "add", "MS-1", "Ponvory", "--day", "40", "--json")
    assert plan["start"] == (today - timedelta(days=39)).isoformat()
    pills = cli.json("doses", "MS-1", "--json")
    assert pills and {d["phase"] for d in pills} == {"maintenance"}
    assert min(d["local_date"] for d in pills) >= today.isoformat()
    last = today - timedelta(days=120)
    infusion = cli.ok("plan", "add", "MS-2", "Ocrevus", "--last-dose", f"{last.isoformat()}T10:30")
    assert infusion.strip().isdigit()
    given = cli.json("doses", "MS-2", "--json")
    taken = [d for d in given if d["status"] == "taken"]
    assert len(taken) == 1 and taken[0]["confirmed_via"] == "enrolment"
    assert taken[0]["taken_at"].startswith(f"{last.isoformat()}T")
    nxt = [d for d in given if d["status"] == "scheduled"]
    assert len(nxt) == 1 and nxt[0]["local_date"] > today.isoformat()
    for args, words in (
        (("plan", "add", "MS-1", "Ponvory", "--day", "0"), "--day 0"),
        (("plan", "add", "MS-1", "Ponvory", "--day", "3", "--since", "2026-01-01"), "one of"),
        (
            (
                "plan",
                "add",
                "MS-2",
                "Mavenclad",
                "--option",
                "weight_kg=70",
                "--last-dose",
                last.isoformat(),
            ),
            "--course",
        ),
        (("plan", "add", "MS-2", "Ocrevus", "--last-dose", "yesterday"), "--last-dose"),
    ):
        assert words in cli.refused(*args)


def test_a_fixed_offset_zone_is_kept_with_a_warning_naming_the_region_zone(cli: Cli) -> None:
    fixed = cli.run("team", "add", "Eastern Clinic", "--tz", "EST")
    region = cli.run("team", "add", "Northern Clinic", "--tz", "America/New_York")
    assert fixed.returncode == 0 and fixed.stdout.strip().isdigit()
    [line] = fixed.stderr.strip().splitlines()
    assert "'EST' is a fixed offset (UTC-05:00 all year" in line
    assert "America/New_York" in line
    assert region.returncode == 0 and region.stderr.strip() == ""
