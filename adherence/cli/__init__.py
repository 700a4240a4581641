"""`adherence` command line. Each command group lives in its own module."""

from __future__ import annotations

import typer

from adherence.cli import (
    appointment,
    calendar,
    care,
    checkin,
    coordinator,
    dbcmd,
    enroll,
    export,
    history,
    nudge,
    plans,
    regimens,
    report,
    roster,
    simulate,
    summary,
    supply,
    visit,
)
from adherence.cli import run as run_cmd

app = typer.Typer(
    name="adherence",
    help="MS medication adherence: therapy catalog, dose previews, reminders and care-team tools.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(regimens.app, name="regimens")
app.command("preview")(regimens.preview)
app.add_typer(dbcmd.app, name="db")
app.add_typer(enroll.team_app, name="team")
app.add_typer(enroll.patient_app, name="patient")
app.add_typer(plans.plan_app, name="plan")
app.add_typer(history.history_app, name="history")
app.command("doses")(plans.doses)
app.command("confirm")(plans.confirm_cmd)
app.command("simulate")(simulate.simulate)
app.command("import")(roster.import_cmd)
app.command("run")(run_cmd.run)
# Calendar (feeds and appointments).
app.add_typer(calendar.calendar_app, name="calendar")
app.add_typer(appointment.appointment_app, name="appointment")
app.add_typer(supply.supply_app, name="supply")
app.add_typer(checkin.checkin_app, name="checkin")
app.add_typer(visit.visit_app, name="visit")
app.add_typer(nudge.nudge_app, name="nudge")
# Care team (flags, reports, exports, coordinators, audit). Each module registers its
# commands on ``app`` through ``register``.
app.add_typer(care.flag_app, name="flag")
app.add_typer(coordinator.coordinator_app, name="coordinator")
care.register(app)
export.register(app)
report.register(app)
summary.register(app)
coordinator.register(app)


def main(argv: list[str] | None = None) -> None:
    app(args=argv, prog_name="adherence", standalone_mode=True)
