"""Check-in answers in the CSV and JSON exports (SQLite and PostgreSQL): one ``observation``
row / object per answer observed in the period (the patient's calendar), read back with the
csv and json parsers and checked against the stored observations.

The answers come through the real check-in flow: a weekly check-in at 18:30 New York time,
answered by text (docs/checkins.md). The period 2 to 14 March holds week 1's check-in only.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime

from sqlmodel import Session, select

from adherence.care.exports import CSV_HEADER, OBSERVATION_COLUMNS, export_stream
from adherence.core.config import Settings
from adherence.dosing.materialize import materialize
from adherence.storage.models import CareTeam, Patient
from adherence.storage.selfcare import Observation
from schedules import Catalog
from tests.adherence.engine_helpers import at
from tests.adherence.selfcare.helpers import observations
from tests.adherence.selfcare.test_checkins import patient_with_cadence, weekly

START, END = date(2026, 3, 2), date(2026, 3, 14)


def answered(session: Session, catalog: Catalog) -> tuple[Patient, CareTeam, list[Observation]]:
    p = patient_with_cadence(session, catalog)
    materialize(session, now=at(2026, 3, 1, 9), catalog=catalog, horizon_days=20)  # doses too
    weekly(session, catalog, p, 0, "7", "3", "2", "N")  # 1 Mar: before the period
    weekly(session, catalog, p, 1, "9", "4", "2", "Y")  # 8 Mar
    weekly(session, catalog, p, 2, "5", "5", "5", "N")  # 15 Mar: after it
    team = session.get(CareTeam, p.team_id)
    assert team is not None
    inside = [o for o in observations(session) if o.observed_at.date() == date(2026, 3, 8)]
    assert len(inside) == 4
    return p, team, inside


def export(session: Session, team: CareTeam, catalog: Catalog, fmt: str) -> bytes:
    return b"".join(
        export_stream(
            session, team=team, start=START, end=END, fmt=fmt, catalog=catalog, settings=Settings()
        )
    )


def test_csv_has_an_observation_row_per_answer_in_the_period(
    session: Session, catalog: Catalog
) -> None:
    p, team, inside = answered(session, catalog)
    rows = list(csv.DictReader(io.StringIO(export(session, team, catalog, "csv").decode())))
    assert list(rows[0]) == CSV_HEADER and CSV_HEADER[-len(OBSERVATION_COLUMNS) :] == (
        OBSERVATION_COLUMNS
    )
    records = [r["record"] for r in rows]
    answers = [r for r in rows if r["record"] == "observation"]
    # After the patient's doses, before their summary.
    assert records[-1] == "summary" and records.index("observation") > records.index("dose")
    assert [int(r["observation_id"]) for r in answers] == [o.id for o in inside]
    assert [(r["item"], r["value_type"], r["value"]) for r in answers] == [
        ("fatigue", "score", "9"),
        ("mood", "score", "4"),
        ("walking", "score", "2"),
        ("new_symptoms", "yes_no", "true"),
    ]
    for r, o in zip(answers, inside, strict=True):
        at = datetime.fromisoformat(r["observed_at"])
        assert at == o.observed_at and at.utcoffset() is not None and at.hour == 18
        assert (r["patient_id"], r["source"], r["questionnaire"]) == (str(p.id), "sms", "checkin")
        assert r["conversation"].startswith("checkin:") and r["dose_id"] == "" and r["pdc"] == ""
    assert len({r["conversation"] for r in answers}) == 1  # one check-in
    for r in rows:
        if r["record"] != "observation":
            assert all(r[c] == "" for c in OBSERVATION_COLUMNS)


def test_json_lists_each_patients_answers_in_the_period(session: Session, catalog: Catalog) -> None:
    _, team, inside = answered(session, catalog)
    doc = json.loads(export(session, team, catalog, "json"))
    (patient,) = doc["patients"]
    got = patient["observations"]
    assert [o["id"] for o in got] == [o.id for o in inside]
    assert [(o["item"], o["value"]) for o in got] == [
        ("fatigue", 9),
        ("mood", 4),
        ("walking", 2),
        ("new_symptoms", True),
    ]
    assert {(o["source"], o["questionnaire"], o["value_type"]) for o in got[:3]} == {
        ("sms", "checkin", "score")
    }
    assert datetime.fromisoformat(got[0]["observed_at"]) == inside[0].observed_at
    assert patient["doses"]  # the doses are still there


def test_an_answer_without_a_question_is_exported_alone(session: Session, catalog: Catalog) -> None:
    p, team, _ = answered(session, catalog)
    entered = Observation(patient_id=p.id or 0, item="walking", value_type="score", value=6,
                          observed_at=at(2026, 3, 10, 15), source="clinic",
                          recorded_by="nurse")  # fmt: skip
    session.add(entered)
    session.commit()
    doc = json.loads(export(session, team, catalog, "json"))
    (alone,) = [o for o in doc["patients"][0]["observations"] if o["id"] == entered.id]
    assert (alone["source"], alone["conversation"], alone["value"]) == ("clinic", None, 6)
    assert session.exec(select(Observation).where(Observation.id == entered.id)).one()
