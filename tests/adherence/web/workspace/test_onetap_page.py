"""The patient's one-tap page over real HTTP (SQLite and PostgreSQL) and in Chromium: opening
the link confirms nothing, only the Taken/Skip POST does, bound to the link; spent, expired
and unknown links get a plain page with no dose information."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from adherence.dosing import onetap
from adherence.dosing.confirm import confirm
from adherence.storage.models import Dose
from schedules import Catalog
from tests.adherence.web.workspace.conftest import OUTPUT, Site

GONE = "This link is no longer valid"


@dataclass
class Link:
    token: str
    dose_id: int
    due_at: datetime
    closes_at: datetime


def _link(site: Site, patient: int = 0) -> Link:
    """A link to North patient ``patient``'s next dose, the site's clock moved to 5 minutes
    after that dose's time (the moment the reminder with the link would arrive)."""
    with Session(site.engine, expire_on_commit=False) as s:
        pid = site.north.patients[patient].patient.id
        dose = s.exec(
            select(Dose)
            .where(Dose.patient_id == pid, Dose.kind == "dose", Dose.due_at > site.now)
            .order_by(col(Dose.due_at))
        ).first()
        assert dose is not None and dose.status == "scheduled"
        token = onetap.issue(s, dose=dose, now=dose.due_at)
        s.commit()
        assert dose.id is not None
        link = Link(token, dose.id, dose.due_at, dose.window_closes_at)
    site.set_now(link.due_at + timedelta(minutes=5))
    return link


def _dose(site: Site, dose_id: int) -> Dose:
    with Session(site.engine) as s:
        dose = s.get(Dose, dose_id)
        assert dose is not None
        return dose


def _key(html: str) -> str:
    found = re.search(r'name="key" value="([0-9a-f]+)"', html)
    assert found, html
    return found.group(1)


def test_opening_the_link_shows_the_dose_discreetly_and_changes_nothing(site: Site) -> None:
    link = _link(site)
    before = _dose(site, link.dose_id)
    c = site.client()

    r = c.get(f"/c/{link.token}")
    head = c.http.head(f"{site.base}/c/{link.token}", timeout=30)

    assert r.status_code == 200 and head.status_code == 200
    assert "North Clinic: your medication" in r.text and "Due " in r.text
    assert "Aubagio" not in r.text and "teriflunomide" not in r.text.lower()  # discreet
    assert 'value="taken"' in r.text and 'value="skipped"' in r.text
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"
    after = _dose(site, link.dose_id)
    assert before.status == "scheduled"
    assert (after.status, after.updated_at, after.confirmed_at) == (
        before.status,
        before.updated_at,
        None,
    )


def test_taken_posted_from_the_page_is_recorded_via_link_and_the_link_is_then_spent(
    site: Site,
) -> None:
    link = _link(site)
    c = site.client()
    key = _key(c.get(f"/c/{link.token}").text)

    r = c.post(f"/c/{link.token}", data={"key": key, "answer": "taken"})

    local = (link.due_at + timedelta(minutes=5)).astimezone(ZoneInfo("America/New_York"))
    assert r.status_code == 200
    assert f"Recorded: taken at {local:%H:%M}" in r.text
    dose = _dose(site, link.dose_id)
    assert (dose.status, dose.confirmed_via) == ("taken", "link")
    assert dose.taken_at == link.due_at + timedelta(minutes=5)
    again = c.post(f"/c/{link.token}", data={"key": key, "answer": "skipped"})
    assert again.status_code == 410 and GONE in again.text
    assert _dose(site, link.dose_id).status == "taken"


