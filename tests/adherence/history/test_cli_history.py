"""`adherence history import` as the installed console script: lines, --json, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select

from adherence.storage.models import AuditEvent, Dose
from schedules import Catalog
from tests.adherence.history.helpers import clinic

ADHERENCE = Path(sys.executable).parent / "adherence"

GOOD = (
    "patient,regimen,at,status\n"
    "MS-1,teriflunomide,2026-03-02T09:00:00-05:00,taken\n"
    "MS-2,Tecfidera,2026-03-02T08:00,taken\n"
)
BAD = (
    GOOD
    + "MS-1,teriflunomide,2025-13-01T09:00,taken\nMS-404,teriflunomide,2026-03-03T09:00,taken\n"
)


def _run(tmp: Path, db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp / "adherence.toml"
    config.write_text(f"[database]\nurl = {json.dumps(db_url)}\n", "utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADHERENCE_")}
    return subprocess.run(
        [str(ADHERENCE), "history", "import", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp,
        env=env,
    )


def _imported(engine: Engine) -> int:
    with Session(engine) as s:
        return len(s.exec(select(Dose).where(Dose.confirmed_via == "import")).all())


def test_cli_reports_each_category_and_each_refused_row(
    engine: Engine, db_url: str, catalog: Catalog, tmp_path: Path
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        clinic(s, catalog)
    bad = tmp_path / "history.csv"
    bad.write_text(BAD, "utf-8")
    dry = _run(tmp_path, db_url, str(bad), "--dry-run")
    assert dry.returncode == 1, dry.stderr
    assert "history.csv: 2 dose(s) would be imported" in dry.stdout
    assert _imported(engine) == 0

    done = _run(tmp_path, db_url, str(bad))
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "history.csv: 2 dose(s) imported",
        "history.csv: 0 dose(s) unchanged (already recorded)",
        "history.csv: 2 row(s) refused",
    ]
    assert done.stderr.splitlines() == [
        "line 4: at: '2025-13-01T09:00' is not an ISO 8601 date-time",
        "line 5: patient: no patient 'MS-404'",
    ]
    assert _imported(engine) == 2
    with Session(engine) as s:
        audit = s.exec(select(AuditEvent)).one()
        assert audit.actor.startswith("cli:") and audit.resource == "history:history.csv"

    # `adherence doses` shows the imported dose like any other.
    config = tmp_path / "adherence.toml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADHERENCE_")}
    args = ["doses", "MS-1", "--from", "2026-03-02", "--to", "2026-03-02", "--json"]
    shown = subprocess.run(
        [str(ADHERENCE), *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=env,
    )
    (dose,) = json.loads(shown.stdout)
    assert (dose["status"], dose["confirmed_via"]) == ("taken", "import")

    good = tmp_path / "good.csv"
    good.write_text(GOOD, "utf-8")
    again = _run(tmp_path, db_url, str(good), "--json")
    assert again.returncode == 0, again.stderr
    out = json.loads(again.stdout)
    assert (out["imported"], out["unchanged"], out["refused"]) == (0, 2, 0)


def test_cli_refuses_an_unusable_file_with_one_line_and_exit_2(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    header = tmp_path / "wrong.csv"
    header.write_text("patient,drug,at,status\nMS-1,x,y,z\n", "utf-8")
    not_json = tmp_path / "broken.json"
    not_json.write_text("{ not json", "utf-8")
    not_bundle = tmp_path / "patient.json"
    not_bundle.write_text('{"resourceType": "Patient"}', "utf-8")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(
        "patient,regimen,at,status\nMS-1,Glatopa,2026-03-02T09:00,taken,Lucía\n".encode("latin-1")
    )
    for path, message in [
        (header, "unknown column 'drug'"),
        (not_json, "not JSON"),
        (not_bundle, "not a FHIR Bundle"),
        (latin1, "not UTF-8"),
        (tmp_path / "missing.csv", "no such file"),
    ]:
        done = _run(tmp_path, db_url, str(path))
        assert done.returncode == 2, (path, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
        assert done.stdout == ""
