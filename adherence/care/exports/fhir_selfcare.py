"""Patient-reported answers in the FHIR export: an Observation per answer and a
QuestionnaireResponse per check-in or flare triage.

No standard LOINC or SNOMED CT code fits a single 0-10 question in the clinic's own words
(the validated instruments, such as PROMIS or the MFIS, have their own wording and scoring),
so each answer is coded in this project's code system ``urn:adherence:checkin-item`` with
the question's code (``fatigue``, ``mood``, ``walking``, ``new_symptoms``, ``triage_new``,
``triage_24h``, or the clinic's own), and categorised ``survey`` (HL7 observation-category).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from adherence.storage.models import Patient
from adherence.storage.selfcare import Observation, Prompt
from notifiers.selfcare_texts import BUILT_IN, TRIAGE, YES_NO

_NS = uuid.UUID("6f1c1d7e-3c55-4b7e-9a57-0a6d3f3a2b10")  # the export's urn:uuid namespace
ITEM_SYSTEM = "urn:adherence:checkin-item"
QUESTIONNAIRE = {
    "checkin": "urn:adherence:questionnaire:checkin",
    "triage": "urn:adherence:questionnaire:flare-triage",
}
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_WORDING = {q.code: q.en for q in (*BUILT_IN.values(), *TRIAGE)}


def _urn(kind: str, ident: object) -> str:
    return f"urn:uuid:{uuid.uuid5(_NS, f'{kind}:{ident}')}"


def _time(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def _value(o: Observation) -> dict[str, Any]:
    if o.value_type == YES_NO:
        return {"valueBoolean": o.value >= 1}
    return {"valueInteger": int(o.value)}


def selfcare_resources(
    session: Session, patient: Patient, patient_ref: str, start: date, end: date
) -> list[tuple[str, dict[str, Any]]]:
    """(fullUrl, resource) for the patient's answers observed in [start, end] (local days)."""
    zone = ZoneInfo(patient.tz)
    since = datetime.combine(start, time(0), zone)
    until = datetime.combine(end + timedelta(days=1), time(0), zone)
    rows = session.exec(
        select(Observation, Prompt)
        .join(Prompt, col(Prompt.id) == Observation.prompt_id, isouter=True)
        .where(
            Observation.patient_id == patient.id,
            Observation.observed_at >= since,
            Observation.observed_at < until,
        )
        .order_by(col(Observation.observed_at), col(Observation.id))
    ).all()
    out: list[tuple[str, dict[str, Any]]] = []
    groups: dict[str, list[tuple[Observation, Prompt | None]]] = {}
    for o, p in rows:
        key = p.conversation if p is not None else f"single:{o.id}"
        groups.setdefault(key, []).append((o, p))
    for conversation, answers in groups.items():
        qr_ref = _urn("questionnaire-response", conversation)
        kind = answers[0][1].kind if answers[0][1] is not None else "checkin"
        for o, _ in answers:
            out.append((_urn("observation", o.id), _observation(o, patient_ref, qr_ref)))
        out.append((qr_ref, _response(conversation, kind, answers, patient_ref)))
    return out


def _observation(o: Observation, patient_ref: str, qr_ref: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"observation-{o.id}",
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY, "code": "survey"}]}],
        "code": {
            "coding": [{"system": ITEM_SYSTEM, "code": o.item}],
            "text": _WORDING.get(o.item, o.item.replace("_", " ")),
        },
        "subject": {"reference": patient_ref},
        "effectiveDateTime": _time(o.observed_at),
        "performer": [{"reference": patient_ref}],
        "derivedFrom": [{"reference": qr_ref}],
        **_value(o),
    }


def _response(
    conversation: str,
    kind: str,
    answers: list[tuple[Observation, Prompt | None]],
    patient_ref: str,
) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "id": f"qr-{uuid.uuid5(_NS, conversation)}",
        "identifier": {"system": "urn:adherence:conversation", "value": conversation},
        "questionnaire": QUESTIONNAIRE.get(kind, QUESTIONNAIRE["checkin"]),
        "status": "completed",
        "subject": {"reference": patient_ref},
        "source": {"reference": patient_ref},
        "authored": _time(max(o.observed_at for o, _ in answers)),
        "item": [
            {
                "linkId": o.item,
                "text": _WORDING.get(o.item, o.item.replace("_", " ")),
                "answer": [_value(o)],
            }
            for o, _ in answers
        ],
    }
