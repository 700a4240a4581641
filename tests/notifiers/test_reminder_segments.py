"""The home-dose reminder and nudge stay one SMS segment (160 GSM-7 septets, or 70 UCS-2
units when a character is outside GSM-7) in English and Spanish, with a reply code and
whose dose it is, for every drug name of the catalog."""

from __future__ import annotations

import pytest

from adherence.dosing.codes import DIGITS, LETTERS
from notifiers import texts
from schedules import Catalog

TEAM = "Riverside MS Clinic"
CODE = f"{LETTERS[-1]}{DIGITS[-1]}"  # any code is a letter and a digit


def _names(catalog: Catalog) -> list[str]:
    """Every name a named reminder may carry ("Copaxone 40 mg"), longest first."""
    names = {f"{b} 1000 mg" for t in catalog for b in [*t.brands, t.name]}
    return sorted(names, key=len, reverse=True)


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("whose", ["", "A.M.", "Alexandra"])
@pytest.mark.parametrize("code", ["", CODE])
def test_reminder_and_nudge_fit_one_segment_with_the_code(
    catalog: Catalog, language: str, whose: str, code: str
) -> None:
    for discreet, what in [(True, ""), *((False, name) for name in _names(catalog))]:
        t = texts.DoseText(
            team=TEAM,
            language=language,
            discreet=discreet,
            what=what,
            local_time="20:00",
            code=code,
            whose=whose,
        )
        for body in (texts.reminder(t), texts.nudge(t)):
            assert texts.one_segment(body), (body, texts.sms_units(body))
            assert body.startswith(TEAM)
            assert f"T {code}" in body if code else " T" in body
            assert whose in body
            assert discreet or what in body


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_discreet_reminder_with_a_code_is_gsm7_and_keeps_its_full_wording(
    language: str,
) -> None:
    t = texts.DoseText(team=TEAM, language=language, local_time="08:00", code=CODE)
    plain = texts.reminder(texts.DoseText(team=TEAM, language=language, local_time="08:00"))
    coded = texts.reminder(t)
    assert texts.sms_units(coded)[0] == "gsm7"
    # the same wording as without a code: the code after each of T, S and Z
    expected = plain
    for letter in "TSZ":
        expected = expected.replace(f" {letter} ", f" {letter} {CODE} ")
    assert coded == expected != plain


def test_a_team_name_outside_gsm7_still_fits_seventy_units() -> None:
    t = texts.DoseText(
        team="Clínica Río", language="es", local_time="08:00", code=CODE, whose="A.M."
    )
    body = texts.reminder(t)
    assert texts.sms_units(body)[0] == "ucs2"
    assert texts.one_segment(body) and f"T {CODE}" in body and "A.M." in body
