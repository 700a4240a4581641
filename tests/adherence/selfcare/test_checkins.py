"""Symptom check-ins on SQLite and PostgreSQL, in virtual time: the cadence, one question at
a time, answers stored as observations, flags, expiry, Spanish, STOP and dose precedence."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import Session

from adherence.core.selfcare_config import CheckinSettings
from adherence.dosing.dispatch import dispatch_due
from adherence.dosing.materialize import materialize
from adherence.selfcare.cadence import CadenceError, set_cadence, show_cadence, stop_cadence
from adherence.storage.models import Patient
from adherence.storage.selfcare import CheckinSchedule
from schedules import Catalog
from tests.adherence.engine_helpers import NO_NUDGES, at, enroll
from tests.adherence.selfcare.helpers import (
    flags,
    observations,
    prompts,
    reply,
    step,
    texts_sent,
)

SETTINGS = CheckinSettings()


def patient_with_cadence(
    session: Session,
    catalog: Catalog,
    *,
    items: str = "",
    language: str = "en",
    dose_time: str = "08:00",
    n: int = 0,
) -> Patient:
    now = at(2026, 3, 1, 8)
    enrolled = enroll(
        session, catalog, "teriflunomide", date(2026, 3, 1), now=now, times=[dose_time],
        language=language, n=n,
    )  # fmt: skip
    set_cadence(
        session,
        patient=enrolled.patient,
        every_days=7,
        local_time="18:30",
        items=items,
        settings=SETTINGS,
        now=now,
        by="coordinator@example.org",
    )
    session.commit()
    return enrolled.patient


def weekly(
    session: Session, catalog: Catalog, patient: Patient, week: int, *answers: str
) -> list[str]:
    """Run week ``week``'s check-in (18:30 local) and answer it; returns what we answered."""
    asked = at(2026, 3, 1 + 7 * week, 18, 30)
    step(session, asked)
    said = []
    for k, text in enumerate(answers):
        outcome = reply(session, catalog, patient, text, asked + timedelta(minutes=5 + k))
        said.append(outcome.answer or "")
    return said


def test_checkin_is_sent_on_cadence_one_question_at_a_time(
    session: Session, catalog: Catalog
) -> None:
    patient = patient_with_cadence(session, catalog)
    assert step(session, at(2026, 3, 1, 18, 29)) == at(2026, 3, 1, 18, 30)
    assert texts_sent(session, "checkin") == []

    step(session, at(2026, 3, 1, 18, 30))
    sent = texts_sent(session, "checkin")
    assert len(sent) == 1
    assert sent[0].body.startswith("Riverside MS Clinic check-in (1/4): How tired")
    assert sent[0].to == patient.phone

    answers = [
        reply(session, catalog, patient, text, at(2026, 3, 1, 18, 40 + k))
        for k, text in enumerate(["7", "3", "2", "N"])
    ]
    assert answers[0].intent.kind == "checkin"
    assert answers[0].answer is not None and answers[0].answer.startswith("Noted: fatigue 7. (2/4)")
    assert answers[2].answer is not None and "(4/4) Any new symptoms" in answers[2].answer
    assert answers[3].answer == (
        "Noted: new symptoms no. Riverside MS Clinic: thank you, your check-in is complete."
    )
    stored = observations(session)
    assert [(o.item, o.value, o.value_type) for o in stored] == [
        ("fatigue", 7.0, "score"),
        ("mood", 3.0, "score"),
        ("walking", 2.0, "score"),
        ("new_symptoms", 0.0, "yes_no"),
    ]
    assert all(o.prompt_id is not None and o.source == "sms" for o in stored)
    assert [p.status for p in prompts(session)] == ["answered"] * 4
    assert flags(session, "symptom_worse") == []  # 7 is under the threshold of 8

    # A week later, the next one; nothing in between.
    assert step(session, at(2026, 3, 5, 12)) == at(2026, 3, 8, 18, 30)
    assert len(texts_sent(session, "checkin")) == 1
    step(session, at(2026, 3, 8, 18, 30))
    assert len(texts_sent(session, "checkin")) == 2


