"""`adherence simulate SCENARIO.toml [--json]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adherence.cli.common import fail, print_json
from adherence.simulate import ScenarioError, load_scenario, render_text, run_scenario


def simulate(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (TOML); see docs/simulation.md.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON object with events.")
    ] = False,
) -> None:
    """Run the real engine over a virtual clock against an in-memory database."""
    try:
        text = scenario.read_text("utf-8")
    except OSError as exc:
        fail(f"{scenario}: {exc.strerror}")
    try:
        result = run_scenario(load_scenario(text))
    except ScenarioError as exc:
        fail(f"{scenario}: {exc}")
    if as_json:
        print_json(result)
    else:
        typer.echo(render_text(result))
