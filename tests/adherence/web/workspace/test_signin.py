"""Signing in and out of the workspace, its cookie, CSRF and the team boundary, over real
HTTP (SQLite and PostgreSQL) and in Chromium."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from adherence.care.coordinators import revoke
from adherence.storage.models import WorkspaceSession
from tests.adherence.web.workspace.conftest import Site, csrf_of, screenshot, sign_in


def test_signed_out_workspace_redirects_to_a_form_with_a_token_input(site: Site) -> None:
    c = site.client()
    r = c.get("/workspace/", allow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/workspace/signin")
    form = c.get(r.headers["location"])
    assert form.status_code == 200
    assert re.search(r'<input[^>]*name="token"', form.text)
    assert "text/html" in form.headers["content-type"]


def test_sign_in_sets_an_httponly_lax_cookie_and_opens_the_workspace(site: Site) -> None:
    c = site.client()
    form = c.get("/workspace/signin")
    r = c.post(
        "/workspace/signin",
        data={"token": site.north.token, "csrf": csrf_of(form.text)},
        allow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/workspace/"
    cookie = r.headers["set-cookie"]
    session_cookie = next(p for p in r.raw.headers.getlist("set-cookie") if "msa_session=" in p)
    assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie
    assert "Secure" not in session_cookie  # plain http on loopback
    assert "msa_session=" in cookie
    page = c.get("/workspace/")
    assert page.status_code == 200 and "North Clinic" in page.text
    # The cookie holds a session token, never the coordinator's own API token.
    assert site.north.token not in cookie
    with Session(site.engine) as s:
        rows = s.exec(select(WorkspaceSession)).all()
    assert len(rows) == 1 and rows[0].coordinator_id == site.north.coordinator_id


def test_cookie_is_secure_when_served_over_https(make_site: Any) -> None:
    site = make_site({"http": {"public_base_url": "https://clinic.example.org"}})
    c = site.client()
    form = c.get("/workspace/signin")
    assert "Secure" in form.headers["set-cookie"]  # the sign-in form's own cookie too
    # A client keeps a Secure cookie for https only: sent by hand over this loopback http.
    pre = re.search(r"msa_signin=([^;]+)", form.headers["set-cookie"])
    assert pre
    r = c.post(
        "/workspace/signin",
        data={"token": site.north.token, "csrf": csrf_of(form.text)},
        headers={"Cookie": f"msa_signin={pre.group(1)}"},
        allow_redirects=False,
    )
    assert "Secure" in r.headers["set-cookie"]


def test_a_wrong_token_is_refused_and_opens_nothing(site: Site) -> None:
    c = site.client()
    form = c.get("/workspace/signin")
    r = c.post(
        "/workspace/signin",
        data={"token": "msa_wrong", "csrf": csrf_of(form.text)},
        allow_redirects=False,
    )
    assert r.status_code == 401
    assert "did not sign you in" in r.text
    assert c.get("/workspace/", allow_redirects=False).status_code == 303
    with Session(site.engine) as s:
        assert s.exec(select(WorkspaceSession)).all() == []


def test_sign_in_without_its_csrf_token_is_403(site: Site) -> None:
    c = site.client()
    c.get("/workspace/signin")
    r = c.post("/workspace/signin", data={"token": site.north.token}, allow_redirects=False)
    assert r.status_code == 403
    with Session(site.engine) as s:
        assert s.exec(select(WorkspaceSession)).all() == []


def test_sign_out_needs_csrf_and_then_ends_the_session(site: Site) -> None:
    c = site.signed_in(site.north)
    assert c.post("/workspace/signout", data={"csrf": "0" * 64}).status_code == 403
    assert c.get("/workspace/", allow_redirects=False).status_code == 200  # still signed in
    token = csrf_of(c.get("/workspace/").text)
    r = c.post("/workspace/signout", data={"csrf": token}, allow_redirects=False)
    assert r.status_code == 303
    assert c.get("/workspace/", allow_redirects=False).status_code == 303
    with Session(site.engine) as s:
        assert s.exec(select(WorkspaceSession)).one().ended_at is not None


def test_sessions_end_when_idle_at_their_limit_and_on_revocation(site: Site) -> None:
    c = site.signed_in(site.north)
    site.set_now(site.now + timedelta(minutes=59))
    assert c.get("/workspace/", allow_redirects=False).status_code == 200  # touched at 59 min
    site.set_now(site.now + timedelta(minutes=59 + 59))
    assert c.get("/workspace/", allow_redirects=False).status_code == 200
    site.set_now(site.now + timedelta(minutes=59 + 59 + 61))
    assert c.get("/workspace/", allow_redirects=False).status_code == 303  # idle > 60 min

    c = site.signed_in(site.north)
    for step in range(1, 13):  # busy all day: a page every 55 minutes
        site.set_now(site.now + timedelta(minutes=59 + 59 + 61 + 55 * step))
        expected = 200 if 55 * step < 12 * 60 else 303
        assert c.get("/workspace/", allow_redirects=False).status_code == expected, step

    c = site.signed_in(site.north)
    with Session(site.engine) as s:
        revoke(s, site.north.coordinator_id, site.now)
    assert c.get("/workspace/", allow_redirects=False).status_code == 303


def test_another_teams_patient_is_a_404_page_and_own_patient_is_audited(site: Site) -> None:
    c = site.signed_in(site.north)
    theirs = site.south.patients[0].patient.id
    mine = site.north.patients[0].patient.id
    for path in (f"/workspace/patients/{theirs}", "/workspace/patients/999999",
                 "/workspace/patients/abc", "/workspace/nowhere"):  # fmt: skip
        r = c.get(path)
        assert r.status_code == 404, path
        assert "text/html" in r.headers["content-type"]
        assert "South" not in r.text and "Patient 4" not in r.text
    before = len(site.audit())
    assert c.get(f"/workspace/patients/{mine}").status_code == 200
    rows = site.audit()[before:]
    assert [(a.action, a.resource, a.patient_id) for a in rows] == [
        ("read", f"patient:{mine}", mine)
    ]
    assert rows[0].actor == f"coordinator:{site.north.coordinator_id}"
    assert '"via": "workspace"' in rows[0].details_json


def test_pages_carry_a_strict_content_security_policy_and_are_not_cached(site: Site) -> None:
    c = site.signed_in(site.north)
    r = c.get("/workspace/")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"
    css = c.get("/workspace/static/workspace.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]


# --- in the browser --------------------------------------------------------------------------


def test_browser_sign_in_out_and_no_way_into_another_team(site: Site, page: Any) -> None:
    page.goto(site.base + "/workspace/patients")
    assert "/workspace/signin" in page.url
    page.get_by_label("Coordinator token").fill(site.north.token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(site.base + "/workspace/patients")  # back where the coordinator was going
    theirs = site.south.patients[0].patient.id
    response = page.goto(site.base + f"/workspace/patients/{theirs}")
    assert response.status == 404
    assert page.get_by_role("heading", name="Not found").is_visible()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/workspace/signin.*"))
    page.goto(site.base + "/workspace/")
    assert "/workspace/signin" in page.url


def test_browser_signin_is_usable_at_phone_width(
    site: Site, browser: Any, request: pytest.FixtureRequest
) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740})
    pg = context.new_page()
    try:
        pg.goto(site.base + "/workspace/signin")
        sign_in(pg, site, site.north)
        width = pg.evaluate("document.documentElement.scrollWidth")
        assert width <= 375  # nothing wider than the phone
        screenshot(pg, request)
    finally:
        context.close()