def test_threshold_raises_one_symptom_worse_flag_per_checkin(
    session: Session, catalog: Catalog
) -> None:
    patient = patient_with_cadence(session, catalog)
    weekly(session, catalog, patient, 0, "9", "2", "9", "n")
    [flag] = flags(session, "symptom_worse")
    assert flag.severity == "normal" and flag.occurrences == 1
    reasons = flag.details["reasons"]
    assert [(r["item"], r["reason"]) for r in reasons] == [
        ("fatigue", "threshold"),
        ("walking", "threshold"),
    ]
    # The next week's high answer recurs on the open flag.
    weekly(session, catalog, patient, 1, "8", "1", "1", "n")
    [flag] = flags(session, "symptom_worse")
    assert flag.occurrences == 2


def test_sharp_worsening_above_the_median_of_the_last_answers_flags(
    session: Session, catalog: Catalog
) -> None:
    patient = patient_with_cadence(session, catalog, items="fatigue")
    for week, value in enumerate(["2", "3", "2", "4"]):
        weekly(session, catalog, patient, week, value)
    assert flags(session, "symptom_worse") == []  # 4 is 2 above the median 2: not enough
    weekly(session, catalog, patient, 4, "6")  # median of 3, 2, 4 is 3: 6 is 3 above
    [flag] = flags(session, "symptom_worse")
    [reason] = flag.details["reasons"]
    assert reason == {
        "item": "fatigue", "value": 6.0, "reason": "worsening", "median": 3.0, "points": 3,
    }  # fmt: skip


def test_new_symptoms_yes_raises_a_flag(session: Session, catalog: Catalog) -> None:
    patient = patient_with_cadence(session, catalog, items="new_symptoms")
    [said] = weekly(session, catalog, patient, 0, "Yes")
    assert said.startswith("Noted: new symptoms yes.")
    [flag] = flags(session, "symptom_worse")
    assert flag.details["reasons"] == [{"item": "new_symptoms", "value": "yes", "reason": "yes"}]


def test_an_unanswered_question_expires_and_ends_the_checkin(
    session: Session, catalog: Catalog
) -> None:
    patient = patient_with_cadence(session, catalog)
    step(session, at(2026, 3, 1, 18, 30))
    assert step(session, at(2026, 3, 1, 19)) == at(2026, 3, 1, 18, 30) + timedelta(hours=12)
    step(session, at(2026, 3, 2, 6, 30))
    assert [p.status for p in prompts(session)] == ["expired"]
    late = reply(session, catalog, patient, "7", at(2026, 3, 2, 7))
    assert late.intent.kind != "checkin"  # no open question: a dose reply as before
    assert observations(session) == []
    assert len(texts_sent(session, "checkin")) == 1  # the other questions wait a week


def test_spanish_checkin(session: Session, catalog: Catalog) -> None:
    patient = patient_with_cadence(session, catalog, items="fatigue,new_symptoms", language="es")
    step(session, at(2026, 3, 1, 18, 30))
    [sent] = texts_sent(session, "checkin")
    assert sent.body.startswith("Riverside MS Clinic consulta (1/2): Cuanto cansancio")
    assert sent.body.endswith("Responda 0-10.")
    first = reply(session, catalog, patient, "4", at(2026, 3, 1, 18, 35))
    assert first.answer is not None and first.answer.startswith("Anotado: cansancio 4. (2/2)")
    last = reply(session, catalog, patient, "Sí", at(2026, 3, 1, 18, 36))
    assert last.answer is not None and last.answer.startswith("Anotado: sintomas nuevos si.")
    assert [o.value for o in observations(session)] == [4.0, 1.0]


