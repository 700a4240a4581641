"""`adherence import ROSTER.csv [--dry-run]`: enrol patients and plans from a CSV roster.

Exit status: 0 when every row was imported (or was already there), 1 when some rows were
rejected (the others are still imported), 2 when the file itself cannot be used (unreadable,
not UTF-8, a bad header) or the configuration/database is unusable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session, col, select

from adherence.calendar.feed import offer_feed_link
from adherence.cli.common import Config, fail, load_app
from adherence.core.clock import SystemClock
from adherence.dosing.materialize import materialize
from adherence.patients.roster import ImportReport, import_roster
from adherence.storage.models import Patient, Plan


def _file_unusable(report: ImportReport) -> bool:
    # Data rows start on line 2 at the earliest: errors on line 1 are about the file or
    # its header, and then no row was looked at.
    return any(error.line == 1 for error in report.errors)


def _patients_of(session: Session, plan_ids: list[int]) -> list[Patient]:
    rows = session.exec(
        select(Patient)
        .join(Plan, col(Plan.patient_id) == Patient.id)
        .where(col(Plan.id).in_(plan_ids))
    ).all()
    return sorted({p.id: p for p in rows}.values(), key=lambda p: p.id or 0)


def import_cmd(
    roster: Annotated[Path, typer.Argument(help="CSV file, one row per patient and plan.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row and report; write nothing.")
    ] = False,
    config: Config = None,
) -> None:
    """Import a CSV roster; rows already imported are left as they are (safe to re-run)."""
    try:
        text = roster.read_text("utf-8")
    except UnicodeDecodeError:
        fail(f"{roster}: not UTF-8 text (save the roster as CSV UTF-8)")
    except OSError as exc:
        fail(f"{roster}: cannot read: {exc.strerror or exc}")
    app = load_app(config)
    now = SystemClock().now()
    with app.session() as s:
        report = import_roster(s, catalog=app.catalog, text=text, now=now, dry_run=dry_run)
        if report.plan_ids and not dry_run:
            # The roster materialises its own horizon; extend to the configured one.
            materialize(
                s,
                now=now,
                catalog=app.catalog,
                horizon_days=app.settings.engine.horizon_days,
                plan_ids=report.plan_ids,
            )
            # Once the plans are committed: the feed link, per patient who got a plan
            # ([calendar] text_link_at_enrollment; patients with a link are left alone).
            if app.settings.calendar.text_link_at_enrollment:
                for patient in _patients_of(s, report.plan_ids):
                    offer_feed_link(s, patient, now, app.settings)
    for error in report.errors:
        typer.echo(f"line {error.line}: {error.field}: {error.reason}", err=True)
    if _file_unusable(report):
        typer.echo(f"error: {roster}: nothing imported", err=True)
        raise typer.Exit(2)
    for note in report.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo(f"{roster}: {report.summary()}")
    if report.errors:
        raise typer.Exit(1)
