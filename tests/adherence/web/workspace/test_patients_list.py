"""The patients list over real HTTP (SQLite and PostgreSQL) and in Chromium: search by name
and external id, filters by therapy, flag and PDC band, only the team's own patients, one
audit row per view."""

from __future__ import annotations

import re
from typing import Any

from tests.adherence.web.workspace.conftest import Site, sign_in

LINK = re.compile(r'<a href="/workspace/patients/\d+">([^<]+)</a>')


def names(site: Site, **query: str) -> list[str]:
    r = site.signed_in(site.north).get("/workspace/patients", params=query)
    assert r.status_code == 200
    return LINK.findall(r.text)


def test_list_shows_the_teams_patients_with_therapy_flags_and_pdc(site: Site) -> None:
    html = site.signed_in(site.north).get("/workspace/patients").text
    assert LINK.findall(html) == ["Patient 0", "Patient 1", "Patient 2", "Patient 3"]
    assert "Patient 4" not in html  # South's
    row = html.split(">Patient 1<")[1].split("</tr>")[0]
    assert "N-2" in row and "consecutive doses missed" in row
    assert re.search(r"Teriflunomide", row, re.I)
    infusion = html.split(">Patient 3<")[1].split("</tr>")[0]
    assert "not measured" in infusion  # infusions are outside PDC


def test_search_matches_part_of_the_name_or_external_id_in_any_case(site: Site) -> None:
    assert names(site, q="patient 2") == ["Patient 2"]
    assert names(site, q="n-2") == ["Patient 1"]
    assert names(site, q="S-1") == []  # another team's external id finds nothing
    assert names(site, q="%") == []  # a wildcard is a character, not "everything"


def test_filters_by_therapy_flag_and_pdc_band(site: Site) -> None:
    assert names(site, therapy="fingolimod") == ["Patient 2"]
    assert names(site, flag="missed_doses") == ["Patient 1"]  # South's flag not counted
    assert names(site, flag="any") == ["Patient 1", "Patient 2"]
    assert names(site, band="none") == ["Patient 3"]
    assert names(site, band="ge80") == ["Patient 0", "Patient 2"]
    assert names(site, band="50to80") == ["Patient 1"]  # 4 of 21 days missed
    assert names(site, band="50to80", q="patient 0") == []
    assert names(site, therapy="teriflunomide", band="ge80") == ["Patient 0"]


def test_an_unknown_filter_value_is_named_and_ignored(site: Site) -> None:
    r = site.signed_in(site.north).get("/workspace/patients", params={"band": "x", "flag": "y"})
    assert r.status_code == 200
    assert "band: not a PDC band" in r.text and "flag: not a flag" in r.text
    assert len(LINK.findall(r.text)) == 4


def test_each_view_of_the_list_writes_one_audit_row_with_the_count(site: Site) -> None:
    c = site.signed_in(site.north)
    c.get("/workspace/patients", params={"q": "n-2"})
    rows = [a for a in site.audit() if a.resource == "workspace:patients"]
    assert len(rows) == 1
    assert '"count": 1' in rows[0].details_json and rows[0].team_id == site.north.team.id
    assert "N-2" not in rows[0].details_json  # what was searched for stays out


# --- in Chromium -------------------------------------------------------------------------


def test_coordinator_searches_by_name_and_by_external_id(page: Any, site: Site) -> None:
    sign_in(page, site, site.north)
    page.get_by_role("link", name="Patients", exact=True).click()
    page.get_by_label("Name or external id").fill("Patient 2")
    page.get_by_role("button", name="Search").click()
    table = page.get_by_role("table")
    assert table.get_by_role("link").all_inner_texts() == ["Patient 2"]
    page.get_by_label("Name or external id").fill("n-4")
    page.get_by_label("Name or external id").press("Enter")
    page.wait_for_url(re.compile(r"q=n-4"))
    assert page.get_by_role("table").get_by_role("link").all_inner_texts() == ["Patient 3"]


def test_coordinator_filters_by_flag(page: Any, site: Site) -> None:
    sign_in(page, site, site.north)
    page.goto(site.base + "/workspace/patients")
    page.get_by_label("Open flag").select_option(label="patient reported a flare")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"flag=flare_reported"))
    assert page.get_by_role("table").get_by_role("link").all_inner_texts() == ["Patient 2"]
    assert page.get_by_label("Open flag").input_value() == "flare_reported"


def test_patients_list_has_no_horizontal_scroll_at_phone_width(page: Any, site: Site) -> None:
    page.set_viewport_size({"width": 375, "height": 800})
    sign_in(page, site, site.north)
    page.goto(site.base + "/workspace/patients")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
