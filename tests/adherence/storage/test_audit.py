"""Every audit row goes through ``adherence.storage.audit.record`` (its scrubbing and its column
limits), the appointment trail included; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime

from sqlmodel import Session, col, select

from adherence.calendar.appointments import _audit, book, cancel
from adherence.storage.audit import clean_details
from adherence.storage.models import AuditEvent
from schedules import Catalog
from tests.adherence.calendar.test_appointments import SETTINGS, ocrevus_after_first_dose
from tests.adherence.engine_helpers import at


def test_secrets_and_messages_are_dropped_and_counts_kept() -> None:
    details = {
        "token": "msa_secret",
        "Body": "Took it",
        "message_text": "call me",
        "withdrawn_texts": 2,
        "forced": True,
        "from": "2026-01-01",
    }
    assert clean_details(details) == {"withdrawn_texts": 2, "forced": True, "from": "2026-01-01"}
    assert clean_details(None) == {}


def test_appointment_audit_rows_are_scrubbed_and_fit_their_columns(
    session: Session, catalog: Catalog, t0: datetime
) -> None:
    e, _ = ocrevus_after_first_dose(session, catalog, t0)
    appt = book(
        session,
        plan=e.plan,
        at=at(2026, 9, 1, 9, 30),
        location="Infusion suite",
        now=at(2026, 3, 20, 12),
        catalog=catalog,
        settings=SETTINGS,
        by="nurse",
    )
    # A name longer than the actor column: cut to fit (PostgreSQL refused the row before).
    by = "nurse " + "x" * 300
    cancel(
        session,
        appointment=appt,
        now=at(2026, 3, 21, 10),
        catalog=catalog,
        settings=SETTINGS,
        by=by,
        reason="patient unwell",
    )
    row = session.exec(select(AuditEvent).where(AuditEvent.action == "appointment.cancel")).one()
    assert row.actor == by[:200]
    assert row.resource == f"appointment:{appt.id}" and row.patient_id == appt.patient_id
    details = json.loads(row.details_json)
    # The count of withdrawn texts is context, kept though its key says "texts".
    assert details == {"reason": "patient unwell", "withdrawn_texts": 3}

    # Whatever a later caller passes, a message body or a token never reaches the row.
    _audit(
        session,
        appointment=appt,
        team_id=e.team.id,
        action="appointment.note",
        by="nurse",
        now=at(2026, 3, 21, 11),
        body="Reply T when taken",
        token="abc123",
        note="called the patient",
    )
    session.commit()
    last = session.exec(select(AuditEvent).order_by(col(AuditEvent.id).desc())).first()
    assert last is not None and last.action == "appointment.note"
    assert json.loads(last.details_json) == {"note": "called the patient"}
