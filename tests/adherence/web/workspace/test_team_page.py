"""The team page over real HTTP (SQLite and PostgreSQL) and in Chromium: the PDC histogram
drawn as SVG (bar heights follow the numbers, the 80% line where 80% is), the same numbers
as tables, flags per week, clinic doses due with their booking, the follow-up figures, and
one audit row per view."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session

from adherence.dosing.materialize import materialize
from adherence.storage.models import Coordinator, Patient
from adherence.storage.workspace import CallResult
from adherence.web.workspace import svg
from schedules import Catalog
from tests.adherence.engine_helpers import enroll
from tests.adherence.web.workspace.conftest import OUTPUT, Site, Team, seed, sign_in

SVG = "{http://www.w3.org/2000/svg}"


def _chart(html: str, chart_id: str) -> ET.Element:
    found = re.search(rf'<svg [^>]*id="{chart_id}".*?</svg>', html, re.S)
    assert found, f"no {chart_id} in the page"
    return ET.fromstring(found.group(0))


def _bars(root: ET.Element, series: str | None = None) -> list[tuple[int, float]]:
    """(data-value, drawn height) of each bar, left to right."""
    return [
        (int(r.attrib["data-value"]), float(r.attrib["height"]))
        for r in root.iter(f"{SVG}rect")
        if r.attrib.get("class") == "bar"
        and (series is None or r.attrib.get("data-series") == series)
    ]


def _same_order(bars: list[tuple[int, float]]) -> None:
    """Taller bar exactly where the number is larger; equal numbers, equal bars."""
    for v1, h1 in bars:
        for v2, h2 in bars:
            assert (v1 < v2) == (h1 < h2 - 1e-9) and (v1 == v2) == (abs(h1 - h2) < 1e-9)


def test_histogram_bar_heights_follow_the_data_and_the_line_is_at_80_percent() -> None:
    values = [0, 1, 0, 2, 0, 3, 1, 0, 7, 4]
    chart = svg.histogram(
        "h", title="PDC", desc="d", labels=[f"{10 * i}%" for i in range(10)],
        values=values, line_at=0.8, line_label="80% threshold", unit="patients",
    )  # fmt: skip

    root = ET.fromstring(str(chart))

    assert root.attrib["role"] == "img" and root.attrib["aria-labelledby"] == "h-title h-desc"
    assert root.find(f"{SVG}title") is not None and root.find(f"{SVG}desc") is not None
    bars = _bars(root)
    assert [v for v, _ in bars] == values
    _same_order(bars)
    assert max(h for _, h in bars) == pytest.approx(svg.PLOT_H * 7 / 8)  # ticks of 2 up to 8
    (line,) = [e for e in root.iter(f"{SVG}line") if e.attrib.get("class") == "threshold"]
    x = float(line.attrib["x1"])
    assert x == pytest.approx(svg.LEFT + 0.8 * svg.PLOT_W) == float(line.attrib["x2"])
    # The line is the left edge of the 80% bin: bins 0..7 lie left of it, 8 and 9 right.
    rects = [e for e in root.iter(f"{SVG}rect") if e.attrib.get("class") == "bar"]
    assert all(float(r.attrib["x"]) + float(r.attrib["width"]) <= x for r in rects[:8])
    assert all(float(r.attrib["x"]) >= x for r in rects[8:])


def test_grouped_bars_keep_each_series_in_order() -> None:
    chart = svg.grouped_bars(
        "g", title="Flags", desc="d", labels=["a", "b", "c"],
        series=[svg.Series("opened", [3, 0, 1]), svg.Series("resolved", [1, 2, 2])],
    )  # fmt: skip
    root = ET.fromstring(str(chart))
    assert [v for v, _ in _bars(root, "0")] == [3, 0, 1]
    assert [v for v, _ in _bars(root, "1")] == [1, 2, 2]
    _same_order(_bars(root))
    assert "opened" in ET.tostring(root, encoding="unicode")  # the legend names the series


# --- the page ----------------------------------------------------------------------------------


def _seed(s: Session, catalog: Catalog, t0: datetime, now: datetime) -> tuple[Team, Team]:
    """The shared seed, plus a North infusion patient starting in 5 days and a call that
    reached one flagged North patient."""
    north, south = seed(s, catalog, t0, now)
    north.patients.append(
        enroll(
            s,
            catalog,
            "ocrelizumab",
            (now + timedelta(days=5)).date(),
            now=now,
            times=["09:00"],
            team=north.team,
            n=7,
            external_id="N-5",
        )
    )
    materialize(s, now=now, catalog=catalog, horizon_days=40)
    s.add(
        CallResult(
            team_id=north.team.id,  # type: ignore[arg-type]
            patient_id=north.patients[1].patient.id,  # type: ignore[arg-type]
            by="North coordinator",
            outcome="reached",
            at=now,
        )
    )
    s.commit()
    return north, south


@pytest.fixture
def team_site(make_site: Callable[..., Site]) -> Site:
    return make_site(seeder=_seed)


def test_team_page_draws_the_pdc_histogram_and_its_table_with_one_audit_row(
    team_site: Site,
) -> None:
    site = team_site
    c = site.signed_in(site.north)
    before = [a for a in site.audit() if a.resource == "workspace:team"]

    r = c.get("/workspace/team")

    assert r.status_code == 200
    root = _chart(r.text, "pdc-chart")
    bars = _bars(root)
    table = re.search(r'<table class="figures" id="pdc-table">.*?</table>', r.text, re.S)
    assert table
    counts = [int(n) for n in re.findall(r"<td>(\d+)</td>", table.group(0))]
    assert [v for v, _ in bars] == counts[:10]  # the table shows the chart's numbers
    _same_order(bars)
    # North: N-1 takes every dose, N-2 missed its last days, N-3 takes; N-4 and N-5 have
    # infusions only (not in PDC): counted apart.
    assert sum(counts[:10]) == 3 and counts[10] == 2
    line = next(e for e in root.iter(f"{SVG}line") if e.attrib.get("class") == "threshold")
    assert float(line.attrib["x1"]) == pytest.approx(svg.LEFT + 0.8 * svg.PLOT_W)
    after = [a for a in site.audit() if a.resource == "workspace:team"]
    assert len(after) == len(before) + 1


def test_team_page_shows_flags_infusions_due_and_follow_up(team_site: Site) -> None:
    site = team_site
    r = site.signed_in(site.north).get("/workspace/team")
    html = r.text

    flags = _chart(html, "flags-chart")
    opened = [v for v, _ in _bars(flags, "0")]
    assert len(opened) == 12 and opened[-1] == 2  # North's two flags were raised this week
    infusion = site.north.patients[-1].patient
    rows = re.findall(r"<tr>\s*<td data-label=\"Patient\">(.*?)</tr>", html, re.S)
    assert len(rows) == 2  # Day 1 and Day 15 of the new infusion patient
    assert all(f'href="/workspace/patients/{infusion.id}"' in row for row in rows)
    assert all("Not booked" in row for row in rows)
    contacted = re.search(r'<dd id="contacted">(.*?)</dd>', html, re.S)
    assert contacted and "50%" in contacted.group(1) and "(1 of 2)" in contacted.group(1)
    back = re.search(r'<dd id="back">(.*?)</dd>', html, re.S)
    assert back and "(0 of 0 contacts)" in back.group(1)  # the call was not 15 days ago


def test_another_team_sees_only_its_own_figures(team_site: Site) -> None:
    site = team_site
    html = site.signed_in(site.south).get("/workspace/team").text
    assert "South Clinic" in html and "Not booked" not in html
    counts = [v for v, _ in _bars(_chart(html, "pdc-chart"))]
    assert sum(counts) == 1


# --- in Chromium -----------------------------------------------------------------------------


def test_coordinator_opens_team_and_reads_the_histogram_and_tables(
    team_site: Site, page: Any
) -> None:
    site = team_site
    sign_in(page, site, site.north)

    page.get_by_role("link", name="Team").click()

    page.wait_for_url(site.base + "/workspace/team")
    page.get_by_role("heading", name="PDC distribution").wait_for()
    chart = page.get_by_role("img", name=re.compile(r"^PDC of 3 patients"))
    assert chart.is_visible() and chart.bounding_box()["height"] > 100
    assert page.get_by_role("table", name="Patients per PDC band").is_visible()
    assert page.get_by_role("table", name="Flags per week").is_visible()
    assert page.get_by_role("img", name=re.compile("Flags opened and resolved")).is_visible()
    assert page.get_by_role("link", name="Patient 7").first.is_visible()
    (OUTPUT / "screenshots").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "screenshots" / f"team_page_{site.engine.name}.png"),
                    full_page=True)  # fmt: skip
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_pdc_distribution_follows_each_change_at_the_next_view(team_site: Site) -> None:
    site = team_site
    c = site.signed_in(site.north)
    first = sum(v for v, _ in _bars(_chart(c.get("/workspace/team").text, "pdc-chart")))
    with Session(site.engine) as s:
        patient = s.get(Patient, site.north.patients[0].patient.id)
        assert patient is not None
        patient.active = False  # removed: no longer in the distribution
        s.add(patient)
        s.commit()
    again = c.get("/workspace/team").text  # no waiting: the cache knows what changed
    assert first == 3
    assert sum(v for v, _ in _bars(_chart(again, "pdc-chart"))) == 2


def test_a_team_no_coordinator_alert_can_reach_gets_a_banner(site: Site) -> None:
    north = site.signed_in(site.north)
    assert 'id="no-coordinator"' not in north.get("/workspace/team").text
    # The signed-in coordinator switches e-mail alerts off and has no SMS: nobody is alerted.
    with Session(site.engine) as s:
        c = s.get(Coordinator, site.north.coordinator_id)
        assert c is not None and not c.notify_sms
        c.notify_email = False
        s.add(c)
        s.commit()

    html = north.get("/workspace/team").text
    south = site.signed_in(site.south).get("/workspace/team").text

    banner = re.search(r'<p class="error" role="alert" id="no-coordinator">(.*?)</p>', html, re.S)
    assert banner and "No coordinator of this team can be alerted" in banner.group(1)
    assert "FLARE" in banner.group(1)
    assert 'id="no-coordinator"' not in south
