"""Every example scenario, run through the real engine on a virtual clock (SQLite and
PostgreSQL): the label rule it shows fires on the right day, and only there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from adherence.simulate import ScenarioError, load_scenario, run_scenario
from schedules import Catalog

SCENARIOS = Path(__file__).resolve().parents[2] / "examples" / "scenarios"


def _run(name: str, engine: Engine, catalog: Catalog) -> list[dict[str, Any]]:
    scenario = load_scenario((SCENARIOS / name).read_text("utf-8"))
    events: list[dict[str, Any]] = run_scenario(scenario, catalog=catalog, engine=engine)["events"]
    return events


def _rules(events: list[dict[str, Any]], who: str | None = None) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "rule" and who in (None, e["patient"])]


def _status(events: list[dict[str, Any]], who: str, new: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "status" and e["patient"] == who and e["new"] == new]


def _texts(events: list[dict[str, Any]], who: str) -> list[tuple[str, str]]:
    """(local time sent, purpose) of every text to ``who``."""
    return [
        (e["at"][5:16].replace("T", " "), e["purpose"])
        for e in events
        if e["type"] == "sms" and e["patient"] == who
    ]


def test_every_scenario_loads() -> None:
    names = sorted(p.name for p in SCENARIOS.glob("*.toml"))
    assert {
        "betaseron-late-shift.toml",
        "gilenya-interruption.toml",
        "kesimpta-late-loading.toml",
        "mayzent-restart.toml",
        "plegridy-7-day.toml",
        "ponvory-restart.toml",
        "quiet-hours-and-snooze.toml",
        "zeposia-first-two-weeks.toml",
    } <= set(names)
    for name in names:
        scenario = load_scenario((SCENARIOS / name).read_text("utf-8"))
        assert scenario.patients and scenario.end > scenario.start, name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[simulation]\nstart = "2026-03-01"\nday = 3\n', r"\[simulation\] day: unknown key"),
        (
            '[simulation]\nstart = "2026-03-01"\ndays = 3\n[team]\ntimezone = "Europe/Paris"\n',
            r"\[team\] timezone: unknown key \(known: name, phone, tz\)",
        ),
    ],
    ids=["simulation", "team"],
)
def test_a_misspelt_simulation_or_team_key_is_an_error_naming_it(text: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        load_scenario(text)


def test_betaseron_scenario_shifts_the_schedule_from_the_late_injection(
    engine: Engine, catalog: Catalog
) -> None:
    events = _run("betaseron-late-shift.toml", engine, catalog)

    rules = _rules(events)
    assert [(r["rule"], r["details"]["planned"], r["details"]["taken"]) for r in rules] == [
        ("schedule_shift", "2026-03-04", "2026-03-05")
    ]
    assert rules[0]["at"].startswith("2026-03-05T18:30")
    taken = _status(events, "Avery", "taken")
    assert [(t["day"], t["due"][:16]) for t in taken] == [
        (1, "2026-03-02T19:00"),
        (3, "2026-03-04T19:00"),  # taken on the 5th; the dose keeps its planned date
        (6, "2026-03-07T19:00"),  # two days after the late injection, not on the 6th
        (8, "2026-03-09T19:00"),
    ]
    assert _status(events, "Avery", "missed") == []


def test_plegridy_scenario_keeps_the_schedule_or_restarts_the_cycle_by_the_7_day_rule(
    engine: Engine, catalog: Catalog
) -> None:
    events = _run("plegridy-7-day.toml", engine, catalog)

    assert _rules(events, "Blake") == []
    (shift,) = _rules(events, "Casey")
    assert (shift["rule"], shift["details"]["taken"]) == ("schedule_shift", "2026-03-24")
    assert [(t["due"][:10], t["amount"], t["late"]) for t in _status(events, "Blake", "taken")] == [
        ("2026-03-16", 94, False),
        ("2026-03-30", 125, False),  # 7-day rule: schedule kept
    ]
    assert [(t["due"][:10], t["amount"], t["late"]) for t in _status(events, "Casey", "taken")] == [
        ("2026-03-16", 94, True),  # answered the morning after the 7-day window closed
        ("2026-04-07", 125, False),  # 14 days after 24 March
    ]
    assert [m["due"][:10] for m in _status(events, "Casey", "missed")] == ["2026-03-16"]


def test_kesimpta_scenario_moves_later_doses_to_the_interval_from_the_late_loading_dose(
    engine: Engine, catalog: Catalog
) -> None:
    events = _run("kesimpta-late-loading.toml", engine, catalog)

    assert [(r["rule"], r["details"]["taken"]) for r in _rules(events)] == [
        ("schedule_shift", "2026-03-12")
    ]
    taken = _status(events, "Devon", "taken")
    assert [(t["due"][:10], t["phase"]) for t in taken] == [
        ("2026-03-02", "loading"),
        ("2026-03-09", "loading"),
        ("2026-03-19", "loading"),
        ("2026-04-02", "maintenance"),
    ]
    assert taken[1]["at"].startswith("2026-03-12T09:30")
    reminded = [e["due"][:10] for e in _status(events, "Devon", "reminded")]
    assert "2026-03-16" not in reminded and "2026-03-30" not in reminded


def test_mayzent_scenario_restarts_after_a_titration_miss_and_four_maintenance_misses(
    engine: Engine, catalog: Catalog
) -> None:
    events = _run("mayzent-restart.toml", engine, catalog)

    restarts = [(r["patient"], r["at"][:16], r["details"]["new_start"]) for r in _rules(events)]
    assert restarts == [
        ("Emery", "2026-03-04T09:00", "2026-03-04"),
        ("Finley", "2026-03-07T09:00", "2026-03-07"),
    ]
    assert _rules(events, "Gray") == []
    # Emery: Day 1 again on the 4th, never reminded of the abandoned titration's Day 3.
    emery = [(e["due"][:10], e["day"], e["amount"]) for e in _status(events, "Emery", "reminded")]
    assert emery == [
        ("2026-03-02", 1, 0.25),
        ("2026-03-03", 2, 0.25),
        ("2026-03-04", 1, 0.25),
        ("2026-03-05", 2, 0.25),
        ("2026-03-06", 3, 0.5),
        ("2026-03-07", 4, 0.75),
        ("2026-03-08", 5, 1.25),
    ]
    finley = [(e["due"][:10], e["day"], e["amount"]) for e in _status(events, "Finley", "taken")]
    assert finley[-2:] == [("2026-03-07", 1, 0.25), ("2026-03-08", 2, 0.25)]
    gray = [(e["due"][:10], e["amount"]) for e in _status(events, "Gray", "taken")]
    assert gray[-3:] == [("2026-03-06", 2), ("2026-03-07", 2), ("2026-03-08", 2)]
    assert len(_status(events, "Gray", "missed")) == 3


def test_zeposia_scenario_restarts_only_for_a_dose_missed_in_the_first_two_weeks(
    engine: Engine, catalog: Catalog
) -> None:
    events = _run("zeposia-first-two-weeks.toml", engine, catalog)

    (restart,) = _rules(events)
    assert (restart["patient"], restart["rule"], restart["details"]["new_start"]) == (
        "Harper",
        "titration_restart",
        "2026-03-15",
    )
    missed = [e for e in events if e["type"] == "status" and e["new"] == "missed"]
    assert [(m["patient"], m["day"]) for m in missed] == [
        ("Harper", 14),
        ("Indy", 15),
    ]
    harper = [(t["due"][:10], t["day"], t["amount"]) for t in _status(events, "Harper", "taken")]
    assert harper[-2:] == [("2026-03-15", 1, 0.23), ("2026-03-16", 2, 0.23)]
    indy = [(t["due"][:10], t["day"], t["amount"]) for t in _status(events, "Indy", "taken")]
    assert indy[-2:] == [("2026-03-15", 16, 0.92), ("2026-03-16", 17, 0.92)]


def test_gilenya_scenario_repeats_first_dose_observation_once_per_long_interruption(
    engine: Engine, catalog: Catalog
) -> None:
    events = _run("gilenya-interruption.toml", engine, catalog)

    rules = _rules(events)
    assert {r["rule"] for r in rules} == {"repeat_first_dose_observation"}
    got = [
        (
            r["patient"],
            r["at"][:10],
            r["details"]["first_missed_day"],
            r["details"]["interruption_days"],
        )
        for r in rules
    ]
    assert got == [
        ("Jules", "2026-03-03", 3, 1),  # weeks 1-2: one day is enough
        ("Lee", "2026-03-08", 15, 8),  # weeks 3-4: the 8th day, once (9 days missed)
        ("Morgan", "2026-03-15", 31, 15),  # after month 1: the 15th day
    ]
    assert len(_status(events, "Kai", "missed")) == 7  # 7 days in weeks 3-4: no repeat
    assert len(_status(events, "Lee", "missed")) == 9


def test_quiet_hours_scenario_holds_nudges_but_not_reminders_and_snooze_reminds_again(
    engine: Engine, catalog: Catalog
) -> None:
    events = _run("quiet-hours-and-snooze.toml", engine, catalog)

    assert _texts(events, "Nico")[:5] == [
        ("03-02 21:30", "reminder"),
        ("03-02 21:35", "answer"),  # "OK, we'll remind you in 20 min."
        ("03-02 21:55", "snooze"),
        ("03-03 07:00", "nudge"),  # the 22:55 nudge waited for the end of quiet hours
        ("03-03 07:05", "answer"),
    ]
    first = _status(events, "Nico", "taken")[0]
    assert (first["due"][:16], first["at"][:16], first["late"]) == (
        "2026-03-02T21:30",
        "2026-03-03T07:05",
        False,
    )
    # The second night goes unanswered: nudges at 07:00 and 08:00, missed at 09:30.
    assert _texts(events, "Nico")[-3:] == [
        ("03-03 21:30", "reminder"),
        ("03-04 07:00", "nudge"),
        ("03-04 08:00", "nudge"),
    ]
    assert [m["at"][:16] for m in _status(events, "Nico", "missed")] == ["2026-03-04T09:30"]
    # Oakley's 23:00 dose is inside quiet hours: reminded at 23:00 all the same.
    assert [t for t in _texts(events, "Oakley") if t[1] == "reminder"] == [
        ("03-02 23:00", "reminder"),
        ("03-03 23:00", "reminder"),
    ]
    # Nico keeps the default discretion; Oakley opted in to seeing the drug's name.
    for e in (e for e in events if e["type"] == "sms"):
        named = "Aubagio" in e["text"] or "teriflunomide" in e["text"]
        assert named == (e["patient"] == "Oakley" and e["purpose"] == "reminder"), e
