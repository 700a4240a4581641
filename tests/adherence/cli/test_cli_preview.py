"""`adherence regimens` and `adherence preview`, run as the installed console script."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

ADHERENCE = Path(sys.executable).parent / "adherence"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ADHERENCE), *args], capture_output=True, text=True, timeout=60, check=False
    )


def ok_json(*args: str) -> Any:
    done = run(*args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def refused(*args: str) -> str:
    """The one stderr line of a command that must fail (and print nothing on stdout)."""
    done = run(*args)
    assert done.returncode != 0
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


# --- adherence regimens ------------------------------------------------------------------


def test_regimens_json_lists_all_25_therapies_with_their_fields() -> None:
    therapies = ok_json("regimens", "--json")
    assert len(therapies) == 25
    assert len({t["code"] for t in therapies}) == 25
    for t in therapies:
        assert isinstance(t["code"], str) and t["code"]
        assert isinstance(t["name"], str) and t["name"]
        assert isinstance(t["brands"], list)
        assert t["kind"] in ("oral", "injectable", "infusion", "relapse")
        assert isinstance(t["options"], dict)
    by_code = {t["code"]: t for t in therapies}
    assert by_code["ocrelizumab-sc"]["brands"] == ["Ocrevus Zunovo"]
    assert by_code["siponimod"]["options"]["cyp2c9"]["required"] is True
    assert by_code["glatiramer"]["options"]["strength"]["values"] == ["20", "40"]
    kinds = [t["kind"] for t in therapies]
    assert (kinds.count("injectable"), kinds.count("oral")) == (6, 9)
    assert (kinds.count("infusion"), kinds.count("relapse")) == (6, 4)


def test_regimens_table_names_each_therapy() -> None:
    done = run("regimens")
    assert done.returncode == 0, done.stderr
    for code in ("glatiramer", "cladribine", "ocrelizumab-sc", "plasma-exchange"):
        assert code in done.stdout


def test_regimens_show_ocrevus_mentions_the_5_month_spacing() -> None:
    done = run("regimens", "show", "ocrevus")
    assert done.returncode == 0, done.stderr
    assert "ocrelizumab (Ocrevus)" in done.stdout
    assert "5 months" in done.stdout


def test_regimens_show_an_unknown_therapy_fails_with_a_suggestion() -> None:
    assert "Tecfidera" in refused("regimens", "show", "tecfidra")


# --- adherence preview -------------------------------------------------------------------

TECFIDERA = ["preview", "tecfidera", "--start", "2026-03-06", "--tz", "America/New_York"]


def test_preview_tecfidera_json_has_8_items_with_offsets_across_the_dst_change() -> None:
    items = ok_json(*TECFIDERA, "--days", "4", "--json")
    # Fri 6 - Mon 9 Mar 2026; clocks go forward on Sun 8 Mar at 02:00.
    assert [i["at"] for i in items] == [
        "2026-03-06T08:00:00-05:00",
        "2026-03-06T20:00:00-05:00",
        "2026-03-07T08:00:00-05:00",
        "2026-03-07T20:00:00-05:00",
        "2026-03-08T08:00:00-04:00",
        "2026-03-08T20:00:00-04:00",
        "2026-03-09T08:00:00-04:00",
        "2026-03-09T20:00:00-04:00",
    ]
    offsets = [datetime.fromisoformat(i["at"]).utcoffset() for i in items]
    assert offsets == [timedelta(hours=-5)] * 4 + [timedelta(hours=-4)] * 4
    for item in items:
        assert item["amount"] == 120 and isinstance(item["amount"], int | float)
        assert not isinstance(item["amount"], bool)
        assert item["unit"] == "mg"
        assert item["kind"] == "dose"
        assert item["phase"] == "titration"
        assert item["label"] == "120 mg capsule"
        assert "earliest" not in item and "latest" not in item
    assert [i["day"] for i in items] == [1, 1, 2, 2, 3, 3, 4, 4]


def test_preview_until_covers_the_same_days_as_days() -> None:
    by_days = run(*TECFIDERA, "--days", "10", "--json")
    by_until = run(*TECFIDERA, "--until", "2026-03-15", "--json")
    assert by_days.returncode == by_until.returncode == 0
    assert by_days.stdout == by_until.stdout
    assert len(json.loads(by_days.stdout)) == 20
    # Day 8 (13 Mar) is the first maintenance day.
    assert json.loads(by_days.stdout)[14]["amount"] == 240


def test_preview_time_is_repeated_once_per_daily_dose_and_sorted() -> None:
    items = ok_json(*TECFIDERA, "--days", "1", "--time", "21:15", "--time", "07:45", "--json")
    assert [i["at"] for i in items] == [
        "2026-03-06T07:45:00-05:00",
        "2026-03-06T21:15:00-05:00",
    ]


def test_preview_time_in_the_spring_gap_moves_forward_by_the_gap() -> None:
    items = ok_json(
        "preview", "Aubagio", "--start", "2026-03-08", "--tz", "America/New_York",
        "--days", "2", "--time", "02:30", "--json",
    )  # fmt: skip
    assert [i["at"] for i in items] == [
        "2026-03-08T03:30:00-04:00",
        "2026-03-09T02:30:00-04:00",
    ]


@pytest.mark.parametrize("times", [["08:00"], ["06:00", "12:00", "18:00"]])
def test_preview_refuses_the_wrong_number_of_times(times: list[str]) -> None:
    flags = [arg for t in times for arg in ("--time", t)]
    message = refused(*TECFIDERA, "--days", "2", *flags)
    assert "2 time(s)" in message


def test_preview_refuses_a_time_that_is_not_hh_mm() -> None:
    assert "--time" in refused(*TECFIDERA, "--days", "2", "--time", "8am", "--time", "20:00")


def test_preview_unknown_option_lists_the_valid_ones() -> None:
    message = refused(
        "preview", "glatiramer", "--start", "2026-03-02", "--tz", "UTC", "--days", "7",
        "--option", "dose=40",
    )  # fmt: skip
    assert "'dose'" in message
    assert "strength (20|40)" in message
    assert "weekdays" in message


def test_preview_with_options_applies_them() -> None:
    items = ok_json(
        "preview", "glatiramer", "--start", "2026-03-03", "--tz", "UTC", "--days", "7",
        "--option", "strength=40", "--option", "weekdays=mon,wed,fri", "--json",
    )  # fmt: skip
    assert [i["at"][:10] for i in items] == ["2026-03-04", "2026-03-06", "2026-03-09"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["preview", "tecfidera", "--start", "2026-03-06", "--tz", "Mars/Olympus_Mons"], "zone"),
        (["preview", "tecfidera", "--start", "2026-02-30", "--tz", "UTC"], "not a date"),
        (["preview", "tecfidera", "--start", "6/3/2026", "--tz", "UTC"], "not a date"),
        (["preview", "no-such-drug", "--start", "2026-03-06", "--tz", "UTC"], "unknown therapy"),
        (["preview", "interferon beta-1a", "--start", "2026-03-06", "--tz", "UTC"], "several"),
        (["preview", "Mayzent", "--start", "2026-03-06", "--tz", "UTC"], "cyp2c9"),
    ],
)
def test_preview_bad_input_exits_non_zero_with_one_line(args: list[str], words: str) -> None:
    assert words in refused(*args, "--days", "3")


@pytest.mark.parametrize(
    "span",
    [
        [],  # neither
        ["--days", "3", "--until", "2026-03-08"],  # both
        ["--days", "0"],
        ["--until", "2026-03-01"],  # before the start
    ],
)
def test_preview_needs_exactly_one_sensible_span(span: list[str]) -> None:
    refused(*TECFIDERA, *span)


def test_preview_infusion_with_a_window_carries_earliest_and_latest() -> None:
    items = ok_json(
        "preview", "Ocrevus", "--start", "2026-03-02", "--tz", "Europe/Paris",
        "--until", "2027-03-02", "--json",
    )  # fmt: skip
    assert [(i["at"], i["amount"]) for i in items] == [
        ("2026-03-02T09:00:00+01:00", 300),
        ("2026-03-16T09:00:00+01:00", 300),
        ("2026-09-02T09:00:00+02:00", 600),
        ("2027-03-02T09:00:00+01:00", 600),
    ]
    assert {i["kind"] for i in items} == {"infusion"}
    assert "earliest" not in items[0] and "latest" not in items[0]
    assert (items[2]["earliest"], items[2]["latest"]) == ("2026-08-16", "2026-10-02")
    assert (items[3]["earliest"], items[3]["latest"]) == ("2027-02-02", "2027-04-02")


def test_preview_monitoring_items_are_kind_monitoring() -> None:
    items = ok_json(
        "preview", "Gilenya", "--start", "2026-03-02", "--tz", "UTC", "--days", "2", "--json"
    )
    assert [(i["kind"], i["at"]) for i in items] == [
        ("monitoring", "2026-03-02T09:00:00+00:00"),
        ("dose", "2026-03-02T09:00:00+00:00"),
        ("dose", "2026-03-03T09:00:00+00:00"),
    ]


def test_preview_table_says_what_it_covers() -> None:
    done = run(*TECFIDERA, "--days", "2")
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first == (
        "dimethyl fumarate (Tecfidera): Day 1 = 2026-03-06, through 2026-03-07, "
        "zone America/New_York, 4 item(s)"
    )
