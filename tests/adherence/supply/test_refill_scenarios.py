"""Refill texts and refill-overdue flags on the virtual clock (``adherence simulate``),
at the right local times in the patient's zone, across a change to summer time, on
SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from adherence.simulate import ScenarioError, load_scenario, run_scenario
from schedules import Catalog

SCENARIO = (
    Path(__file__).resolve().parents[3] / "examples" / "scenarios" / "refill-reminder.toml"
).read_text("utf-8")
FIRST_FILL = (
    'dispenses = [{ at = "2026-02-20T00:00:00", days_supply = 30, source = "specialty pharmacy" }]'
)


def run(text: str, engine: Engine, catalog: Catalog) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = run_scenario(
        load_scenario(text), catalog=catalog, engine=engine
    )["events"]
    return events


def with_fills(extra: str, end: str) -> str:
    text = SCENARIO.replace(
        FIRST_FILL,
        FIRST_FILL.replace(" }]", f" }}, {extra}]"),
    ).replace('end = "2026-03-28T00:00:00-04:00"', f'end = "{end}"')
    assert extra in text
    return text


def refill_texts(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "sms" and e["purpose"] == "refill"]


def flags(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(e["at"], e["rule"], e["status"]) for e in events if e["type"] == "flag"]


def test_one_refill_text_five_days_before_run_out_then_overdue_three_days_after(
    engine: Engine, catalog: Catalog
) -> None:
    events = run(SCENARIO, engine, catalog)

    (text,) = refill_texts(events)
    # 22 March is the first day without a tablet; 10:00 New York summer time.
    assert text["at"] == "2026-03-17T10:00:00-04:00"
    assert text["text"] == (
        "Riverside MS Clinic: your medication runs out around Mar 22. Please order your "
        "refill now. Reply R when ordered."
    )  # the insurer allows it from 16 March (80% of 30 days), already past
    assert "Aubagio" not in text["text"] and "teriflunomide" not in text["text"]
    ordered = [e for e in events if e["type"] == "rule" and e["rule"] == "refill_ordered"]
    assert [e["at"] for e in ordered] == ["2026-03-17T12:00:00-04:00"]
    answers = [e["text"] for e in events if e["type"] == "sms" and e["purpose"] == "answer"]
    assert "Riverside MS Clinic: thanks, noted that your refill is ordered." in answers
    assert flags(events) == [("2026-03-25T10:00:00-04:00", "refill_overdue", "open")]


def test_a_fill_before_run_out_stops_the_overdue_flag_and_moves_the_next_text(
    engine: Engine, catalog: Catalog
) -> None:
    text = with_fills('{ at = "2026-03-19T15:00:00", days_supply = 30 }', "2026-04-20T00:00:00")

    events = run(text, engine, catalog)

    # One text per fill: the first as before, the next for the new fill, which carries
    # forward from 22 March to 21 April (an early refill loses nothing).
    assert [e["at"] for e in refill_texts(events)] == [
        "2026-03-17T10:00:00-04:00",
        "2026-04-16T10:00:00-04:00",
    ]
    assert "runs out around Apr 21" in refill_texts(events)[1]["text"]
    assert flags(events) == []


def test_a_fill_after_the_flag_resolves_it(engine: Engine, catalog: Catalog) -> None:
    text = with_fills('{ at = "2026-03-27T14:30:00", days_supply = 30 }', "2026-04-02T00:00:00")

    events = run(text, engine, catalog)

    assert flags(events) == [
        ("2026-03-25T10:00:00-04:00", "refill_overdue", "open"),
        ("2026-03-27T14:30:00-04:00", "refill_overdue", "resolved"),
    ]
    (resolved,) = [e for e in events if e["type"] == "flag" and e["status"] == "resolved"]
    assert resolved["by"] == "system: dispensing recorded"
    assert len(refill_texts(events)) == 1  # the new fill's text is due on 21 April


@pytest.mark.parametrize(
    ("dispense", "message"),
    [
        ('{ at = "2026-02-20", days = 30 }', r"dispenses\[1\] days: unknown key"),
        ('{ at = "2026-02-20" }', r"dispenses\[1\]: needs at and days_supply"),
        ('{ at = "2026-02-20", days_supply = 30, plan = 2 }', r"dispenses\[1\] plan"),
        ('{ at = "2026-02-20", days_supply = "30" }', r"dispenses\[1\] days_supply"),
    ],
)
def test_a_bad_dispense_in_a_scenario_is_an_error_naming_the_key(
    dispense: str, message: str
) -> None:
    text = SCENARIO.replace(FIRST_FILL, f"dispenses = [{dispense}]")
    with pytest.raises(ScenarioError, match=message):
        load_scenario(text)
