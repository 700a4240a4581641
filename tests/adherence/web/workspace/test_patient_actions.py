"""The patient page's actions over real HTTP (SQLite and PostgreSQL): booking and moving an
infusion inside the label's window (or outside it with a reason), a new calendar link,
this patient's export, and a dose entered or corrected with who and why."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, col, select

from adherence.care.exports import CSV_HEADER, ExportError, export_stream, validate_resource
from adherence.core.config import settings_from_mapping
from adherence.storage.models import Appointment, AuditEvent, Dose, DoseChange, Patient
from schedules import Catalog
from tests.adherence.web.server import Client
from tests.adherence.web.workspace.conftest import Site, Team, csrf_of

NY = ZoneInfo("America/New_York")


def patient_of(team: Team, ext: str) -> int:
    found = next(e.patient for e in team.patients if e.patient.external_id == ext)
    assert found.id is not None
    return found.id


def plan_of(team: Team, ext: str) -> int:
    found = next(e.plan for e in team.patients if e.patient.external_id == ext)
    assert found.id is not None
    return found.id


def post(c: Client, path: str, csrf: str | None, **data: str) -> Any:
    if csrf is not None:
        data["csrf"] = csrf
    return c.post(path, data=data, allow_redirects=False)


def signed_in(site: Site, team: Team, patient_id: int) -> tuple[Client, str]:
    c = site.signed_in(team)
    page = c.get(f"/workspace/patients/{patient_id}")
    assert page.status_code == 200
    return c, csrf_of(page.text)


def appointments(site: Site) -> list[Appointment]:
    with Session(site.engine) as s:
        return list(s.exec(select(Appointment).order_by(col(Appointment.id))).all())


def audits(site: Site, action: str) -> list[AuditEvent]:
    return [a for a in site.audit() if a.action == action]


def book(c: Client, csrf: str, pid: int, plan: int, day: str, at: str = "10:00",
         **more: str) -> Any:  # fmt: skip
    return post(c, f"/workspace/patients/{pid}/appointments", csrf, plan=str(plan), date=day,
                time=at, **more)  # fmt: skip


# --- appointments ---------------------------------------------------------------------------


def test_booking_inside_the_window_books_on_the_patients_clock(site: Site) -> None:
    pid, plan = patient_of(site.north, "N-4"), plan_of(site.north, "N-4")
    c, csrf = signed_in(site, site.north, pid)
    page = c.get(f"/workspace/patients/{pid}").text
    assert "Book the next ocrelizumab infusion" in page
    assert "The label allows Sun 01 Mar 2026 to Tue 31 Mar 2026" in page
    r = book(c, csrf, pid, plan, "2026-03-25", "10:30", location="Infusion suite 2")
    assert r.status_code == 303
    assert r.headers["location"] == f"/workspace/patients/{pid}?notice=appointment-booked"
    [a] = appointments(site)
    assert a.at == datetime(2026, 3, 25, 10, 30, tzinfo=NY)
    assert a.location == "Infusion suite 2" and a.forced_reason == ""
    assert a.booked_by == f"North coordinator (coordinator:{site.north.coordinator_id})"
    [row] = audits(site, "book")
    assert row.resource == f"appointment:{a.id}" and row.patient_id == pid
    after = c.get(r.headers["location"]).text
    assert "Appointment booked" in after and "Wed 25 Mar 2026 10:30" in after
    assert "Book the next ocrelizumab infusion" not in after  # booked: now it moves


def test_booking_outside_the_window_needs_a_reason_which_is_kept(site: Site) -> None:
    pid, plan = patient_of(site.north, "N-4"), plan_of(site.north, "N-4")
    c, csrf = signed_in(site, site.north, pid)
    r = book(c, csrf, pid, plan, "2026-04-06")
    assert r.status_code == 422
    assert "outside this infusion&#39;s allowed window 2026-03-01 to 2026-03-31" in r.text
    assert re.search(r'<input type="hidden" name="force" value="1">', r.text)
    assert "Book outside the window" in r.text and 'value="2026-04-06"' in r.text
    assert appointments(site) == []
    # Asked to book anyway, without a reason: still refused, the reason field named.
    r = book(c, csrf, pid, plan, "2026-04-06", force="1", reason="  ")
    assert r.status_code == 422 and "Reason: say why" in r.text
    assert 'id="book-' in r.text and appointments(site) == []
    r = book(c, csrf, pid, plan, "2026-04-06", force="1", reason="patient away until April")
    assert r.status_code == 303
    [a] = appointments(site)
    assert a.forced_reason.startswith("patient away until April [overrides: 2026-04-06 is")
    assert (
        audits(site, "book")[0].details_json
        and '"forced": true' in audits(site, "book")[0].details_json
    )


def test_after_a_refusal_a_day_inside_the_window_needs_no_reason(site: Site) -> None:
    pid, plan = patient_of(site.north, "N-4"), plan_of(site.north, "N-4")
    c, csrf = signed_in(site, site.north, pid)
    assert book(c, csrf, pid, plan, "2026-04-06").status_code == 422
    # The form answered again carries force=1; the coordinator picks a day in the window.
    r = book(c, csrf, pid, plan, "2026-03-30", force="1", reason="")
    assert r.status_code == 303
    [a] = appointments(site)
    assert a.forced_reason == "" and a.at == datetime(2026, 3, 30, 10, 0, tzinfo=NY)


def test_booking_in_the_past_or_with_a_bad_date_names_the_field(site: Site) -> None:
    pid, plan = patient_of(site.north, "N-4"), plan_of(site.north, "N-4")
    c, csrf = signed_in(site, site.north, pid)
    past = book(c, csrf, pid, plan, "2026-03-20")
    assert past.status_code == 422 and "Date and time: that is in the past" in past.text
    bad = book(c, csrf, pid, plan, "2026-13-01")
    assert bad.status_code == 422 and "Date: give a date" in bad.text
    assert 'aria-invalid="true"' in bad.text
    no_time = book(c, csrf, pid, plan, "2026-03-25", "")
    assert no_time.status_code == 422 and "Time: give a time" in no_time.text
    other_plan = book(c, csrf, pid, plan_of(site.north, "N-1"), "2026-03-25")
    assert other_plan.status_code == 422 and "not one of this patient" in other_plan.text
    pills = patient_of(site.north, "N-1")
    assert "Book the next" not in c.get(f"/workspace/patients/{pills}").text
    assert appointments(site) == []


def test_moving_an_appointment_keeps_the_window_and_bumps_its_sequence(site: Site) -> None:
    pid, plan = patient_of(site.north, "N-4"), plan_of(site.north, "N-4")
    c, csrf = signed_in(site, site.north, pid)
    assert book(c, csrf, pid, plan, "2026-03-25").status_code == 303
    [a] = appointments(site)
    page = c.get(f"/workspace/patients/{pid}").text
    assert f'action="/workspace/appointments/{a.id}/move"' in page
    r = post(c, f"/workspace/appointments/{a.id}/move", csrf, date="2026-03-27", time="14:00",
             location="Suite 1")  # fmt: skip
    assert r.status_code == 303 and r.headers["location"].endswith("notice=appointment-moved")
    [moved] = appointments(site)
    assert moved.at == datetime(2026, 3, 27, 14, 0, tzinfo=NY) and moved.sequence == 1
    assert moved.location == "Suite 1"
    out = post(c, f"/workspace/appointments/{a.id}/move", csrf, date="2026-04-20", time="09:00")
    assert out.status_code == 422 and "Move outside the window" in out.text
    assert appointments(site)[0].at == moved.at
    r = post(c, f"/workspace/appointments/{a.id}/move", csrf, date="2026-04-20", time="09:00",
             force="1", reason="chair free only then")  # fmt: skip
    assert r.status_code == 303
    assert appointments(site)[0].forced_reason.startswith("chair free only then")
    assert [e.resource for e in audits(site, "move")] == [f"appointment:{a.id}"] * 2


def test_cancelling_needs_a_reason_and_offers_booking_again(site: Site) -> None:
    pid, plan = patient_of(site.north, "N-4"), plan_of(site.north, "N-4")
    c, csrf = signed_in(site, site.north, pid)
    assert book(c, csrf, pid, plan, "2026-03-25").status_code == 303
    [a] = appointments(site)
    r = post(c, f"/workspace/appointments/{a.id}/cancel", csrf, reason="")
    assert r.status_code == 422 and appointments(site)[0].status == "booked"
    r = post(c, f"/workspace/appointments/{a.id}/cancel", csrf, reason="patient unwell")
    assert r.status_code == 303 and appointments(site)[0].status == "cancelled"
    assert "Book the next ocrelizumab infusion" in c.get(r.headers["location"]).text


def test_another_teams_appointment_and_patient_are_a_404_page(site: Site) -> None:
    pid, plan = patient_of(site.north, "N-4"), plan_of(site.north, "N-4")
    c, csrf = signed_in(site, site.north, pid)
    assert book(c, csrf, pid, plan, "2026-03-25").status_code == 303
    [a] = appointments(site)
    south, south_csrf = signed_in(site, site.south, patient_of(site.south, "S-1"))
    for path, data in [
        (f"/workspace/appointments/{a.id}/move", {"date": "2026-03-26", "time": "09:00"}),
        (f"/workspace/appointments/{a.id}/cancel", {"reason": "x"}),
        (f"/workspace/appointments/{a.id + 999}/move", {"date": "2026-03-26", "time": "9:00"}),
        ("/workspace/appointments/abc/move", {}),
        (f"/workspace/patients/{pid}/appointments", {"plan": str(plan), "date": "2026-03-26"}),
        (f"/workspace/patients/{pid}/calendar/rotate", {}),
        (f"/workspace/patients/{pid}/doses", {"dose": "1", "status": "skipped"}),
    ]:
        r = post(south, path, south_csrf, **data)
        assert r.status_code == 404, path
        assert "text/html" in r.headers["content-type"] and "There is no" in r.text
    for suffix in ("csv", "json", "fhir.json"):
        assert south.get(f"/workspace/patients/{pid}/export.{suffix}").status_code == 404
    assert appointments(site)[0].at == a.at and appointments(site)[0].status == "booked"
    with Session(site.engine) as s:
        patient = s.get(Patient, pid)
        assert patient is not None and patient.calendar_token_hash is None


def test_every_post_without_the_csrf_token_is_403_and_changes_nothing(site: Site) -> None:
    pid, plan = patient_of(site.north, "N-4"), plan_of(site.north, "N-4")
    c, csrf = signed_in(site, site.north, pid)
    assert book(c, csrf, pid, plan, "2026-03-25").status_code == 303
    [a] = appointments(site)
    with Session(site.engine) as s:
        dose = s.exec(select(Dose).where(Dose.patient_id == pid)).first()
        assert dose is not None
    before = len(site.audit())
    for path, data in [
        (f"/workspace/patients/{pid}/appointments", {"plan": str(plan), "date": "2026-03-26",
                                                      "time": "10:00"}),
        (f"/workspace/appointments/{a.id}/move", {"date": "2026-03-26", "time": "10:00"}),
        (f"/workspace/appointments/{a.id}/cancel", {"reason": "x"}),
        (f"/workspace/patients/{pid}/calendar/rotate", {}),
        (f"/workspace/patients/{pid}/doses", {"dose": str(dose.id), "status": "skipped",
                                               "reason": "x"}),
    ]:  # fmt: skip
        for token in (None, "0" * 64):
            r = post(c, path, token, **data)
            assert r.status_code == 403, path
            assert "nothing was changed" in r.text
    [same] = appointments(site)
    assert (same.at, same.status, same.sequence) == (a.at, "booked", 0)
    with Session(site.engine) as s:
        assert s.exec(select(DoseChange)).all() == []
        patient = s.get(Patient, pid)
        assert patient is not None and patient.calendar_token_hash is None
    assert len(site.audit()) == before


# --- the calendar feed link -----------------------------------------------------------------


def test_rotating_shows_a_working_link_once_and_the_old_one_stops(site: Site) -> None:
    pid = patient_of(site.north, "N-4")
    c, csrf = signed_in(site, site.north, pid)
    assert "has no calendar feed link yet" in c.get(f"/workspace/patients/{pid}").text
    first = post(c, f"/workspace/patients/{pid}/calendar/rotate", csrf)
    assert first.status_code == 200  # the page itself: the link is in no URL
    assert first.headers["cache-control"] == "no-store"
    url = re.search(r'id="feed-url" readonly value="([^"]+)"', first.text)
    assert url and "shown only this once" in first.text
    old = urlparse(url.group(1)).path
    feed = c.get(old)
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    page = c.get(f"/workspace/patients/{pid}").text
    assert "Has a link" in page and old not in page  # never shown again
    second = post(c, f"/workspace/patients/{pid}/calendar/rotate", csrf_of(page))
    new = re.search(r'id="feed-url" readonly value="([^"]+)"', second.text)
    assert new and urlparse(new.group(1)).path != old
    assert c.get(old).status_code == 404
    assert c.get(urlparse(new.group(1)).path).status_code == 200
    rows = audits(site, "rotate")
    assert len(rows) == 2 and rows[1].resource == f"patient:{pid}/calendar"
    token = old.rsplit("/", 1)[1].removesuffix(".ics")
    assert all(token not in (e.details_json or "") + e.resource for e in site.audit())


# --- exports --------------------------------------------------------------------------------


def test_exports_download_this_patient_only_and_are_audited(site: Site) -> None:
    pid = patient_of(site.north, "N-2")  # has a flag; N-3's flag must not come along
    c, _ = signed_in(site, site.north, pid)
    r = c.get(f"/workspace/patients/{pid}/export.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == f'attachment; filename="patient-{pid}.csv"'
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == CSV_HEADER and len(rows) > 20
    assert {row[1] for row in rows[1:]} == {str(pid)}
    assert rows[-1][0] == "summary" and rows[-1][CSV_HEADER.index("period_start")] == "2026-03-01"
    js = c.get(f"/workspace/patients/{pid}/export?format=json&from=2026-03-10&to=2026-03-20")
    assert js.headers["content-disposition"] == f'attachment; filename="patient-{pid}.json"'
    body = json.loads(js.text)
    assert [p["patient_id"] for p in body["patients"]] == [pid]
    assert body["period"] == {"start": "2026-03-10", "end": "2026-03-20"}
    fhir = c.get(f"/workspace/patients/{pid}/export.fhir.json")
    assert fhir.headers["content-type"].startswith("application/fhir+json")
    bundle = json.loads(fhir.text)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("Patient") == 1 and kinds.count("Flag") == 1
    for entry in bundle["entry"]:
        validate_resource(entry["resource"])
    rows_ = audits(site, "export")
    assert [e.resource for e in rows_] == [
        f"patient:{pid}/export:csv",
        f"patient:{pid}/export:json",
        f"patient:{pid}/export:fhir",
    ]
    assert all(e.patient_id == pid for e in rows_)
    assert '"from": "2026-03-10"' in (rows_[1].details_json or "")


def test_the_export_refuses_another_teams_patient(site: Site, catalog: Catalog) -> None:
    with Session(site.engine) as s:
        south = s.get(Patient, patient_of(site.south, "S-1"))
        assert south is not None
        with pytest.raises(ExportError, match="patient: not one of this care team"):
            export_stream(s, team=site.north.team, patient=south, start=site.now.date(),
                          end=site.now.date(), fmt="csv", catalog=catalog,
                          settings=settings_from_mapping({}))  # fmt: skip


def test_an_export_with_bad_dates_names_the_field(site: Site) -> None:
    pid = patient_of(site.north, "N-1")
    c, _ = signed_in(site, site.north, pid)
    r = c.get(f"/workspace/patients/{pid}/export?format=csv&from=2026-03-10&to=2026-03-01")
    assert r.status_code == 422 and "To: the last day is before the first" in r.text
    r = c.get(f"/workspace/patients/{pid}/export?format=csv&from=yesterday")
    assert r.status_code == 422 and "From: give a date" in r.text
    assert c.get(f"/workspace/patients/{pid}/export?format=xml").status_code == 404
    assert audits(site, "export") == []


# --- dose entry and correction --------------------------------------------------------------


def missed_dose(site: Site, pid: int) -> Dose:
    with Session(site.engine) as s:
        found = s.exec(
            select(Dose)
            .where(Dose.patient_id == pid, Dose.status == "missed")
            .order_by(col(Dose.due_at).desc())
        ).first()
    assert found is not None
    return found


def test_correcting_a_dose_keeps_who_and_why(site: Site) -> None:
    pid = patient_of(site.north, "N-2")
    dose = missed_dose(site, pid)
    c, csrf = signed_in(site, site.north, pid)
    page = c.get(f"/workspace/patients/{pid}").text
    assert f'<option value="{dose.id}">Fri 20 Mar 09:00 · teriflunomide' in page
    r = post(c, f"/workspace/patients/{pid}/doses", csrf, dose=str(dose.id), status="taken",
             date="2026-03-20", time="21:15", reason="took it late, said on the phone")  # fmt: skip
    assert r.status_code == 303 and r.headers["location"].endswith("notice=dose-recorded")
    with Session(site.engine) as s:
        d = s.get(Dose, dose.id)
        assert d is not None and d.status == "taken" and d.confirmed_via == "clinic"
        assert d.taken_at == datetime(2026, 3, 20, 21, 15, tzinfo=NY)
        [change] = s.exec(select(DoseChange)).all()
    assert (change.old_status, change.new_status) == ("missed", "taken")
    assert change.changed_by == f"North coordinator (coordinator:{site.north.coordinator_id})"
    assert change.reason == "took it late, said on the phone"
    [row] = audits(site, "dose")
    assert row.resource == f"dose:{dose.id}" and row.patient_id == pid
    # A correction of the correction: skipped after all.
    again = post(c, f"/workspace/patients/{pid}/doses", csrf, dose=str(dose.id),
                 status="skipped", reason="misheard: skipped")  # fmt: skip
    assert again.status_code == 303
    with Session(site.engine) as s:
        changes = s.exec(select(DoseChange).order_by(col(DoseChange.id))).all()
    assert [(x.old_status, x.new_status) for x in changes] == [
        ("missed", "taken"),
        ("taken", "skipped"),
    ]
    shown = c.get(f"/workspace/patients/{pid}").text
    history = shown[shown.index("Entered or corrected by the clinic") :]
    assert history.index("taken → skipped") < history.index("missed → taken")
    assert "misheard: skipped" in history and "North coordinator (coordinator:" in history


def test_a_dose_entry_is_refused_in_the_future_without_reason_or_off_the_list(
    site: Site,
) -> None:
    pid = patient_of(site.north, "N-2")
    dose = missed_dose(site, pid)
    c, csrf = signed_in(site, site.north, pid)
    path = f"/workspace/patients/{pid}/doses"
    future = post(c, path, csrf, dose=str(dose.id), status="taken", date="2026-03-21",
                  time="12:00", reason="phone")  # fmt: skip
    assert future.status_code == 422 and "Time: that is in the future" in future.text
    assert 'value="phone"' not in future.text and "phone</textarea>" in future.text
    no_reason = post(c, path, csrf, dose=str(dose.id), status="skipped", reason=" ")
    assert no_reason.status_code == 422 and "Reason: say why" in no_reason.text
    assert 'aria-invalid="true" aria-describedby="dose-reason-help dose-reason-error"' in (
        no_reason.text
    )
    with Session(site.engine) as s:
        foreign = s.exec(
            select(Dose).where(Dose.patient_id == patient_of(site.north, "N-1"))
        ).first()
    assert foreign is not None
    off = post(c, path, csrf, dose=str(foreign.id), status="skipped", reason="x")
    assert off.status_code == 422 and "Dose: pick one of the doses listed" in off.text
    bad = post(c, path, csrf, dose=str(dose.id), status="lost", reason="x")
    assert bad.status_code == 422 and "Status: choose taken or skipped" in bad.text
    with Session(site.engine) as s:
        assert s.exec(select(DoseChange)).all() == []
        d = s.get(Dose, dose.id)
        assert d is not None and d.status == "missed"
