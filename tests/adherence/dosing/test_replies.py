"""Reply keywords: English and Spanish, any case, spaces and punctuation."""

from __future__ import annotations

import pytest

from adherence.dosing.replies import parse_reply


@pytest.mark.parametrize(
    "text",
    [
        "T",
        "t",
        " taken ",
        "TAKEN!",
        "yes",
        "Y",
        "1",
        "done.",
        "\u2705",
        "\u2705 gracias",
        "Si",
        "s\u00ed",
        "tomada",
        "Listo",
    ],
)
def test_taken_keywords(text: str) -> None:
    assert parse_reply(text).kind == "taken"


@pytest.mark.parametrize("text", ["S", "skip", "SKIP.", "2", "omitir", "Saltar"])
def test_skip_keywords(text: str) -> None:
    assert parse_reply(text).kind == "skip"


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("SNOOZE", None),
        ("snooze 45", 45),
        ("Z", None),
        ("later", None),
        ("z 10", 10),
        ("posponer 20", 20),
        ("m\u00e1s tarde", None),
        ("snooze 9999", None),
    ],
)
def test_snooze_keywords_and_minutes(text: str, minutes: int | None) -> None:
    intent = parse_reply(text)
    assert intent.kind == "snooze" and intent.minutes == minutes


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop",
        "StopAll",
        "UNSUBSCRIBE",
        "cancel",
        "END",
        "quit",
        "REVOKE",
        "OPTOUT",
        "Stop.",
        "baja",
    ],
)
def test_opt_out_family(text: str) -> None:
    assert parse_reply(text).kind == "stop"


@pytest.mark.parametrize("text", ["START", "unstop", "Start!"])
def test_opt_back_in(text: str) -> None:
    assert parse_reply(text).kind == "start"


@pytest.mark.parametrize("text", ["HELP", "info", "Ayuda", "help?"])
def test_help(text: str) -> None:
    assert parse_reply(text).kind == "help"


@pytest.mark.parametrize(
    "text", ["FLARE", "relapse", "flare: numb left leg", "Brote", "reca\u00edda"]
)
def test_flare_reports(text: str) -> None:
    assert parse_reply(text).kind == "flare"


@pytest.mark.parametrize("text", ["", "   ", "what?", "call me", "\U0001f600", "stop it please"])
def test_anything_else_is_unknown(text: str) -> None:
    assert parse_reply(text).kind == "unknown"


def test_a_short_code_names_the_dose() -> None:
    intent = parse_reply("T a123")
    assert intent.kind == "taken" and intent.code == "A123"
