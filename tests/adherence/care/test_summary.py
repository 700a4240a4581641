"""The visit summary (adherence.care.summary) for a seeded patient: the data gathered, the
HTML page, and its PDF read back with poppler's pdftotext and turned into PNG pages with
pdftoppm (test-output/summary/), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlmodel import Session

from adherence.care.summary import Summary, default_since, gather, render_html
from adherence.core.config import Settings
from schedules import Catalog
from tests.adherence.care.pdf_tools import pdf_of, pdf_pages, pdf_text, to_png
from tests.adherence.care.summary_seed import SINCE, UNTIL, VISIT, Seeded, seed_patient

SETTINGS = Settings()


@pytest.fixture
def seeded(session: Session, catalog: Catalog) -> Seeded:
    return seed_patient(session, catalog)


def summary_of(session: Session, catalog: Catalog, seeded: Seeded, **kw: date) -> Summary:
    return gather(session, seeded.patient, since=kw.get("since", SINCE),
                  until=kw.get("until", UNTIL), now=VISIT, catalog=catalog,
                  settings=SETTINGS)  # fmt: skip


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = False

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self._skip = tag in ("style", "title")

    def handle_endtag(self, tag: str) -> None:
        self._skip = False

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def text_of(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return re.sub(r"\s+", " ", " ".join(parser.parts))


def test_default_since_is_six_whole_months_back() -> None:
    assert default_since(date(2026, 6, 2)) == date(2025, 12, 3)
    assert default_since(date(2026, 8, 31)) == date(2026, 3, 1)  # 28 Feb + 1
    assert default_since(date(2026, 1, 15)) == date(2025, 7, 16)


def test_summary_counts_adherence_by_month(
    session: Session, catalog: Catalog, seeded: Seeded
) -> None:
    s = summary_of(session, catalog, seeded)
    labels = [m.label for m in s.months]
    assert labels == ["Dec 2025 (3-31)", "Jan 2026", "Feb 2026", "Mar 2026", "Apr 2026",
                      "May 2026", "Jun 2026 (1-2)"]  # fmt: skip
    by = {m.label: m for m in s.months}
    # Misses on the 7th and 21st of Jan (glatiramer), Apr and May (teriflunomide).
    assert [by[k].missed for k in ("Jan 2026", "Feb 2026", "Apr 2026", "May 2026")] == [2, 0, 2, 2]
    assert by["Mar 2026"].late == 3 and by["Mar 2026"].taken == by["Mar 2026"].scheduled == 30
    assert by["Apr 2026"].pdc == pytest.approx(28 / 30)
    assert by["Dec 2025 (3-31)"].pdc == 1.0
    assert s.missed_total == 6 and s.late_total == 3 and s.skipped_total == 0
    assert s.pdc is not None and 0.85 < s.pdc < 1
    assert s.therapies == ["glatiramer acetate (Copaxone, Glatopa)", "teriflunomide (Aubagio)"]
    # The list holds the latest ten, newest last; the counts hold all.
    assert len(s.dose_lines) == 9
    assert s.dose_lines[-1].what == "missed" and s.dose_lines[-1].due.date() == date(2026, 5, 21)
    late = [d for d in s.dose_lines if d.what == "taken late"]
    assert [d.taken - d.due for d in late if d.taken] == [timedelta(hours=7)] * 3


def test_summary_finds_the_supply_gap_the_flare_and_the_checks(
    session: Session, catalog: Catalog, seeded: Seeded
) -> None:
    s = summary_of(session, catalog, seeded)
    assert [(g.therapy, g.first, g.last, g.days, g.ongoing) for g in s.gaps] == [
        ("teriflunomide (Aubagio)", date(2026, 4, 1), date(2026, 4, 9), 9, False)
    ]
    (flare,) = s.flares
    assert flare.reported.date() == date(2026, 4, 20) and flare.severity == "urgent"
    assert flare.answers == [
        ("New or worse symptoms", "yes"),
        ("Lasting more than 24 hours", "yes"),
    ]
    statuses = [(c.label, c.due, c.status) for c in s.checks]
    assert statuses == [
        ("ALT (liver) blood test", date(2026, 4, 2), "done"),
        ("ALT (liver) blood test", date(2026, 5, 2), "overdue"),
        ("ALT (liver) blood test", date(2026, 6, 2), "due"),
    ]
    assert s.checks[0].done_on == date(2026, 4, 3) and s.checks_overdue == 1
    # An overdue check from before the period stays on the page; a done one does not.
    later = summary_of(session, catalog, seeded, since=date(2026, 5, 20))
    assert [(c.due, c.status) for c in later.checks] == [
        (date(2026, 5, 2), "overdue"),
        (date(2026, 6, 2), "due"),
    ]


def test_summary_shows_check_in_trends_per_item(
    session: Session, catalog: Catalog, seeded: Seeded
) -> None:
    s = summary_of(session, catalog, seeded)
    trends = {t.item: t for t in s.trends}
    assert set(trends) == {"fatigue", "walking", "new_symptoms"}  # triage answers are not trends
    fatigue = trends["fatigue"]
    assert fatigue.columns == ["Dec", "Jan", "Feb", "Mar", "Apr", "May", "Jun"]
    assert (fatigue.low, fatigue.high) == (3.0, 6.0) and fatigue.last_on == date(2026, 5, 30)
    assert fatigue.cells[0] == "3.5" and fatigue.cells[-1] == "—"  # none asked on 1-2 Jun
    assert float(fatigue.cells[4]) > float(fatigue.cells[2])  # worse around the flare
    symptoms = trends["new_symptoms"]
    assert symptoms.cells[4] == "4 of 4 yes" and symptoms.cells[3] == "0 of 4 yes"
    assert symptoms.shown(symptoms.last) == "no"
    # Eight weeks or less: by week.
    short = summary_of(session, catalog, seeded, since=date(2026, 4, 6), until=date(2026, 5, 3))
    weekly = {t.item: t for t in short.trends}["fatigue"]
    assert weekly.columns == ["wk 06 Apr", "wk 13 Apr", "wk 20 Apr", "wk 27 Apr"]


def test_summary_lists_injection_sites_and_the_repeat(
    session: Session, catalog: Catalog, seeded: Seeded
) -> None:
    s = summary_of(session, catalog, seeded)
    names = {u.name: u for u in s.sites}
    assert all(u.uses >= 5 for u in s.sites) and len(names) == 4
    assert all(u.last <= date(2026, 3, 1) for u in s.sites)
    (repeat,) = s.repeats
    assert repeat.note == "same site within 7 days" and "(" in repeat.name


def test_the_html_page_holds_every_section_in_words(
    session: Session, catalog: Catalog, seeded: Seeded
) -> None:
    html = render_html(summary_of(session, catalog, seeded))
    text = text_of(html)
    for expected in (
        "Visit summary: Patient 0",
        "MRN MRN-4711",
        "Period 03 Dec 2025 to 02 Jun 2026",
        "teriflunomide (Aubagio)",  # for the clinician: the therapy is named
        "Adherence by month",
        "Apr 2026 93% 28 of 30 2 0",
        "! missed",
        "taken late",
        "01 Apr 2026 to 09 Apr 2026 9",
        "New or worse symptoms: yes",
        "Fatigue (0-10) 3.5",
        "ALT (liver) blood test 02 May 2026 03 May 2026 ! OVERDUE",
        "done 03 Apr 2026",
        "Repeats against the rotation rule",
        "Checks overdue: 1",
    ):
        assert expected in text, expected
    assert "size: A4" in html and "counter(pages)" in html
    assert "size: letter" in render_html(summary_of(session, catalog, seeded), paper="letter")
    with pytest.raises(ValueError, match="paper"):
        render_html(summary_of(session, catalog, seeded), paper="a3")
    # Black and white: no colour in the stylesheet but black and white.
    colours = set(re.findall(r"#[0-9a-fA-F]{3,6}\b", html))
    assert colours <= {"#000", "#fff"}


def test_a_name_is_escaped(session: Session, catalog: Catalog, seeded: Seeded) -> None:
    seeded.patient.name = "<b>Ann</b>"
    html = render_html(summary_of(session, catalog, seeded))
    assert "<b>Ann</b>" not in html and "&lt;b&gt;Ann&lt;/b&gt;" in html


def test_a_period_ending_before_it_starts_is_refused(
    session: Session, catalog: Catalog, seeded: Seeded
) -> None:
    with pytest.raises(ValueError, match="since"):
        summary_of(session, catalog, seeded, since=date(2026, 7, 1))


def test_the_pdf_opens_holds_the_text_and_fits_one_page(
    session: Session, catalog: Catalog, seeded: Seeded, tmp_path: Path, db_url: str
) -> None:
    pdf = tmp_path / "summary.pdf"
    pdf.write_bytes(pdf_of(render_html(summary_of(session, catalog, seeded))))
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert pdf_pages(pdf) == 1  # six months on one page
    text = re.sub(r"[ \t]+", " ", pdf_text(pdf))
    for expected in ("Visit summary: Patient 0", "Adherence by month", "teriflunomide (Aubagio)",
                     "! OVERDUE", "Supply gaps", "Flares reported", "Check-in trends",
                     "Injection sites", "Page 1 of 1"):  # fmt: skip
        assert expected in text, expected
    assert re.search(r"Apr 2026 93% 28 of 30 2 0", text)
    name = "visit-summary" if db_url.startswith("sqlite") else "visit-summary-pg"
    pages = to_png(pdf, name)
    assert len(pages) == 1 and pages[0].read_bytes().startswith(b"\x89PNG")
