"""The patient page's visits and nudges section over real HTTP (SQLite and PostgreSQL):
each visit type's due date and state, an overdue one marked, the booked visit, the nudges,
and the page's audit row."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlmodel import Session, col, select

from adherence.calendar.visits.booking import book, record_past
from adherence.core.config import Settings
from adherence.selfcare.nudges.subscriptions import add, stop
from adherence.storage.models import AuditEvent
from tests.adherence.web.workspace.conftest import Site

ROW = re.compile(r'data-visit-type="(\w+)" data-state="(\w+)"')


def test_visits_section_shows_due_overdue_booked_and_nudges(site: Site) -> None:
    e = site.north.patients[0]
    settings = Settings()
    with Session(site.engine, expire_on_commit=False) as s:
        p = e.patient
        s.add(p)
        # A neurology visit 8 months ago: the next was due 2 months ago, now overdue.
        record_past(s, patient=p, visit_type="neurology", at=site.now - timedelta(days=240),
                    now=site.now, settings=settings, by="test")  # fmt: skip
        book(s, patient=p, visit_type="mri", at=site.now + timedelta(days=9), now=site.now,
             settings=settings, by="test", location="Imaging")  # fmt: skip
        add(s, patient=p, topic="exercise", now=site.now, settings=settings, by="test")
        add(s, patient=p, topic="stress", now=site.now, settings=settings, by="test")
        stop(s, patient=p, topic="stress", now=site.now, by="test")
    html = site.signed_in(site.north).get(f"/workspace/patients/{e.patient.id}").text
    assert dict(ROW.findall(html)) == {"neurology": "overdue", "mri": "booked"}
    assert "! overdue" in html and "Visits and self-care nudges" in html
    assert "exercise: every 7 days at 10:00</li>" in html
    assert "stress: every 7 days at 10:00 (stopped)" in html
    with Session(site.engine) as s:
        reads = s.exec(
            select(AuditEvent.resource).where(
                AuditEvent.action == "read", col(AuditEvent.patient_id) == e.patient.id
            )
        ).all()
    assert f"patient:{e.patient.id}" in reads


def test_a_patient_without_nudges_says_they_are_off(site: Site) -> None:
    e = site.north.patients[1]
    html = site.signed_in(site.north).get(f"/workspace/patients/{e.patient.id}").text
    assert "None: the patient has not chosen any (off by default)." in html
    assert dict(ROW.findall(html)) == {"neurology": "later", "mri": "later"}
