"""The visit summary from the patient page, through the real app over HTTP (SQLite and
PostgreSQL): the button, the PDF (read back with pdftotext) and the HTML, own team only,
audited, never cached."""

from __future__ import annotations

import re
from pathlib import Path

from tests.adherence.care.pdf_tools import pdf_of, pdf_text, tool
from tests.adherence.web.workspace.conftest import Site
from tests.adherence.web.workspace.test_patient_actions import audits, patient_of


def test_the_patient_page_offers_the_visit_summary(site: Site) -> None:
    pid = patient_of(site.north, "N-2")
    page = site.signed_in(site.north).get(f"/workspace/patients/{pid}")
    assert page.status_code == 200
    assert f'href="/workspace/patients/{pid}/summary.pdf">Visit summary (PDF)</a>' in page.text
    assert f'href="/workspace/patients/{pid}/summary.html"' in page.text


def test_the_visit_summary_pdf_and_html_are_audited_and_not_cached(
    site: Site, tmp_path: Path
) -> None:
    tool("pdftotext")
    pdf_of("<p>WeasyPrint and Pango are here</p>")  # else skipped (failed under CI)
    pid = patient_of(site.north, "N-2")
    c = site.signed_in(site.north)
    r = c.get(f"/workspace/patients/{pid}/summary.pdf?since=2026-03-01")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-disposition"] == (
        f'inline; filename="visit-summary-patient-{pid}-2026-03-21.pdf"'
    )
    pdf = tmp_path / "page.pdf"
    pdf.write_bytes(r.content)
    text = re.sub(r"[ \t]+", " ", pdf_text(pdf))
    assert "Visit summary: Patient 1" in text and "teriflunomide (Aubagio)" in text
    assert "Period 01 Mar 2026 to 21 Mar 2026" in text and "! missed" in text
    html = c.get(f"/workspace/patients/{pid}/summary.html?paper=letter")
    assert html.status_code == 200 and html.headers["cache-control"] == "no-store"
    assert "Adherence by month" in html.text and "size: letter" in html.text
    assert "Period 22 Sep 2025 to 21 Mar 2026" in html.text.replace("\n", " ")
    rows = audits(site, "export")
    assert [e.resource for e in rows] == [
        f"patient:{pid}/summary:pdf",
        f"patient:{pid}/summary:html",
    ]
    assert all(e.patient_id == pid and e.team_id == site.north.team.id for e in rows)


def test_another_teams_patient_is_not_found_and_bad_input_is_named(site: Site) -> None:
    c = site.signed_in(site.north)
    south = patient_of(site.south, "S-1")
    for path in (f"/workspace/patients/{south}/summary.pdf", "/workspace/patients/x/summary.pdf"):
        r = c.get(path)
        assert r.status_code == 404 and "application/pdf" not in r.headers["content-type"]
    pid = patient_of(site.north, "N-1")
    assert c.get(f"/workspace/patients/{pid}/summary.docx").status_code == 404
    bad = c.get(f"/workspace/patients/{pid}/summary.pdf?since=spring")
    assert bad.status_code == 422 and "since: give a date" in bad.text
    late = c.get(f"/workspace/patients/{pid}/summary.html?since=2027-01-01")
    assert late.status_code == 422 and "is after today" in late.text
    assert c.get(f"/workspace/patients/{pid}/summary.html?paper=a3").status_code == 422
    signed_out = site.client().get(f"/workspace/patients/{pid}/summary.pdf",
                                   allow_redirects=False)  # fmt: skip
    assert signed_out.status_code == 303
    assert audits(site, "export") == []
