"""The ``symptom_worse`` flag: a check-in answer at or above the clinic's threshold, a
score ``worsening_points`` above the median of the patient's previous answers to that
question, or a yes to a yes/no question (new symptoms). One flag occurrence per check-in:
each answer re-reads the whole check-in and refreshes the flag's reasons.
"""

from __future__ import annotations

from datetime import datetime
from statistics import median
from typing import Any

from sqlmodel import Session, col, select

from adherence.care.flags.store import raise_flag
from adherence.core.selfcare_config import CheckinSettings
from adherence.selfcare.questions import QuestionSet
from adherence.storage.models import Flag, Patient
from adherence.storage.selfcare import Observation, Prompt
from notifiers.selfcare_texts import SCORE, YES_NO

RULE = "symptom_worse"


def reasons_for(
    session: Session,
    *,
    observation: Observation,
    settings: CheckinSettings,
    questions: QuestionSet,
) -> list[dict[str, Any]]:
    """Why this one answer calls for the care team, if it does."""
    question = questions.questions.get(observation.item)
    if question is None:
        return []
    found: list[dict[str, Any]] = []
    value = observation.value
    if question.value_type == YES_NO:
        if value >= 1:
            found.append({"item": observation.item, "value": "yes", "reason": "yes"})
        return found
    if question.value_type != SCORE:
        return found
    threshold = questions.thresholds.get(observation.item)
    if threshold is not None and value >= threshold:
        found.append(
            {
                "item": observation.item,
                "value": value,
                "reason": "threshold",
                "threshold": threshold,
            }
        )
    before = session.exec(
        select(Observation.value)
        .where(
            Observation.patient_id == observation.patient_id,
            Observation.item == observation.item,
            col(Observation.id) != observation.id,
            Observation.observed_at <= observation.observed_at,
        )
        .order_by(col(Observation.observed_at).desc(), col(Observation.id).desc())
        .limit(settings.worsening_answers)
    ).all()
    if len(before) == settings.worsening_answers:
        middle = float(median(before))
        if value >= middle + settings.worsening_points:
            found.append(
                {
                    "item": observation.item,
                    "value": value,
                    "reason": "worsening",
                    "median": middle,
                    "points": settings.worsening_points,
                }
            )
    return found


def evaluate_checkin(
    session: Session,
    *,
    patient: Patient,
    conversation: str,
    settings: CheckinSettings,
    questions: QuestionSet,
    now: datetime,
) -> Flag | None:
    """Raise (or refresh) the check-in's ``symptom_worse`` flag from its answers so far."""
    observations = session.exec(
        select(Observation)
        .join(Prompt, col(Prompt.id) == Observation.prompt_id)
        .where(Prompt.conversation == conversation)
        .order_by(col(Observation.id))
    ).all()
    reasons: list[dict[str, Any]] = []
    for observation in observations:
        reasons.extend(
            reasons_for(session, observation=observation, settings=settings, questions=questions)
        )
    if not reasons:
        return None
    assert patient.id is not None
    return raise_flag(
        session,
        team_id=patient.team_id,
        patient_id=patient.id,
        plan_id=None,
        rule=RULE,
        now=now,
        severity="normal",
        details={"checkin": conversation, "reasons": reasons},
        occurrence=conversation,
        patient_scope=True,
    )
