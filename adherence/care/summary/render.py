"""The visit summary as one HTML page: ``templates/summary.html`` through Jinja2
(autoescaped: a patient's name is data), with its print CSS inline so the page and its PDF
need nothing from anywhere else.

Readable in black and white: every status is a word (never a colour alone), tables have
headers, text is black on white, and the paper size (A4 or US Letter) sets the page box;
pages after the first carry page numbers.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from adherence.care.summary.gather import Summary

TEMPLATES = Path(__file__).parent / "templates"
PAPERS = {"a4": "A4", "letter": "letter"}

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _day(value: date | None) -> str:
    return "—" if value is None else value.strftime("%d %b %Y")


def _when(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%d %b %Y %H:%M")


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


_env.filters["day"] = _day
_env.filters["when"] = _when
_env.filters["percent"] = _percent


def render_html(summary: Summary, *, paper: str = "a4") -> str:
    """The summary page; ``paper`` is ``a4`` or ``letter``."""
    if paper not in PAPERS:
        raise ValueError(f"paper: {paper!r} is not one of {', '.join(PAPERS)}")
    return _env.get_template("summary.html").render(s=summary, page_size=PAPERS[paper])