def test_stop_cancels_the_open_question_and_the_cadence_sends_nothing(
    session: Session, catalog: Catalog
) -> None:
    patient = patient_with_cadence(session, catalog)
    step(session, at(2026, 3, 1, 18, 30))
    stop = reply(session, catalog, patient, "STOP", at(2026, 3, 1, 18, 35))
    assert stop.intent.kind == "stop"
    assert [p.status for p in prompts(session)] == ["cancelled"]
    step(session, at(2026, 3, 8, 18, 30))
    assert len(texts_sent(session, "checkin")) == 1  # only the one before STOP
    schedule = session.get(CheckinSchedule, 1)
    assert schedule is not None and schedule.next_at == at(2026, 3, 15, 18, 30)
    # START: the cadence resumes at its next time.
    reply(session, catalog, patient, "START", at(2026, 3, 9, 9))
    step(session, at(2026, 3, 15, 18, 30))
    assert len(texts_sent(session, "checkin")) == 2


def test_a_question_asked_after_the_dose_reminder_wins_a_yes(
    session: Session, catalog: Catalog
) -> None:
    patient = patient_with_cadence(session, catalog, items="new_symptoms", dose_time="18:00")
    materialize(session, now=at(2026, 3, 1, 8), catalog=catalog, horizon_days=3)
    dispatch_due(session, now=at(2026, 3, 1, 18), catalog=catalog, policy=NO_NUDGES)
    session.commit()
    assert len(texts_sent(session, "reminder")) == 1
    step(session, at(2026, 3, 1, 18, 30))  # asked after the reminder
    outcome = reply(session, catalog, patient, "yes", at(2026, 3, 1, 18, 40))
    assert outcome.intent.kind == "checkin"
    assert [o.value for o in observations(session)] == [1.0]
    # The dose is still open: "T" confirms it as always.
    dose = reply(session, catalog, patient, "T", at(2026, 3, 1, 18, 41))
    assert dose.intent.kind == "taken" and dose.dose is not None


def test_a_dose_reminder_after_the_question_wins_a_yes(session: Session, catalog: Catalog) -> None:
    patient = patient_with_cadence(session, catalog, items="new_symptoms", dose_time="19:00")
    materialize(session, now=at(2026, 3, 1, 8), catalog=catalog, horizon_days=3)
    step(session, at(2026, 3, 1, 18, 30))  # asked, then the 19:00 reminder
    dispatch_due(session, now=at(2026, 3, 1, 19), catalog=catalog, policy=NO_NUDGES)
    session.commit()
    outcome = reply(session, catalog, patient, "yes", at(2026, 3, 1, 19, 5))
    assert outcome.intent.kind == "taken" and outcome.dose is not None
    assert observations(session) == []
    assert [p.status for p in prompts(session)] == ["open"]  # still waiting for its answer


def test_cadence_errors_name_the_field_and_stop_ends_it(session: Session, catalog: Catalog) -> None:
    patient = patient_with_cadence(session, catalog)
    now = at(2026, 3, 2, 9)
    with pytest.raises(CadenceError, match="every: 0"):
        set_cadence(session, patient=patient, every_days=0, local_time="18:30", items="",
                    settings=SETTINGS, now=now, by="x")  # fmt: skip
    with pytest.raises(CadenceError, match="at: '25:00'"):
        set_cadence(session, patient=patient, every_days=7, local_time="25:00", items="",
                    settings=SETTINGS, now=now, by="x")  # fmt: skip
    with pytest.raises(CadenceError, match="items: unknown check-in item sleep"):
        set_cadence(session, patient=patient, every_days=7, local_time="18:30", items="sleep",
                    settings=SETTINGS, now=now, by="x")  # fmt: skip
    assert patient.id is not None
    assert stop_cadence(session, patient_id=patient.id, now=now)
    session.commit()
    view = show_cadence(session, patient_id=patient.id, settings=SETTINGS)
    assert view is not None and not view.active and view.next_at is None
    step(session, at(2026, 3, 8, 18, 30))
    assert texts_sent(session, "checkin") == []
