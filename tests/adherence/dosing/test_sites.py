"""Injection sites in replies, in virtual time: "T LT" records the site, a repeat against
the rotation rule is noted, an unknown site word never stops the dose being recorded."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from typing import Any

import pytest
from sqlmodel import Session

from adherence.care.chart.timeline import read_chart
from adherence.care.exports import export_stream
from adherence.core.config import Settings
from adherence.dosing.dispatch import DispatchPolicy, dispatch_due
from adherence.dosing.materialize import materialize
from adherence.dosing.replies import handle_reply, parse_reply
from adherence.dosing.sites import suggestion
from adherence.storage.models import Dose
from notifiers import texts
from schedules import Catalog
from tests.adherence.engine_helpers import Enrolled, at, doses, enroll, outbox


@pytest.mark.parametrize(
    ("text", "site"),
    [
        ("T LT", "lt"),
        ("t left thigh", "left thigh"),
        ("T MI", "mi"),
        ("tomada muslo izquierdo", "muslo izquierdo"),
        ("T", None),
        ("taken", None),
    ],
)
def test_a_taken_reply_may_carry_site_words(text: str, site: str | None) -> None:
    intent = parse_reply(text)
    assert intent.kind == "taken" and intent.site == site


def _daily_glatiramer(session: Session, catalog: Catalog, **patient: object) -> Enrolled:
    now = at(2026, 3, 1, 12)
    e = enroll(
        session,
        catalog,
        "glatiramer",
        date(2026, 3, 2),
        now=now,
        options={"strength": "20"},
        **patient,
    )
    materialize(session, now=now, catalog=catalog, horizon_days=20)
    return e


def _reply_on(
    session: Session, catalog: Catalog, e: Enrolled, day: int, text: str
) -> tuple[Dose, str | None]:
    when = at(2026, 3, day, 9)
    dispatch_due(session, now=when, catalog=catalog, policy=DispatchPolicy())
    out = handle_reply(
        session, catalog=catalog, patient=e.patient, text=text, now=when + timedelta(minutes=5)
    )
    assert out.dose is not None
    return out.dose, out.answer


def test_a_reply_naming_the_site_records_it_on_the_dose(session: Session, catalog: Catalog) -> None:
    e = _daily_glatiramer(session, catalog)
    dose, answer = _reply_on(session, catalog, e, 2, "T LT")
    session.refresh(dose)
    assert dose.status == "taken" and dose.site == "LT" and dose.site_note == ""
    assert answer == "Thanks, recorded."


def test_a_repeat_within_a_week_is_noted_and_the_patient_told_gently(
    session: Session, catalog: Catalog
) -> None:
    e = _daily_glatiramer(session, catalog)
    _reply_on(session, catalog, e, 2, "T left thigh")
    _reply_on(session, catalog, e, 3, "T RA")
    dose, answer = _reply_on(session, catalog, e, 5, "t lt")
    session.refresh(dose)
    assert dose.status == "taken" and dose.site == "LT"
    assert "same site 3 days after" in dose.site_note
    assert answer == "Thanks, recorded. Note: left thigh was used recently."


def test_spanish_codes_record_the_site_and_answer_in_spanish(
    session: Session, catalog: Catalog
) -> None:
    e = _daily_glatiramer(session, catalog, language="es")
    _reply_on(session, catalog, e, 2, "T MI")
    dose, answer = _reply_on(session, catalog, e, 4, "tomada muslo izquierdo")
    session.refresh(dose)
    assert dose.site == "LT" and dose.site_note
    assert answer == "Gracias, registrado. Nota: muslo izquierdo se usó hace poco."


def test_an_unknown_site_word_still_records_the_dose(session: Session, catalog: Catalog) -> None:
    e = _daily_glatiramer(session, catalog)
    dose, answer = _reply_on(session, catalog, e, 2, "T elbow")
    session.refresh(dose)
    assert dose.status == "taken" and dose.site is None
    assert answer == "Thanks, recorded. Site not recognised; the dose is recorded."


def test_the_suggestion_is_the_least_recently_used_site_the_rule_allows(
    session: Session, catalog: Catalog
) -> None:
    e = _daily_glatiramer(session, catalog)
    _reply_on(session, catalog, e, 2, "T LA")  # the first site listed
    _reply_on(session, catalog, e, 3, "T RA")
    nxt = next(d for d in doses(session, e.plan) if d.local_date == date(2026, 3, 4))
    site = suggestion(session, catalog, nxt)
    assert site is not None and site.code == "LT"  # never used, first listed after LA, RA


def test_a_therapy_without_sites_ignores_site_words(session: Session, catalog: Catalog) -> None:
    now = at(2026, 3, 1, 12)
    e = enroll(session, catalog, "Aubagio", date(2026, 3, 2), now=now)
    materialize(session, now=now, catalog=catalog, horizon_days=3)
    dose, answer = _reply_on(session, catalog, e, 2, "T LT")
    session.refresh(dose)
    assert dose.status == "taken" and dose.site is None and answer == "Thanks, recorded."


def _reminder(session: Session, dose: Dose) -> str:
    rows = outbox(session, purpose="reminder")
    return next(m.body for m in rows if m.dose_id == dose.id)


def test_the_reminder_suggests_the_least_recently_used_site(
    session: Session, catalog: Catalog
) -> None:
    e = _daily_glatiramer(session, catalog)
    first, _ = _reply_on(session, catalog, e, 2, "T LA")
    assert _reminder(session, first).endswith(" Suggested site: left abdomen.")
    second, _ = _reply_on(session, catalog, e, 3, "T RA")
    assert _reminder(session, second).endswith(" Suggested site: right abdomen.")
    third, _ = _reply_on(session, catalog, e, 4, "T")
    assert _reminder(session, third).endswith(" Suggested site: left thigh.")
    assert "glatiramer" not in _reminder(session, third).lower()


def test_the_reminder_suggests_in_spanish(session: Session, catalog: Catalog) -> None:
    e = _daily_glatiramer(session, catalog, language="es")
    dose, _ = _reply_on(session, catalog, e, 2, "T")
    assert _reminder(session, dose).endswith(" Sitio sugerido: abdomen izquierdo.")


def test_the_suggestion_is_left_out_when_it_does_not_fit_the_length_limit() -> None:
    text = "x" * 150
    assert texts.with_site(text, "left thigh", "en", max_length=160) == text
    assert texts.with_site("x", "left thigh", "en", max_length=160).endswith("left thigh.")


def test_exports_carry_the_site_and_the_repeat_note(session: Session, catalog: Catalog) -> None:
    e = _daily_glatiramer(session, catalog)
    _reply_on(session, catalog, e, 2, "T LT")
    repeat, _ = _reply_on(session, catalog, e, 4, "T LT")
    args: dict[str, Any] = dict(
        team=e.team, start=date(2026, 3, 2), end=date(2026, 3, 5), catalog=catalog,
        settings=Settings(),
    )  # fmt: skip
    rows = list(
        csv.DictReader(io.StringIO(b"".join(export_stream(session, fmt="csv", **args)).decode()))
    )
    sited = {r["dose_id"]: (r["site"], r["site_note"]) for r in rows if r["site"]}
    assert sited[str(repeat.id)][0] == "LT" and "same site 2 days after" in sited[str(repeat.id)][1]
    assert len(sited) == 2
    doc = json.loads(b"".join(export_stream(session, fmt="json", **args)))
    assert "'site': 'LT'" in repr(doc) and "same site 2 days after" in repr(doc)
    bundle = json.loads(b"".join(export_stream(session, fmt="fhir", validate=True, **args)))
    sites = [
        en["resource"]["dosage"].get("site", {}).get("text")
        for en in bundle["entry"]
        if en["resource"]["resourceType"] == "MedicationAdministration"
    ]
    assert sites.count("LT") == 2


def test_the_patient_timeline_shows_the_site_name_and_the_repeat(
    session: Session, catalog: Catalog
) -> None:
    e = _daily_glatiramer(session, catalog)
    first, _ = _reply_on(session, catalog, e, 2, "T LT")
    repeat, _ = _reply_on(session, catalog, e, 4, "T MI")
    chart = read_chart(
        session, e.patient, now=at(2026, 3, 4, 12), month=None, catalog=catalog,
        settings=Settings(),
    )  # fmt: skip
    shown = {t.dose.id: (t.site, t.dose.site_note) for t in chart.doses}
    assert shown[first.id] == ("left thigh", "")
    assert shown[repeat.id][0] == "left thigh" and "same site" in shown[repeat.id][1]
