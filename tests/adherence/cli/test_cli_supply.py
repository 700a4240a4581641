"""`adherence supply add|list`, run as the installed console script against a SQLite file
and PostgreSQL."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from adherence.storage.models import AuditEvent, Dispense
from schedules import Catalog
from tests.adherence.cli.test_cli_enrollment import Cli, write_config
from tests.adherence.engine_helpers import enroll

NY = ZoneInfo("America/New_York")


@pytest.fixture
def cli(tmp_path: Path, db_url: str) -> Cli:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    return Cli(cwd=cwd, config=write_config(tmp_path / "cli.toml", db_url), db_url=db_url)


def test_add_fills_and_list_the_supply_from_the_command_line(
    cli: Cli, engine: Engine, catalog: Catalog
) -> None:
    now = datetime.now(UTC) - timedelta(hours=1)
    today = now.astimezone(NY).date()
    with Session(engine, expire_on_commit=False) as s:
        e = enroll(s, catalog, "teriflunomide", today - timedelta(days=25), now=now)
    plan = str(e.plan.id)
    first = (today - timedelta(days=25)).isoformat()

    added = cli.ok("supply", "add", plan, "--dispensed", first, "--days-supply", "30")
    again = cli.ok("supply", "add", plan, "--dispensed", first, "--days-supply", "30")
    assert added.strip().isdigit()
    assert again.strip() == f"{added.strip()} (already recorded)"

    early = (today - timedelta(days=5)).isoformat()
    out = cli.json(
        "supply", "add", plan, "--dispensed", early, "--days-supply", "30",
        "--quantity", "30", "--source", "specialty pharmacy", "--json",
    )  # fmt: skip
    assert out["created"] is True
    assert out["fill"]["quantity"] == 30 and out["fill"]["source"] == "specialty pharmacy"
    # Carried forward: the early refill starts when the first runs out (60 days in all).
    start = today - timedelta(days=25)
    assert out["supply"]["pqa_runs_out"] == (start + timedelta(days=60)).isoformat()
    assert (
        out["supply"]["refill_allowed_from"]
        == (today - timedelta(days=5) + timedelta(days=24)).isoformat()
    )
    assert out["supply"]["refill_remind_at"] is not None  # the engine's instant, moved at once

    listed = cli.json("supply", "list", plan, "--json")
    assert [f["dispensed_on"] for f in listed["fills"]] == [first, early]
    assert listed["runs_out"] == listed["pqa_runs_out"]
    assert listed["refill_ordered_at"] is None

    text = cli.ok("supply", "list", plan)
    assert "None" not in text
    assert "specialty pharmacy" in text and "runs out" in text and "PQA runs out" in text
    assert "refill ordered       -" in text
    assert "America/New_York" in text

    with Session(engine) as s:
        assert len(s.exec(select(Dispense).where(Dispense.plan_id == e.plan.id)).all()) == 2
        reads = s.exec(
            select(AuditEvent)
            .where(AuditEvent.resource == f"plan:{plan}/supply")
            .order_by(col(AuditEvent.id))
        ).all()
    assert [a.action for a in reads] == ["dispense", "dispense", "dispense", "read", "read"]
    assert {a.actor for a in reads} == {f"cli:{getpass.getuser()}"}
    assert {a.patient_id for a in reads} == {e.patient.id}


def test_supply_add_refuses_bad_input_with_one_line_naming_the_option(
    cli: Cli, engine: Engine, catalog: Catalog
) -> None:
    now = datetime.now(UTC) - timedelta(hours=1)
    today = now.astimezone(NY).date()
    with Session(engine, expire_on_commit=False) as s:
        pills = enroll(s, catalog, "teriflunomide", today, now=now)
        infusion = enroll(s, catalog, "ocrelizumab", today, now=now, team=pills.team, n=1)
    plan, clinic = str(pills.plan.id), str(infusion.plan.id)
    day = today.isoformat()
    future = (today + timedelta(days=2)).isoformat()

    refusals = [
        (["supply", "add", clinic, "--dispensed", day, "--days-supply", "30"],
         "given in clinic: it has no home supply"),
        (["supply", "add", plan, "--dispensed", day, "--days-supply", "0"], "--days-supply 0"),
        (["supply", "add", plan, "--dispensed", day, "--days-supply", "lots"], "--days-supply"),
        (["supply", "add", plan, "--dispensed", "2026-13-01", "--days-supply", "30"],
         "--dispensed '2026-13-01'"),
        (["supply", "add", plan, "--dispensed", future, "--days-supply", "30"],
         f"--dispensed {future} is in the future"),
        (["supply", "add", plan, "--dispensed", day, "--days-supply", "30", "--quantity", "0"],
         "--quantity 0"),
        (["supply", "add", "999999", "--dispensed", day, "--days-supply", "30"], "no plan"),
        (["supply", "list", "999999"], "no plan"),
    ]  # fmt: skip
    for args, needle in refusals:
        assert needle in cli.refused(*args), args
    assert (
        cli.ok("supply", "list", clinic).strip()
        == f"plan {clinic} is given in clinic: no home supply"
    )
    with Session(engine) as s:
        assert s.exec(select(Dispense)).all() == []
