"""The calendar-link text lives with the other patient texts, in English and Spanish."""

from __future__ import annotations

from notifiers.texts import feed_link

URL = "https://care.example.org/calendar/abc.ics"


def test_feed_link_names_the_team_and_speaks_the_patients_language() -> None:
    assert feed_link("North Clinic", URL) == (
        f"North Clinic: add your therapy calendar to your phone: {URL}"
    )
    assert feed_link("North Clinic", URL, "es") == (
        f"North Clinic: agregue su calendario de tratamiento al teléfono: {URL}"
    )


def test_feed_link_without_a_team_or_in_an_unknown_language() -> None:
    assert feed_link(None, URL) == f"add your therapy calendar to your phone: {URL}"
    assert feed_link("North Clinic", URL, "fr").startswith("North Clinic: add your")
