"""`adherence coordinator ...` and `adherence audit`, run as the installed console script
on SQLite and PostgreSQL (see test_cli_enrollment for the harness)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from adherence.care.coordinators import authenticate
from adherence.patients.enrollment import create_patient, create_team
from adherence.storage.audit import record
from tests.adherence.cli.test_cli_enrollment import Cli, one_error_line, snapshot, write_config

NY = "America/New_York"


@pytest.fixture
def cli(tmp_path: Path, db_url: str) -> Cli:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    return Cli(cwd=cwd, config=write_config(tmp_path / "cli.toml", db_url), db_url=db_url)


def _auth(engine: Engine, token: str) -> int | None:
    with Session(engine) as s:
        c = authenticate(s, token, datetime.now(UTC))
        return c.id if c else None


def test_add_prints_the_token_once_and_it_opens_the_api(cli: Cli, engine: Engine) -> None:
    cli.ok("team", "add", "North Clinic", "--tz", NY)
    done = cli.run(
        "coordinator", "add", "North Clinic", "--name", "Ana", "--email", "ana@clinic.org",
        "--phone", "+12025550143", "--sms", "--digest-time", "07:30", "--tz", "Europe/Paris",
        "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    added = json.loads(done.stdout)
    assert "cannot be shown again" in done.stderr
    assert added["token"].startswith("msa_")
    assert (added["notify_sms"], added["digest_time"], added["tz"]) == (
        True,
        "07:30",
        "Europe/Paris",
    )
    assert _auth(engine, added["token"]) == added["id"]

    plain = cli.run("coordinator", "add", "1", "--name", "Ben", "--email", "ben@clinic.org")
    assert plain.returncode == 0, plain.stderr
    token = next(line for line in plain.stdout.splitlines() if line.startswith("token: "))
    ben = _auth(engine, token.removeprefix("token: "))
    assert ben is not None and ben != added["id"]
    assert "cannot be shown again" in plain.stderr

    # Listing never shows a token or its hash.
    listed, text = cli.run_all(
        ("coordinator", "list", "--json"), ("coordinator", "list", "--team", "North Clinic")
    )
    assert listed.returncode == text.returncode == 0, listed.stderr + text.stderr
    rows = json.loads(listed.stdout)
    assert [r["name"] for r in rows] == ["Ana", "Ben"]
    assert all("token" not in key for r in rows for key in r)
    for out in (listed.stdout, text.stdout):
        assert added["token"] not in out and "msa_" not in out
    assert "Ana" in text.stdout and "active" in text.stdout


def test_rotate_and_revoke(cli: Cli, engine: Engine) -> None:
    cli.ok("team", "add", "North Clinic", "--tz", NY)
    added = cli.json("coordinator", "add", "North Clinic", "--name", "Ana", "--email", "a@b.org", "--json")  # fmt: skip
    rotated = cli.json("coordinator", "rotate", str(added["id"]), "--json")
    assert rotated["id"] == added["id"] and rotated["token"] != added["token"]
    assert _auth(engine, added["token"]) is None
    assert _auth(engine, rotated["token"]) == added["id"]

    assert cli.ok("coordinator", "revoke", str(added["id"])).strip() == (
        f"coordinator {added['id']} revoked"
    )
    assert _auth(engine, rotated["token"]) is None
    listed = cli.json("coordinator", "list", "--json")
    assert listed[0]["active"] is False and listed[0]["revoked_at"]

    again, rotate, missing, not_id = cli.run_all(
        ("coordinator", "revoke", str(added["id"])),
        ("coordinator", "rotate", str(added["id"])),
        ("coordinator", "revoke", "999"),
        ("coordinator", "revoke", "ana"),
    )
    assert "already revoked" in one_error_line(again)
    assert "revoked" in one_error_line(rotate)
    assert "no coordinator 999" in one_error_line(missing)
    assert "'ana'" in one_error_line(not_id)


def test_bad_input_is_one_line_naming_the_flag_and_adds_nobody(cli: Cli, engine: Engine) -> None:
    cli.ok("team", "add", "North Clinic", "--tz", NY)
    before = snapshot(engine)
    base = ("coordinator", "add", "North Clinic", "--name", "Ana")
    cases = {
        "--email": (*base, "--email", "ana-at-clinic"),
        "--phone": (*base, "--email", "a@b.org", "--phone", "555-0143"),
        "--digest-time": (*base, "--email", "a@b.org", "--digest-time", "25:00"),
        "--tz": (*base, "--email", "a@b.org", "--tz", "Moon/Base"),
        "--sms": (*base, "--email", "a@b.org", "--sms"),
        "--name": ("coordinator", "add", "1", "--name", " ", "--email", "a@b.org"),
        "Nowhere": ("coordinator", "add", "Nowhere", "--name", "A", "--email", "a@b.org"),
    }
    for (flag, _), done in zip(cases.items(), cli.run_all(*cases.values()), strict=True):
        assert flag in one_error_line(done), (flag, done.stderr)
    assert snapshot(engine) == before


def test_digest_time_defaults_to_the_care_setting(cli: Cli, tmp_path: Path) -> None:
    config = write_config(tmp_path / "care.toml", cli.db_url, '[care]\ndigest_time = "06:45"\n')
    cli.ok("team", "add", "North Clinic", "--tz", NY)
    added = cli.json(
        "coordinator", "add", "1", "--name", "A", "--email", "a@b.org", "--json",
        "--config", str(config),
    )  # fmt: skip
    assert added["digest_time"] == "06:45"


def test_audit_lists_rows_filtered_newest_first(cli: Cli, engine: Engine) -> None:
    now = datetime.now(UTC)
    with Session(engine, expire_on_commit=False) as s:
        north = create_team(s, name="North Clinic", tz=NY, now=now)
        south = create_team(s, name="South Clinic", tz=NY, now=now)
        ann = create_patient(
            s, team=north, name="Ann", phone="+12025550143", tz=NY, now=now, external_id="N-1"
        )
        for i, (team, patient_id) in enumerate(
            [(north, ann.id), (north, None), (south, None), (north, ann.id)]
        ):
            record(
                s,
                actor=f"coordinator:{i + 1}",
                team_id=team.id,
                action="read",
                resource=f"patient:{patient_id}" if patient_id else "patients",
                patient_id=patient_id,
                details={"n": i},
                now=now - timedelta(days=3 - i),
            )
        s.commit()
    since = (now - timedelta(days=1)).date().isoformat()
    team_rows, patient_rows, since_rows, limited, table = cli.json_all(
        ("audit", "--team", "North Clinic", "--json"),
        ("audit", "--patient", "N-1", "--json"),
        ("audit", "--since", since, "--json"),
        ("audit", "--limit", "1", "--json"),
        ("audit", "--team", "South Clinic", "--json"),
    )
    assert [r["actor"] for r in team_rows] == ["coordinator:4", "coordinator:2", "coordinator:1"]
    assert {r["team_id"] for r in team_rows} == {north.id}
    assert [r["actor"] for r in patient_rows] == ["coordinator:4", "coordinator:1"]
    assert all(datetime.fromisoformat(r["at"]).date().isoformat() >= since for r in since_rows)
    assert "coordinator:4" in [r["actor"] for r in since_rows]
    assert [r["actor"] for r in limited] == ["coordinator:4"]
    assert [r["details"] for r in table] == [{"n": 2}]

    text = cli.ok("audit", "--team", "North Clinic")
    assert "coordinator:4" in text and "patient:" in text and "coordinator:3" not in text
    bad_since, bad_limit, bad_patient = cli.run_all(
        ("audit", "--since", "last week"), ("audit", "--limit", "0"), ("audit", "--patient", "X-9")
    )
    assert "--since" in one_error_line(bad_since)
    assert "--limit" in one_error_line(bad_limit)
    assert "X-9" in one_error_line(bad_patient)


def test_run_demo_prints_a_workspace_sign_in_token_once(cli: Cli, engine: Engine) -> None:
    first = cli.run("run", "--demo", "--once")
    assert first.returncode == 0, first.stderr
    line = next(ln for ln in first.stdout.splitlines() if "sign in with" in ln)
    token = line.rsplit(" ", 1)[-1]
    assert _auth(engine, token) is not None  # the printed token opens the workspace
    assert "/workspace/" in first.stdout
    again = cli.run("run", "--demo", "--once")
    assert again.returncode == 0, again.stderr
    assert "already present" in again.stdout and token not in again.stdout
