"""`adherence flags` and `adherence flag ack|resolve`, run as the installed console script
against a SQLite file and PostgreSQL."""

from __future__ import annotations

import getpass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from adherence.care.flags import raise_flag
from adherence.patients.enrollment import create_team
from adherence.storage.models import AuditEvent, Flag
from schedules import Catalog
from tests.adherence.cli.test_cli_enrollment import Cli, one_error_line, write_config
from tests.adherence.engine_helpers import enroll


@pytest.fixture
def cli(tmp_path: Path, db_url: str) -> Cli:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    return Cli(cwd=cwd, config=write_config(tmp_path / "cli.toml", db_url), db_url=db_url)


def test_list_ack_and_resolve_flags_from_the_command_line(
    cli: Cli, engine: Engine, catalog: Catalog
) -> None:
    now = datetime.now(UTC) - timedelta(hours=2)
    with Session(engine, expire_on_commit=False) as s:
        e = enroll(s, catalog, "teriflunomide", date(2026, 3, 1), now=now, external_id="MS-7")
        other_team = create_team(s, name="Other Clinic", tz="Europe/Paris", now=now)
        other = enroll(s, catalog, "teriflunomide", date(2026, 3, 1), now=now, team=other_team, n=1)
        assert e.patient.id is not None and other.patient.id is not None
        missed = raise_flag(
            s, team_id=e.team.id or 0, patient_id=e.patient.id, plan_id=e.plan.id,
            rule="missed_doses", now=now, details={"missed_in_a_row": 2}, occurrence="r1",
        )  # fmt: skip
        flare = raise_flag(
            s, team_id=e.team.id or 0, patient_id=e.patient.id, plan_id=None,
            rule="flare_reported", now=now - timedelta(hours=1), severity="urgent",
        )  # fmt: skip
        elsewhere = raise_flag(
            s, team_id=other_team.id or 0, patient_id=other.patient.id, plan_id=other.plan.id,
            rule="low_pdc", now=now - timedelta(minutes=30),
        )  # fmt: skip
        s.commit()

    listed, mine = cli.json_all(["flags", "--json"], ["flags", "--team", e.team.name, "--json"])
    assert [f["id"] for f in listed] == [
        flare.id,
        missed.id,
        elsewhere.id,
    ]  # urgent first, then latest
    assert [f["id"] for f in mine] == [flare.id, missed.id]
    assert mine[1]["details"]["missed_in_a_row"] == 2 and mine[0]["severity"] == "urgent"
    text = cli.ok("flags", "--team", str(e.team.id))
    assert "MS-7" in text and "missed_doses" in text and "low_pdc" not in text

    acked = cli.json("flag", "ack", str(missed.id), "--note", "calling her", "--json")
    assert acked["status"] == "acknowledged"
    assert acked["acknowledged_by"] == f"cli:{getpass.getuser()}"
    assert "calling her" in acked["note"]

    # Refusals: one clear line each, nothing changed.
    refusals = [
        (["flag", "resolve", str(missed.id)], "--note"),
        (["flag", "resolve", str(missed.id), "--note", "   "], "--note"),
        (["flag", "ack", "999999"], "no flag 999999"),
        (["flag", "ack", "seven"], "ID 'seven'"),
        (["flags", "--team", "Nowhere"], "--team"),
        (["flag", "ack", str(missed.id), "--by", " "], "--by"),
    ]
    for (args, needle), done in zip(refusals, cli.run_all(*(a for a, _ in refusals)), strict=True):
        assert needle in one_error_line(done), args

    done = cli.json(
        "flag", "resolve", str(missed.id), "--note", "pharmacy delay", "--by", "Nurse Kim",
        "--json",
    )  # fmt: skip
    assert (done["status"], done["resolved_by"]) == ("resolved", "Nurse Kim")
    assert done["resolved_at"] is not None and "pharmacy delay" in done["note"]
    line = cli.refused("flag", "ack", str(missed.id))
    assert "already resolved" in line and "cannot be acknowledged" in line

    still_open = cli.json("flags", "--team", e.team.name, "--json")
    assert [f["id"] for f in still_open] == [flare.id]
    everything = cli.json("flags", "--team", e.team.name, "--all", "--json")
    kept = next(f for f in everything if f["id"] == missed.id)
    assert kept["acknowledged_by"] == f"cli:{getpass.getuser()}"
    assert kept["resolved_by"] == "Nurse Kim" and "calling her" in kept["note"]

    with Session(engine) as s:
        rows = s.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all()
        actions = [(r.action, r.resource) for r in rows]
        flag = s.get(Flag, missed.id)
        assert flag is not None and flag.open_key is None
    assert ("ack", f"flag:{missed.id}") in actions
    assert ("resolve", f"flag:{missed.id}") in actions
    assert actions.count(("read", "flags")) == 5  # every successful listing
    assert all(r.actor == f"cli:{getpass.getuser()}" for r in rows)