def test_a_post_not_bound_to_the_link_or_from_another_site_changes_nothing(site: Site) -> None:
    link = _link(site)
    c = site.client()
    key = _key(c.get(f"/c/{link.token}").text)
    other = _link(site, patient=1)

    refused = [
        c.post(f"/c/{link.token}", data={"answer": "taken"}),
        c.post(f"/c/{link.token}", data={"key": "0" * 64, "answer": "taken"}),
        c.post(
            f"/c/{link.token}",
            data={"key": _key(c.get(f"/c/{other.token}").text), "answer": "taken"},
        ),
        c.post(f"/c/{link.token}", data={"key": key, "answer": "maybe"}),
        c.post(
            f"/c/{link.token}",
            data={"key": key, "answer": "taken"},
            headers={"Sec-Fetch-Site": "cross-site"},
        ),
        c.post(
            f"/c/{link.token}",
            data={"key": key, "answer": "taken"},
            headers={"Origin": "https://evil.example"},
        ),
    ]

    assert [r.status_code for r in refused] == [403] * 6
    assert all("Nothing was recorded" in r.text for r in refused)
    assert _dose(site, link.dose_id).status == "scheduled"
    # The same form from the page itself is accepted (Origin null under no-referrer).
    ok = c.post(f"/c/{link.token}", data={"key": key, "answer": "skipped"},
                headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"})  # fmt: skip
    assert ok.status_code == 200 and "Recorded: skipped." in ok.text
    assert _dose(site, link.dose_id).status == "skipped"


def test_a_link_expires_when_the_late_window_closes(site: Site) -> None:
    link = _link(site)
    c = site.client()
    key = _key(c.get(f"/c/{link.token}").text)
    site.set_now(link.closes_at)

    shown = c.get(f"/c/{link.token}")
    posted = c.post(f"/c/{link.token}", data={"key": key, "answer": "taken"})

    assert shown.status_code == 410 and posted.status_code == 410
    assert GONE in shown.text and "reply to the text message" in shown.text
    assert "medication" not in shown.text and "North" not in shown.text  # no dose info
    assert _dose(site, link.dose_id).status == "scheduled"


def test_an_unknown_link_is_a_plain_404(site: Site) -> None:
    r = site.client().get("/c/" + "A" * 43)
    assert r.status_code == 404 and GONE in r.text and "Taken" not in r.text


def test_a_dose_answered_by_text_first_shows_already_recorded_and_is_kept(
    site: Site, catalog: Catalog
) -> None:
    link = _link(site)
    c = site.client()
    key = _key(c.get(f"/c/{link.token}").text)
    with Session(site.engine) as s:
        dose = s.get(Dose, link.dose_id)
        assert dose is not None
        now = link.due_at + timedelta(minutes=5)
        confirm(s, catalog=catalog, dose=dose, status="skipped", at=now, now=now, via="sms")

    r = c.post(f"/c/{link.token}", data={"key": key, "answer": "taken"})

    assert r.status_code == 200 and "already recorded as skipped" in r.text
    dose = _dose(site, link.dose_id)
    assert (dose.status, dose.confirmed_via) == ("skipped", "sms")


# --- in Chromium -----------------------------------------------------------------------------


def test_patient_opens_the_link_in_a_browser_and_taps_taken(site: Site, page: Any) -> None:
    link = _link(site)

    page.set_viewport_size({"width": 375, "height": 700})  # a phone: where texts are read
    page.goto(f"{site.base}/c/{link.token}")
    page.get_by_role("heading", name="North Clinic: your medication").wait_for()
    assert _dose(site, link.dose_id).status == "scheduled"  # the GET confirmed nothing
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.get_by_role("button", name="Skip").is_visible()
    (OUTPUT / "screenshots").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "screenshots" / f"onetap_page_{site.engine.name}.png"))

    page.get_by_role("button", name="Taken").click()

    page.get_by_role("status").get_by_text("Recorded: taken at").wait_for()
    dose = _dose(site, link.dose_id)
    assert (dose.status, dose.confirmed_via) == ("taken", "link")
    # Back and reload: the spent link now opens the plain page.
    page.goto(f"{site.base}/c/{link.token}")
    page.get_by_role("heading", name=GONE).wait_for()


def test_a_dose_cancelled_while_the_page_was_open_is_not_recorded(site: Site) -> None:
    link = _link(site)
    c = site.client()
    key = _key(c.get(f"/c/{link.token}").text)
    with Session(site.engine) as s:
        dose = s.get(Dose, link.dose_id)
        assert dose is not None
        dose.status = "cancelled"  # the plan changed meanwhile
        s.add(dose)
        s.commit()

    r = c.post(f"/c/{link.token}", data={"key": key, "answer": "taken"})

    assert r.status_code == 410 and GONE in r.text
    assert _dose(site, link.dose_id).status == "cancelled"
