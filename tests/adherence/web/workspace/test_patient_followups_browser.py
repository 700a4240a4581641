"""The patient page's follow-ups in Chromium, as a coordinator clicks them: record an overdue
label check done (and see it leave the list), record a booked visit as attended."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from adherence.calendar.visits.booking import book
from adherence.core.config import Settings
from adherence.storage.models import Dose, Patient
from adherence.storage.visits import Visit
from schedules import Catalog
from tests.adherence.web.workspace.conftest import Site, sign_in
from tests.adherence.web.workspace.test_patient_followups import first_check

NY = ZoneInfo("America/New_York")


def test_browser_record_an_overdue_check_done(page: Any, site: Site, catalog: Catalog) -> None:
    check = first_check(site, catalog)
    site.set_now(datetime(2026, 5, 3, 10, tzinfo=NY))
    sign_in(page, site, site.north)
    page.goto(f"{site.base}/workspace/patients/{check.patient_id}")
    section = page.get_by_role("region", name="Label monitoring")
    row = section.get_by_role("row", name="ALT (liver) blood test")
    assert "! overdue" in row.inner_text() and "Wed 01 Apr 2026" in row.inner_text()
    row.get_by_label("Date done").fill("2026-04-03")
    row.get_by_label("Note (optional)").fill("result in the hospital record")
    row.get_by_role("button", name="Record done").click()
    assert "Check recorded as done" in page.get_by_role("status").first.inner_text()
    section = page.get_by_role("region", name="Label monitoring")
    assert "No label check open in the next 14 days." in section.inner_text()
    with Session(site.engine) as s:
        d = s.get(Dose, check.id)
    assert d is not None and d.status == "taken" and d.confirmed_via == "clinic"


def test_browser_record_a_visit_as_attended(page: Any, site: Site) -> None:
    e = site.north.patients[2]
    with Session(site.engine, expire_on_commit=False) as s:
        patient = s.get(Patient, e.patient.id)
        assert patient is not None
        visit = book(s, patient=patient, visit_type="neurology", at=site.now + timedelta(days=2),
                     now=site.now, settings=Settings(), by="test", location="Clinic B")  # fmt: skip
    site.set_now(site.now + timedelta(days=3))
    sign_in(page, site, site.north)
    page.goto(f"{site.base}/workspace/patients/{e.patient.id}")
    section = page.get_by_role("region", name="Visits and self-care nudges")
    section.get_by_role("button", name="Record as attended").click()
    assert "Visit recorded as attended" in page.get_by_role("status").first.inner_text()
    section = page.get_by_role("region", name="Visits and self-care nudges")
    assert section.locator('tr[data-visit-type="neurology"]').get_attribute("data-state") == "later"
    assert section.get_by_role("button", name="Record as attended").count() == 0
    with Session(site.engine) as s:
        v = s.get(Visit, visit.id)
    assert v is not None and v.status == "done" and v.at == visit.at
