"""The simulation runs the real engine end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from adherence.simulate import load_scenario, run_scenario
from schedules import Catalog

ROOT = Path(__file__).resolve().parents[2]


def test_ponvory_four_missed_days_restart_titration_at_day_1(
    engine: Engine, catalog: Catalog
) -> None:
    scenario = load_scenario((ROOT / "examples/scenarios/ponvory-restart.toml").read_text())
    result = run_scenario(scenario, catalog=catalog, engine=engine)
    rules = [e for e in result["events"] if e["type"] == "rule"]
    # Days 5-7: fewer than 4 missed, the 4 mg step is offered again the next day; Day 8: restart.
    assert [r["rule"] for r in rules] == ["schedule_shift"] * 3 + ["titration_restart"]
    assert rules[-1]["details"]["new_start"] == "2026-03-09"
    assert rules[-1]["details"]["missed"] == 4
    missed = [e for e in result["events"] if e["type"] == "status" and e["new"] == "missed"]
    assert [m["day"] for m in missed] == [5, 6, 7, 8]
    # After the restart the patient is back on the 2 mg Day-1 tablet on 9 March.
    taken = [e for e in result["events"] if e["type"] == "status" and e["new"] == "taken"]
    assert taken[4]["due"].startswith("2026-03-09T09:00") and taken[4]["amount"] == 2
    texts = [e["text"] for e in result["events"] if e["type"] == "sms"]
    assert texts and all("Ponvory" not in t and "ponesimod" not in t for t in texts)
