"""`adherence report` and `adherence export`, run as the installed console script against
a database the test filled through the real engine (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from adherence.care.exports import export_stream
from adherence.care.measures import measure_patient, measure_team
from adherence.core.config import Settings
from adherence.storage.models import AuditEvent
from schedules import Catalog
from tests.adherence.cli.test_cli_enrollment import Cli, one_error_line, write_config
from tests.adherence.engine_helpers import Enrolled, at, drive, enroll

START, END = date(2026, 3, 2), date(2026, 3, 20)
SETTINGS = Settings()


@pytest.fixture
def cli(tmp_path: Path, db_url: str) -> Cli:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    return Cli(cwd=cwd, config=write_config(tmp_path / "cli.toml", db_url), db_url=db_url)


@pytest.fixture
def history(engine: Engine, catalog: Catalog) -> tuple[Enrolled, Enrolled]:
    with Session(engine, expire_on_commit=False) as s:
        now = at(2026, 3, 1, 9)
        a = enroll(s, catalog, "Gilenya", START, now=now, external_id="MRN-7", times=["09:00"])
        b = enroll(s, catalog, "Kesimpta", START, now=now, team=a.team, n=1)
        drive(
            s,
            catalog,
            start=now,
            until=at(2026, 3, 21, 23),
            take=lambda d: d.local_date.day % 6 != 0,
        )
    return a, b


def audit_rows(engine: Engine) -> list[AuditEvent]:
    with Session(engine) as s:
        return list(s.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all())


def test_report_prints_the_measures_of_a_patient_and_a_team(
    cli: Cli, engine: Engine, catalog: Catalog, history: tuple[Enrolled, Enrolled]
) -> None:
    a, _ = history
    period = ["--from", START.isoformat(), "--to", END.isoformat()]
    by_ext, team_js, text, defaults = (
        *cli.json_all(
            ["report", "MRN-7", *period, "--json"],
            ["report", "--team", a.team.name, *period, "--json"],
        ),
        cli.ok("report", str(a.patient.id), *period),
        cli.json("report", "--team", str(a.team.id), "--json"),
    )
    with Session(engine) as s:
        pm = measure_patient(s, a.patient, start=START, end=END, catalog=catalog, settings=SETTINGS)
        tm = measure_team(s, a.team, start=START, end=END, catalog=catalog, settings=SETTINGS)
    assert by_ext == pm.to_json()
    assert 0 < by_ext["pdc"] < 1 and by_ext["threshold"] == 0.8
    assert team_js == tm.to_json() and team_js["patients"] == 2
    assert f"{100 * pm.plans[0].pdc:.1f}%" in text and a.plan.regimen in text  # type: ignore[operator]
    assert set(defaults) == {"30d", "90d", "365d"}
    assert all(v["patients"] == 2 for v in defaults.values())
    reads = [e for e in audit_rows(engine) if e.action == "read"]
    assert len(reads) == 4 and {e.resource for e in reads} == {
        f"report:patient:{a.patient.id}",
        f"report:team:{a.team.id}",
    }


def test_export_writes_the_same_bytes_as_the_stream_atomically(
    cli: Cli, engine: Engine, catalog: Catalog, history: tuple[Enrolled, Enrolled], tmp_path: Path
) -> None:
    a, _ = history
    out = tmp_path / "team.csv"
    period = ["--from", START.isoformat(), "--to", END.isoformat()]
    done = cli.run("export", "--team", a.team.name, *period, "--format", "csv", "--out", str(out))
    assert done.returncode == 0 and done.stdout == "" and done.stderr == ""  # no bar in a pipe
    with Session(engine) as s:
        expected = b"".join(
            export_stream(
                s, team=a.team, start=START, end=END, fmt="csv", catalog=catalog, settings=SETTINGS
            )
        )
    assert out.read_bytes() == expected
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert sum(1 for r in rows if r["record"] == "summary") == 2
    assert not list(tmp_path.glob(".team.csv.*"))  # no temporary file left behind
    fhir, js = (
        json.loads(cli.ok("export", "--team", str(a.team.id), *period, "--format", f, "--validate"))
        for f in ("fhir", "json")
    )
    assert fhir["resourceType"] == "Bundle" and fhir["entry"]
    assert [p["patient_id"] for p in js["patients"]] == [a.patient.id, history[1].patient.id]
    exports = [e for e in audit_rows(engine) if e.action == "export"]
    assert [e.resource for e in exports] == ["export:csv", "export:fhir", "export:json"]


def test_bad_requests_are_one_line_errors_and_leave_the_old_file(
    cli: Cli, history: tuple[Enrolled, Enrolled], tmp_path: Path
) -> None:
    a, _ = history
    old = tmp_path / "keep.csv"
    old.write_text("previous export\n")
    period = ["--from", START.isoformat(), "--to", END.isoformat()]
    results = cli.run_all(
        ["report", "MRN-7", "--team", a.team.name],
        ["report"],
        ["report", "MRN-7", "--from", "2026-03-01"],
        ["report", "MRN-7", "--from", "2026-03-40", "--to", "2026-04-01"],
        ["report", "nobody"],
        ["export", "--team", "No such team", *period, "--out", str(old)],
        ["export", "--team", a.team.name, *period, "--format", "xml"],
        ["export", "--team", a.team.name, "--from", "2026-03-20", "--to", "2026-03-01"],
        ["export", "--team", a.team.name, *period, "--out", str(tmp_path / "no" / "x.csv")],
    )
    errors = [one_error_line(r) for r in results]
    assert "PATIENT or --team" in errors[0] and "PATIENT or --team" in errors[1]
    assert "--from and --to go together" in errors[2]
    assert "--from '2026-03-40'" in errors[3]
    assert "no patient 'nobody'" in errors[4]
    assert "no care team 'No such team'" in errors[5]
    assert "--format 'xml'" in errors[6]
    assert "--to 2026-03-01 is before --from 2026-03-20" in errors[7]
    assert "does not exist" in errors[8]
    assert old.read_text() == "previous export\n"
