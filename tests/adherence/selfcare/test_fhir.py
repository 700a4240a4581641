"""Check-in answers in the FHIR export: an Observation per answer and a
QuestionnaireResponse per check-in, valid R4B resources (fhir.resources)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation as FhirObservation
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from sqlmodel import Session

from adherence.care.exports import export_stream
from adherence.core.config import Settings
from adherence.core.selfcare_config import CheckinSettings
from adherence.selfcare.cadence import set_cadence
from schedules import Catalog
from tests.adherence.engine_helpers import at, enroll
from tests.adherence.selfcare.helpers import reply, step


def test_answers_export_as_observations_and_a_questionnaire_response(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 3, 1, 8)
    e = enroll(session, catalog, "teriflunomide", date(2026, 3, 1), now=now, times=["08:00"])
    set_cadence(session, patient=e.patient, every_days=7, local_time="18:30",
                items="fatigue,new_symptoms", settings=CheckinSettings(), now=now, by="x")  # fmt: skip
    session.commit()
    step(session, at(2026, 3, 1, 18, 30))
    reply(session, catalog, e.patient, "6", at(2026, 3, 1, 18, 35))
    reply(session, catalog, e.patient, "y", at(2026, 3, 1, 18, 36))
    step(session, at(2026, 3, 8, 18, 30))  # asked, never answered: nothing to export
    raw = b"".join(
        export_stream(session, team=e.team, start=date(2026, 3, 1), end=date(2026, 3, 10),
                      fmt="fhir", catalog=catalog, settings=Settings(), validate=True)
    )  # fmt: skip
    doc = json.loads(raw)
    Bundle.model_validate(doc)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for entry in doc["entry"]:
        by_type.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    observations = by_type["Observation"]
    for res in observations:
        FhirObservation.model_validate(res)
    assert [(o["code"]["coding"][0]["code"], o.get("valueInteger", o.get("valueBoolean")))
            for o in observations] == [("fatigue", 6), ("new_symptoms", True)]  # fmt: skip
    assert all(
        o["code"]["coding"][0]["system"] == "urn:adherence:checkin-item" for o in observations
    )
    assert all(o["category"][0]["coding"][0]["code"] == "survey" for o in observations)
    [qr] = by_type["QuestionnaireResponse"]
    QuestionnaireResponse.model_validate(qr)
    assert qr["status"] == "completed"
    assert [i["linkId"] for i in qr["item"]] == ["fatigue", "new_symptoms"]
    assert qr["item"][0]["answer"] == [{"valueInteger": 6}]
    urls = {entry["fullUrl"] for entry in doc["entry"]}
    assert all(o["derivedFrom"][0]["reference"] in urls for o in observations)
    assert all(o["subject"]["reference"] in urls for o in observations)
    outside = b"".join(
        export_stream(session, team=e.team, start=date(2026, 3, 2),
                      end=date(2026, 3, 2) + timedelta(days=3), fmt="fhir",
                      catalog=catalog, settings=Settings(), validate=True)
    )  # fmt: skip
    types = {x["resource"]["resourceType"] for x in json.loads(outside)["entry"]}
    assert "Observation" not in types and "QuestionnaireResponse" not in types
