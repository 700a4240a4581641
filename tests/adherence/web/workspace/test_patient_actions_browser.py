"""The patient page's actions in Chromium, clicked through as a coordinator would: book an
infusion (first outside the window, then with a reason), download a CSV, correct a dose."""

from __future__ import annotations

import csv
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from adherence.care.exports import CSV_HEADER
from adherence.storage.models import Appointment, Dose, DoseChange
from tests.adherence.web.workspace.conftest import Site, sign_in
from tests.adherence.web.workspace.test_patient_actions import missed_dose, patient_of

NY = ZoneInfo("America/New_York")


def open_patient(page: Any, site: Site, ext: str) -> int:
    sign_in(page, site, site.north)
    pid = patient_of(site.north, ext)
    page.goto(f"{site.base}/workspace/patients/{pid}")
    return pid


def appointments(page: Any) -> Any:
    """The Appointments section: the visits section has its own Date and Time fields."""
    return page.get_by_role("region", name="Appointments")


def no_sideways_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_browser_book_an_infusion_outside_the_window_with_a_reason(page: Any, site: Site) -> None:
    open_patient(page, site, "N-4")
    appointments(page).get_by_label("Date", exact=True).fill("2026-04-06")
    appointments(page).get_by_label("Time", exact=True).fill("10:30")
    appointments(page).get_by_label("Location (optional, shown to the patient)").fill(
        "Infusion suite 2"
    )
    page.get_by_role("button", name="Book appointment").click()
    alert = page.get_by_role("alert")
    assert "outside this infusion's allowed window" in alert.inner_text()
    # Answered again with what was typed, and now the reason the label's window is broken.
    assert appointments(page).get_by_label("Date", exact=True).input_value() == "2026-04-06"
    appointments(page).get_by_label("Reason to book it outside the label's window (required)").fill(
        "patient travelling until April"
    )
    page.get_by_role("button", name="Book outside the window").click()
    assert "Appointment booked" in page.get_by_role("status").first.inner_text()
    row = page.get_by_role("region", name="Appointments").get_by_role("row", name="ocrelizumab")
    assert "Mon 06 Apr 2026 10:30" in row.inner_text()
    assert "Outside window" in row.inner_text()
    with Session(site.engine) as s:
        [a] = s.exec(select(Appointment)).all()
    assert a.at == datetime(2026, 4, 6, 10, 30, tzinfo=NY) and a.location == "Infusion suite 2"
    assert a.forced_reason.startswith("patient travelling until April [overrides:")


def test_browser_move_an_appointment(page: Any, site: Site) -> None:
    open_patient(page, site, "N-4")
    appointments(page).get_by_label("Date", exact=True).fill("2026-03-25")
    appointments(page).get_by_label("Time", exact=True).fill("09:00")
    page.get_by_role("button", name="Book appointment").click()
    page.get_by_text("Move", exact=True).click()  # the row's disclosure
    appointments(page).get_by_label("New date").fill("2026-03-27")
    appointments(page).get_by_label("New time").fill("13:45")
    page.get_by_role("button", name="Move appointment").click()
    assert "Appointment moved" in page.get_by_role("status").first.inner_text()
    assert (
        "Fri 27 Mar 2026 13:45"
        in page.get_by_role("region", name="Appointments")
        .get_by_role("row", name="ocrelizumab")
        .inner_text()
    )


def test_browser_download_a_csv(page: Any, site: Site, tmp_path: Any) -> None:
    pid = open_patient(page, site, "N-1")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV").click()
    download = info.value
    assert download.suggested_filename == f"patient-{pid}.csv"
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    with target.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == CSV_HEADER
    assert {r[1] for r in rows[1:]} == {str(pid)} and rows[-1][0] == "summary"
    assert any(r[0] == "dose" and r[CSV_HEADER.index("status")] == "taken" for r in rows)


def test_browser_correct_a_dose_at_phone_width(page: Any, site: Site) -> None:
    page.set_viewport_size({"width": 375, "height": 800})
    pid = open_patient(page, site, "N-2")
    dose = missed_dose(site, pid)
    assert no_sideways_scroll(page)
    picker = page.get_by_label("Dose (today and the last 14 days)")
    picker.select_option(str(dose.id))
    assert "Fri 20 Mar 09:00" in picker.locator("option:checked").inner_text()
    page.get_by_label("Taken", exact=True).check()
    page.get_by_label("Taken on").fill("2026-03-20")
    page.get_by_label("Taken at").fill("21:15")
    page.get_by_label("Reason (required)").fill("confirmed by phone: taken late")
    page.get_by_role("button", name="Save dose record").click()
    assert "Dose record saved" in page.get_by_role("status").first.inner_text()
    assert "Fri 20 Mar 09:00 · teriflunomide 14 mg · taken (late)" in picker.inner_text()
    assert no_sideways_scroll(page)
    with Session(site.engine) as s:
        d = s.get(Dose, dose.id)
        changes = s.exec(select(DoseChange).order_by(col(DoseChange.id))).all()
    assert d is not None and d.status == "taken" and d.confirmed_via == "clinic"
    [change] = changes
    assert change.reason == "confirmed by phone: taken late" and change.old_status == "missed"
    assert change.changed_by.startswith("North coordinator (coordinator:")
