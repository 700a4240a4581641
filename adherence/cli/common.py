"""Helpers shared by CLI commands: one clear error line, JSON output, argument parsing,
the options every command takes (--json, --config) and looking a record up by reference."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from datetime import date
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from sqlmodel import Session

from adherence.patients.enrollment import NotFound


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def parse_date(flag: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{flag} {text!r} is not a date: expected YYYY-MM-DD")


def parse_options(pairs: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            fail(f"--option {pair!r} is not KEY=VALUE (e.g. --option strength=40)")
        out[key.strip()] = value.strip()
    return out


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


ConfigOpt = typer.Option(
    "--config", help="Config file (else $ADHERENCE_CONFIG, ./adherence.toml, defaults)."
)
Config = Annotated[str | None, ConfigOpt]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]

T = TypeVar("T")


def found(find: Callable[[Session, str], T], session: Session, ref: str) -> T:
    """``find(session, ref)`` (e.g. ``adherence.patients.enrollment.find_patient``), or its
    ``NotFound`` message as the one error line."""
    try:
        return find(session, ref)
    except NotFound as exc:
        fail(str(exc))


def load_app(config: str | None, *, check: bool = True) -> Any:
    """Settings + engine + catalog, or one clear error line."""
    from adherence.bootstrap import build_app
    from adherence.core.config import ConfigError, load_settings
    from adherence.storage.db import SchemaOutdated

    try:
        settings = load_settings(config)
        return build_app(settings, check=check)
    except ConfigError as exc:
        fail(str(exc))
    except SchemaOutdated as exc:
        fail(str(exc))
    except Exception as exc:  # a database that cannot be reached, a bad URL
        fail(f"database: {type(exc).__name__}: {exc}".splitlines()[0])
