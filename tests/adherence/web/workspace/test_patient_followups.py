"""Recording from the patient page over real HTTP (SQLite and PostgreSQL): a label check
done (its form per open check, CSRF, the audit row, the clinic entry, the refusals, and the
``monitoring_overdue`` flag resolving itself), and a booked visit attended.

N-1 takes teriflunomide from Sun 1 Mar 2026 (America/New_York): its first ALT test is due
Wed 1 Apr; with a 30-day window it is overdue from Sat 2 May.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from adherence.calendar.visits.booking import book
from adherence.care.flags import evaluate
from adherence.core.config import Settings
from adherence.dosing.materialize import materialize
from adherence.storage.models import AuditEvent, Dose, DoseChange, Flag, Patient
from adherence.storage.visits import Visit
from schedules import Catalog
from tests.adherence.web.workspace.conftest import Site, csrf_of

NY = ZoneInfo("America/New_York")
SETTINGS = Settings()
CHECK_ROW = re.compile(r'data-check="(\d+)" data-state="(\w+)"')


def first_check(site: Site, catalog: Catalog, ext: str = "N-1") -> Dose:
    """The patient's first label check, materialised as the daemon's horizon would."""
    e = next(e for e in site.north.patients if e.patient.external_id == ext)
    with Session(site.engine) as s:
        materialize(s, now=site.now, catalog=catalog, horizon_days=14, plan_ids=[e.plan.id or 0])
        check = s.exec(
            select(Dose)
            .where(Dose.plan_id == e.plan.id, Dose.kind == "monitoring")
            .order_by(col(Dose.due_at))
        ).first()
    assert check is not None and check.local_date == datetime(2026, 4, 1).date()
    return check


def signed_in(site: Site, pid: int) -> tuple[Any, str]:
    c = site.signed_in(site.north)
    return c, csrf_of(c.get(f"/workspace/patients/{pid}").text)


def post(c: Any, path: str, csrf: str | None, **data: str) -> Any:
    if csrf is not None:
        data["csrf"] = csrf
    return c.post(path, data=data, allow_redirects=False)


def test_an_overdue_check_is_recorded_done_and_its_flag_resolves(
    site: Site, catalog: Catalog
) -> None:
    check = first_check(site, catalog)
    later = datetime(2026, 5, 3, 10, tzinfo=NY)
    site.set_now(later)
    with Session(site.engine) as s:
        evaluate(s, now=later, catalog=catalog, settings=SETTINGS, full=True)
        s.commit()
        (flag,) = s.exec(
            select(Flag).where(Flag.rule == "monitoring_overdue", Flag.plan_id == check.plan_id)
        ).all()
        assert flag.status == "open"
    pid = check.patient_id
    c, csrf = signed_in(site, pid)
    page = c.get(f"/workspace/patients/{pid}").text
    assert (str(check.id), "overdue") in CHECK_ROW.findall(page)
    assert f'action="/workspace/checks/{check.id}/done"' in page
    path = f"/workspace/checks/{check.id}/done"

    assert post(c, path, None, date="2026-04-03").status_code == 403
    future = post(c, path, csrf, date="2026-05-04")
    assert future.status_code == 422 and "Date done: 2026-05-04 is in the future." in future.text
    early = post(c, path, csrf, date="2026-03-25")
    assert early.status_code == 422 and "more than 3 days before the check" in early.text
    bad = post(c, path, csrf, date="April 3rd")
    assert bad.status_code == 422 and "Date done: give a date" in bad.text
    with Session(site.engine) as s:
        assert s.get(Dose, check.id).status == check.status  # type: ignore[union-attr]

    r = post(c, path, csrf, date="2026-04-03", note="drawn at the hospital lab")
    assert r.status_code == 303 and r.headers["location"].endswith("?notice=check-done")
    after = c.get(r.headers["location"]).text
    assert "Check recorded as done" in after and str(check.id) not in dict(CHECK_ROW.findall(after))
    with Session(site.engine) as s:
        row = s.get(Dose, check.id)
        assert row is not None and (row.status, row.confirmed_via) == ("taken", "clinic")
        assert row.taken_at == datetime(2026, 4, 3, 12, tzinfo=NY)  # midday, the patient's zone
        (change,) = s.exec(select(DoseChange).where(DoseChange.dose_id == check.id)).all()
        assert "(coordinator:" in change.changed_by
        assert change.reason == "drawn at the hospital lab"
        (audit,) = s.exec(select(AuditEvent).where(AuditEvent.action == "check.done")).all()
        assert (audit.resource, audit.patient_id) == (f"dose:{check.id}", pid)
        evaluate(s, now=later, catalog=catalog, settings=SETTINGS, full=False)
        s.commit()
        (flag,) = s.exec(
            select(Flag).where(Flag.rule == "monitoring_overdue", Flag.plan_id == check.plan_id)
        ).all()
        assert (flag.status, flag.resolved_by) == ("resolved", "system: check recorded")

    again = post(c, path, csrf, date="2026-04-04")
    assert again.status_code == 422 and "Check: already taken." in again.text


def test_a_check_done_today_before_midday_is_recorded_now(site: Site, catalog: Catalog) -> None:
    check = first_check(site, catalog)
    morning = datetime(2026, 4, 1, 8, 15, tzinfo=NY)
    site.set_now(morning)
    c, csrf = signed_in(site, check.patient_id)
    assert (str(check.id), "due") in CHECK_ROW.findall(
        c.get(f"/workspace/patients/{check.patient_id}").text
    )
    r = post(c, f"/workspace/checks/{check.id}/done", csrf, date="2026-04-01")
    assert r.status_code == 303
    with Session(site.engine) as s:
        row = s.get(Dose, check.id)
        assert row is not None and row.taken_at == morning and row.status == "taken"


def test_only_the_teams_own_checks_can_be_recorded(site: Site, catalog: Catalog) -> None:
    check = first_check(site, catalog)
    south = site.signed_in(site.south)
    csrf = csrf_of(south.get("/workspace/").text)
    assert (
        post(south, f"/workspace/checks/{check.id}/done", csrf, date="2026-03-21").status_code
        == 404
    )
    c, own = signed_in(site, check.patient_id)
    with Session(site.engine) as s:
        dose = s.exec(
            select(Dose).where(Dose.plan_id == check.plan_id, Dose.kind == "dose")
        ).first()
    assert dose is not None
    assert post(c, f"/workspace/checks/{dose.id}/done", own, date="2026-03-20").status_code == 404
    assert post(c, "/workspace/checks/99999999999/done", own, date="2026-03-20").status_code == 404


def test_a_booked_visit_is_recorded_as_attended(site: Site) -> None:
    e = site.north.patients[2]
    with Session(site.engine, expire_on_commit=False) as s:
        patient = s.get(Patient, e.patient.id)
        assert patient is not None
        visit = book(s, patient=patient, visit_type="neurology", at=site.now + timedelta(days=2),
                     now=site.now, settings=SETTINGS, by="test")  # fmt: skip
        mri = book(s, patient=patient, visit_type="mri", at=site.now + timedelta(days=20),
                   now=site.now, settings=SETTINGS, by="test")  # fmt: skip
    c, csrf = signed_in(site, e.patient.id or 0)
    page = c.get(f"/workspace/patients/{e.patient.id}").text
    assert f"/workspace/visits/{visit.id}/done" not in page  # its time has not come
    site.set_now(site.now + timedelta(days=3))
    c, csrf = signed_in(site, e.patient.id or 0)  # a new day, a new sign-in
    page = c.get(f"/workspace/patients/{e.patient.id}").text
    assert f'action="/workspace/visits/{visit.id}/done"' in page
    assert f"/workspace/visits/{mri.id}/done" not in page

    assert post(c, f"/workspace/visits/{visit.id}/done", None).status_code == 403
    early = post(c, f"/workspace/visits/{mri.id}/done", csrf)
    assert (
        early.status_code == 422
        and "Date and time:" in early.text
        and "has not happened yet" in early.text
    )
    half = post(c, f"/workspace/visits/{visit.id}/done", csrf, date="2026-03-22")
    assert half.status_code == 422 and "Time: give a time" in half.text
    r = post(c, f"/workspace/visits/{visit.id}/done", csrf)
    assert r.status_code == 303 and r.headers["location"].endswith("?notice=visit-done")
    assert "Visit recorded as attended." in c.get(r.headers["location"]).text
    with Session(site.engine) as s:
        row = s.get(Visit, visit.id)
        assert row is not None and (row.status, row.at) == ("done", visit.at)
        actions = s.exec(
            select(AuditEvent.action, AuditEvent.actor).where(
                col(AuditEvent.resource) == f"visit:{visit.id}"
            )
        ).all()
    assert [a for a, _ in actions] == ["visit.book", "visit.done"]
    assert post(c, f"/workspace/visits/{visit.id}/done", csrf).status_code == 422  # done already

    # At a time other than the booked one (the patient came later that day).
    site.set_now(datetime(2026, 4, 11, 9, tzinfo=NY))
    c, csrf = signed_in(site, e.patient.id or 0)
    r = post(c, f"/workspace/visits/{mri.id}/done", csrf, date="2026-04-10", time="11:30")
    assert r.status_code == 303
    with Session(site.engine) as s:
        row = s.get(Visit, mri.id)
        assert row is not None and row.at == datetime(2026, 4, 10, 11, 30, tzinfo=NY)
    south = site.signed_in(site.south)
    other = csrf_of(south.get("/workspace/").text)
    assert post(south, f"/workspace/visits/{mri.id}/done", other).status_code == 404
