"""`adherence summary PATIENT [--since DATE] --format html|pdf [--out FILE]`: the visit
summary for the neurology visit (adherence.care.summary), from ``--since`` (default: six
months back) to today in the patient's zone. HTML goes to standard output without
``--out``; PDF too, but only when standard output is not a terminal. Audited as an export."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from adherence.cli.common import Config, fail, found, load_app, parse_date
from adherence.core.clock import SystemClock

FORMATS = ("html", "pdf")


def register(app: typer.Typer) -> None:
    app.command("summary")(summary)


def summary(
    patient: Annotated[str, typer.Argument(help="Patient id or external id.")],
    fmt: Annotated[str, typer.Option("--format", help="html or pdf.")] = "html",
    since: Annotated[
        str | None,
        typer.Option("--since", help="First day, YYYY-MM-DD (default: six months back)."),
    ] = None,
    out: Annotated[
        str | None, typer.Option("--out", help="File to write (default: standard output).")
    ] = None,
    paper: Annotated[str, typer.Option("--paper", help="a4 or letter.")] = "a4",
    config: Config = None,
) -> None:
    """The visit summary of one patient, as HTML or PDF, for the clinician."""
    from adherence.care.summary import (
        PAPERS,
        PdfUnavailable,
        default_since,
        gather,
        render_html,
        render_pdf,
    )
    from adherence.cli.export import _atomic_write
    from adherence.patients.enrollment import find_patient
    from adherence.storage.audit import cli_actor, record

    if fmt not in FORMATS:
        fail(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    if paper not in PAPERS:
        fail(f"--paper {paper!r} is not one of {', '.join(PAPERS)}")
    target: Path | None = None
    if out is not None and out != "-":
        target = Path(out)
        if target.is_dir():
            fail(f"--out {out!r} is a directory")
        if not target.parent.is_dir():
            fail(f"--out {out!r}: directory {str(target.parent)!r} does not exist")
    elif fmt == "pdf" and sys.stdout.isatty():
        fail("--format pdf: standard output is a terminal; give --out FILE or redirect it")
    first = parse_date("--since", since) if since is not None else None
    app = load_app(config)
    now = SystemClock().now()
    with app.session() as s:
        p = found(find_patient, s, patient)
        today = now.astimezone(ZoneInfo(p.tz)).date()
        start = first or default_since(today)
        if start > today:
            fail(f"--since {start} is after today ({today}) in the patient's zone")
        data = gather(s, p, since=start, until=today, now=now, catalog=app.catalog,
                      settings=app.settings)  # fmt: skip
        html = render_html(data, paper=paper)
        try:
            body = render_pdf(html) if fmt == "pdf" else html.encode()
        except PdfUnavailable as exc:
            fail(str(exc))
        try:
            if target is not None:
                _atomic_write(target, iter([body]))
            else:
                sys.stdout.buffer.write(body)
                sys.stdout.buffer.flush()
        except OSError as exc:
            fail(f"--out {out!r}: {exc.strerror or exc}")
        record(
            s,
            actor=cli_actor(),
            team_id=p.team_id,
            action="export",
            resource=f"patient:{p.id}/summary:{fmt}",
            patient_id=p.id,
            now=now,
            details={"since": start.isoformat(), "until": today.isoformat()},
        )
        s.commit()
