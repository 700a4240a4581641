"""Templates and the headers every workspace page carries.

Jinja2 with autoescaping on (a patient's name is data, never markup). Pages are
self-contained: one stylesheet served by the daemon, no script, no font or image from
anywhere else, so the workspace works on an offline clinic network; the Content Security
Policy says so to the browser too. Pages of patient data are never cached.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _local(value: datetime | None, tz: str = "UTC", fmt: str = "%a %d %b %Y %H:%M") -> str:
    """An instant as the clinic reads it, in a zone (the patient's or the team's)."""
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(tz)).strftime(fmt)


def _day(value: date | None, fmt: str = "%a %d %b %Y") -> str:
    return "—" if value is None else value.strftime(fmt)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,  # a misspelt name in a template fails its test, not silently
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters["local"] = _local
env.filters["day"] = _day
env.filters["percent"] = _percent


def render(template: str, **context: Any) -> str:
    return env.get_template(template).render(**context)


def page(template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("viewer", None)
    context.setdefault("csrf", "")
    context.setdefault("nav", "")
    context.setdefault("notice", "")
    return HTMLResponse(
        render(template, **context), status_code=status_code, headers=SECURITY_HEADERS
    )
