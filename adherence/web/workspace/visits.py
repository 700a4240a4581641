"""What the patient page's visits section shows (``templates/patient_visits.html``): each of
the clinic's visit types with its due date and state (an overdue one marked), the booked
visits, and the patient's opt-in self-care nudges. Read in the page's session, so the
page's one audit row covers it."""

from datetime import datetime
from typing import Any

from sqlmodel import Session

from adherence.calendar.visits.booking import list_for
from adherence.calendar.visits.due import due_for
from adherence.core.config import Settings
from adherence.selfcare.nudges.subscriptions import list_for as nudges_for
from adherence.storage.models import Patient
from notifiers.nudge_texts import TOPICS

STATES = {
    "booked": "booked",
    "due": "due now",
    "overdue": "overdue",
    "later": "not due yet",
}
TYPES = {"neurology": "Neurology visit", "mri": "MRI"}


def visits_context(
    s: Session, patient: Patient, now: datetime, settings: Settings
) -> dict[str, Any]:
    return {
        "visits_due": due_for(s, [patient], settings=settings, now=now),
        "visits": [v for v in list_for(s, patient) if v.status == "booked" or v.at >= now],
        "nudges": nudges_for(s, patient),
        "visit_states": STATES,
        "visit_types": TYPES,
        "nudge_topics": TOPICS,
    }
