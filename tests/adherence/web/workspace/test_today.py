"""The Today page: the call list in its order, call results and the queue, and flags
acknowledged and resolved from it; over real HTTP (SQLite and PostgreSQL) and in Chromium."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, select

from adherence.storage.models import Flag, InboundMessage
from adherence.storage.workspace import CallResult
from schedules import Catalog
from tests.adherence.engine_helpers import enroll
from tests.adherence.web.workspace.conftest import (
    OUTPUT,
    Site,
    Team,
    add_flag,
    csrf_of,
    seed,
    sign_in,
)

ORDER = ["Patient 6", "Patient 2", "Patient 1", "Patient 5", "Patient 3", "Patient 0"]


def tiers(s: Session, catalog: Catalog, t0: datetime, now: datetime) -> tuple[Team, Team]:
    """The shared seed (a flare: Patient 2; three missed doses: Patient 1), and one patient
    in each other tier: an undeliverable phone (Patient 6, older than the flare), refill
    overdue (Patient 5), an infusion out of its window (Patient 3), a low PDC (Patient 0).
    Patient 1 answered a text (its body must never show)."""
    north, south = seed(s, catalog, t0, now)
    for n in (5, 6):
        north.patients.append(
            enroll(s, catalog, "teriflunomide", t0.date(), now=t0, team=north.team, n=n)
        )
    n1, n2, _flare, n4, n5, n6 = north.patients
    add_flag(s, n4, "infusion_overdue", now - timedelta(days=3), days_late=3)
    add_flag(s, n1, "low_pdc", now - timedelta(days=9), pdc=0.61)
    add_flag(s, n5, "refill_overdue", now - timedelta(days=1))
    add_flag(s, n6, "undeliverable", now - timedelta(days=2))
    s.add(
        InboundMessage(
            provider_sid="SMtoday1",
            patient_id=n2.patient.id,
            from_number=n2.patient.phone,
            body="my private words",
            intent="skip",
            received_at=now - timedelta(hours=5),
        )
    )
    s.commit()
    return north, south


@pytest.fixture
def tiered(make_site: Any) -> Site:
    return make_site(seeder=tiers)


def listed(html: str) -> list[str]:
    return re.findall(r'<h2><a href="/workspace/patients/\d+">([^<]+)</a>', html)


def results(site: Site) -> list[CallResult]:
    with Session(site.engine) as s:
        return list(s.exec(select(CallResult).order_by(col(CallResult.id))).all())


def flag_of(site: Site, team: Team, index: int, rule: str) -> Flag:
    with Session(site.engine) as s:
        return s.exec(
            select(Flag).where(
                Flag.patient_id == team.patients[index].patient.id, Flag.rule == rule
            )
        ).one()


# --- over HTTP -------------------------------------------------------------------------------


def test_call_list_ranks_the_team_by_tier_with_why_answer_and_tel_link(tiered: Site) -> None:
    c = tiered.signed_in(tiered.north)
    before = len(tiered.audit())
    r = c.get("/workspace/")
    assert r.status_code == 200
    assert listed(r.text) == ORDER
    n2 = tiered.north.patients[1].patient
    assert f'href="tel:{n2.phone}"' in r.text
    assert "3 doses missed in a row" in r.text and "patient reported a flare" in r.text
    assert ">skip</span>" in r.text  # the intent of the last answer ...
    assert "my private words" not in r.text  # ... never its body
    assert "Patient 4" not in r.text  # South's patient
    [audit] = tiered.audit()[before:]
    assert (audit.action, audit.resource) == ("read", "workspace:calls")
    assert c.get("/workspace/?notice=" + "x" * 500).status_code == 200  # unknown: no notice


def test_posts_without_the_csrf_token_are_403_and_change_nothing(site: Site) -> None:
    c = site.signed_in(site.north)
    pid = site.north.patients[1].patient.id
    fid = flag_of(site, site.north, 1, "missed_doses").id
    for path, data in (
        (f"/workspace/patients/{pid}/calls", {"outcome": "reached"}),
        (f"/workspace/flags/{fid}/ack", {}),
        (f"/workspace/flags/{fid}/resolve", {"note": "called"}),
    ):
        r = c.post(path, data={**data, "csrf": "0" * 64}, allow_redirects=False)
        assert r.status_code == 403, path
    assert results(site) == []
    assert flag_of(site, site.north, 1, "missed_doses").status == "open"


def test_a_call_result_is_kept_with_who_and_when_audited_and_redirects(site: Site) -> None:
    c = site.signed_in(site.north)
    token = csrf_of(c.get("/workspace/").text)
    pid = site.north.patients[1].patient.id
    before = len(site.audit())
    r = c.post(
        f"/workspace/patients/{pid}/calls",
        data={"csrf": token, "outcome": "call_back", "note": "at work until 6"},
        allow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/workspace/?notice=call-saved"
    [row] = results(site)
    assert (row.patient_id, row.outcome, row.coordinator_id, row.at) == (
        pid,
        "call_back",
        site.north.coordinator_id,
        site.now,
    )
    assert row.by == f"North coordinator (coordinator:{site.north.coordinator_id})"
    assert row.requeue_at == site.now + timedelta(days=2)
    [audit] = site.audit()[before:]
    assert (audit.action, audit.patient_id) == ("call", pid)
    assert "at work" not in audit.details_json  # the note stays out of the audit
    page = c.get(r.headers["location"]).text
    assert "Call result saved" in page and "Patient 1" not in listed(page)


def test_bad_call_results_are_422_pages_naming_the_field(site: Site) -> None:
    c = site.signed_in(site.north)
    token = csrf_of(c.get("/workspace/").text)
    pid = site.north.patients[1].patient.id
    for data, field in (({"outcome": "hung_up"}, "outcome"), ({"outcome": "removed"}, "note")):
        r = c.post(f"/workspace/patients/{pid}/calls", data={"csrf": token, **data})
        assert r.status_code == 422 and "text/html" in r.headers["content-type"]
        assert f"{field}:" in r.text and "Nothing was changed" in r.text
    assert results(site) == []


def test_another_teams_patient_or_flag_is_a_404_and_changes_nothing(site: Site) -> None:
    c = site.signed_in(site.north)
    token = csrf_of(c.get("/workspace/").text)
    theirs = site.south.patients[0].patient.id
    their_flag = flag_of(site, site.south, 0, "missed_doses").id
    for path in (
        f"/workspace/patients/{theirs}/calls",
        "/workspace/patients/abc/calls",
        f"/workspace/flags/{their_flag}/ack",
        f"/workspace/flags/{their_flag}/resolve",
        "/workspace/flags/99999999999/ack",
    ):
        r = c.post(path, data={"csrf": token, "outcome": "reached", "note": "x"})
        assert r.status_code == 404, path
        assert "South" not in r.text
    assert results(site) == []
    assert flag_of(site, site.south, 0, "missed_doses").status == "open"


def test_resolving_needs_a_note_and_flag_forms_return_only_inside_the_workspace(
    site: Site,
) -> None:
    c = site.signed_in(site.north)
    token = csrf_of(c.get("/workspace/").text)
    flare = flag_of(site, site.north, 2, "flare_reported")
    r = c.post(f"/workspace/flags/{flare.id}/resolve", data={"csrf": token, "note": "  "})
    assert r.status_code == 422 and "note:" in r.text
    assert flag_of(site, site.north, 2, "flare_reported").status == "open"
    back = f"/workspace/patients/{flare.patient_id}"
    before = len(site.audit())
    r = c.post(
        f"/workspace/flags/{flare.id}/ack",
        data={"csrf": token, "next": back},
        allow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == back + "?notice=flag-acknowledged"
    assert flag_of(site, site.north, 2, "flare_reported").status == "acknowledged"
    r = c.post(
        f"/workspace/flags/{flare.id}/resolve",
        data={"csrf": token, "note": "seen by neurologist", "next": "https://evil.example/"},
        allow_redirects=False,
    )
    assert r.headers["location"] == "/workspace/?notice=flag-resolved"
    done = flag_of(site, site.north, 2, "flare_reported")
    assert done.status == "resolved" and "seen by neurologist" in done.note
    assert done.resolved_by.startswith("North coordinator")
    actions = [(a.action, a.resource) for a in site.audit()[before:]]
    assert actions == [("ack", f"flag:{flare.id}"), ("resolve", f"flag:{flare.id}")]
    r = c.post(f"/workspace/flags/{flare.id}/resolve", data={"csrf": token, "note": "again"})
    assert r.status_code == 409 and "already resolved" in r.text


# --- in the browser --------------------------------------------------------------------------


def card(page: Any, name: str) -> Any:
    return page.locator("li.call").filter(has=page.get_by_role("link", name=name, exact=True))


def test_browser_call_list_is_ordered_by_tier(tiered: Site, page: Any) -> None:
    sign_in(page, tiered, tiered.north)
    names = page.locator("li.call h2 a").all_inner_texts()
    assert names == ORDER
    assert card(page, "Patient 2").get_by_text("urgent").first.is_visible()


def test_browser_call_back_later_requeues_after_call_back_days(site: Site, page: Any) -> None:
    sign_in(page, site, site.north)
    missed = card(page, "Patient 1")
    missed.get_by_role("button", name="Call back later").click()
    page.wait_for_url(re.compile(r".*notice=call-saved"))
    assert page.get_by_role("status").inner_text().startswith("Call result saved")
    assert card(page, "Patient 1").count() == 0
    assert page.locator("#called-today").inner_text() == "1"
    waiting = page.locator("ul.waiting")
    assert "Patient 1" in waiting.inner_text() and "call back later" in waiting.inner_text()
    site.set_now(site.now + timedelta(days=1))
    sign_in(page, site, site.north)  # a day later the sign-in has long expired
    assert page.get_by_role("heading", name="Today").is_visible()
    assert card(page, "Patient 2").count() == 1 and card(page, "Patient 1").count() == 0
    site.set_now(site.now + timedelta(days=2))
    sign_in(page, site, site.north)
    back = card(page, "Patient 1")
    assert back.count() == 1 and "back on the list" in back.inner_text()


def test_browser_acknowledge_then_resolve_a_flag_with_a_note(site: Site, page: Any) -> None:
    sign_in(page, site, site.north)
    flare = card(page, "Patient 2")
    flare.get_by_role("button", name="Acknowledge").click()
    page.wait_for_url(re.compile(r".*notice=flag-acknowledged"))
    flare = card(page, "Patient 2")
    assert "acknowledged" in flare.locator("ul.why").inner_text()
    assert flare.get_by_role("button", name="Acknowledge").count() == 0
    flare.get_by_role("button", name="Resolve").click()  # no note: refused
    assert page.get_by_role("heading", name="Not saved").is_visible()
    assert "note:" in page.locator("main").inner_text()
    page.goto(site.base + "/workspace/")
    flare = card(page, "Patient 2")
    flare.get_by_label(re.compile("Note on")).fill("Neurologist saw her today")
    flare.get_by_role("button", name="Resolve").click()
    page.wait_for_url(re.compile(r".*notice=flag-resolved"))
    assert card(page, "Patient 2").count() == 0  # its only flag: off the list
    assert flag_of(site, site.north, 2, "flare_reported").status == "resolved"


def test_browser_removed_needs_a_reason_and_the_list_fits_a_phone(site: Site, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740})
    pg = context.new_page()
    try:
        sign_in(pg, site, site.north)
        assert pg.evaluate("document.documentElement.scrollWidth") <= 375
        card(pg, "Patient 1").get_by_role("button", name="Removed").click()
        assert pg.get_by_role("heading", name="Not saved").is_visible()
        pg.goto(site.base + "/workspace/")
        missed = card(pg, "Patient 1")
        missed.get_by_label("Call note").fill("moved to another clinic")
        missed.get_by_role("button", name="Removed").click()
        pg.wait_for_url(re.compile(r".*notice=call-saved"))
        assert card(pg, "Patient 1").count() == 0
        assert [r.note for r in results(site)] == ["moved to another clinic"]
    finally:
        shots = OUTPUT / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(shots / f"today_phone_width_{site.engine.dialect.name}.png"))
        context.close()
