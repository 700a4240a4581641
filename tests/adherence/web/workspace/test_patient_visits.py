"""The patient page's visits and nudges section over real HTTP (SQLite and PostgreSQL):
each visit type's due date and state, an overdue one marked, the booked visit, the nudges,
and the page's audit row."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from adherence.calendar.visits.booking import book, record_past
from adherence.core.config import Settings
from adherence.selfcare.nudges.subscriptions import add, stop
from adherence.storage.models import AuditEvent
from adherence.storage.visits import Visit
from tests.adherence.web.workspace.conftest import Site, csrf_of

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
    assert re.search(r"exercise: every 7 days at 10:00\s*<form", html)
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


def _signed_in(site: Site, pid: int) -> tuple[Any, str]:
    c = site.signed_in(site.north)
    return c, csrf_of(c.get(f"/workspace/patients/{pid}").text)


def _post(c: Any, path: str, csrf: str | None, **data: str) -> Any:
    if csrf is not None:
        data["csrf"] = csrf
    return c.post(path, data=data, allow_redirects=False)


def test_book_move_and_cancel_a_visit_from_the_page(site: Site) -> None:
    pid = site.north.patients[2].patient.id
    assert pid is not None
    c, csrf = _signed_in(site, pid)
    base = f"/workspace/patients/{pid}"
    assert (
        _post(c, f"{base}/visits", None, type="mri", date="2026-04-02", time="09:00").status_code
        == 403
    )
    bad = _post(c, f"{base}/visits", csrf, type="dentist", date="2026-04-02", time="09:00")
    assert bad.status_code == 422 and "visit type &#39;dentist&#39; is not in" in bad.text
    past = _post(c, f"{base}/visits", csrf, type="mri", date="2026-03-01", time="09:00")
    assert past.status_code == 422 and "Date and time:" in past.text and "in the past" in past.text
    r = _post(
        c, f"{base}/visits", csrf, type="mri", date="2026-04-02", time="09:00", location="Imaging"
    )
    assert r.status_code == 303 and r.headers["location"].endswith("?notice=visit-booked")
    with Session(site.engine) as s:
        (visit,) = s.exec(select(Visit).where(Visit.patient_id == pid)).all()
    assert "(coordinator:" in visit.booked_by
    assert visit.at == datetime(2026, 4, 2, 9, tzinfo=ZoneInfo("America/New_York"))
    html = c.get(r.headers["location"]).text
    assert "Visit booked." in html and f'action="/workspace/visits/{visit.id}/move"' in html

    moved = _post(c, f"/workspace/visits/{visit.id}/move", csrf, date="2026-04-03", time="10:15")
    assert moved.status_code == 303
    assert _post(c, f"/workspace/visits/{visit.id}/cancel", csrf, reason="").status_code == 422
    done = _post(c, f"/workspace/visits/{visit.id}/cancel", csrf, reason="patient asked")
    assert done.status_code == 303
    with Session(site.engine) as s:
        row = s.get(Visit, visit.id)
        assert row is not None and row.status == "cancelled" and row.sequence == 2
        actions = s.exec(
            select(AuditEvent.action).where(col(AuditEvent.resource) == f"visit:{visit.id}")
        ).all()
    assert list(actions) == ["visit.book", "visit.move", "visit.cancel"]
    other = site.south.patients[0].patient.id
    assert _post(c, f"/workspace/patients/{other}/visits", csrf, type="mri", date="2026-04-02",
                 time="09:00").status_code == 404  # fmt: skip


def test_add_and_stop_a_nudge_from_the_page(site: Site) -> None:
    pid = site.north.patients[2].patient.id
    assert pid is not None
    c, csrf = _signed_in(site, pid)
    base = f"/workspace/patients/{pid}"
    bad = _post(c, f"{base}/nudges", csrf, topic="stress", every="0")
    assert bad.status_code == 422 and "Every: 0 is not 1 to 90 days" in bad.text
    r = _post(c, f"{base}/nudges", csrf, topic="stress", every="3", time="18:00")
    assert r.status_code == 303 and r.headers["location"].endswith("?notice=nudge-added")
    assert "stress: every 3 days at 18:00" in c.get(base).text
    assert _post(c, f"{base}/nudges/stop", csrf, topic="stress").status_code == 303
    assert "stress: every 3 days at 18:00 (stopped)" in c.get(base).text
    with Session(site.engine) as s:
        actions = s.exec(select(AuditEvent.action).where(AuditEvent.patient_id == pid)).all()
    assert [a for a in actions if a.startswith("nudge.")] == ["nudge.add", "nudge.stop"]
