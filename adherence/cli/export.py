"""`adherence export`: a team's doses and measures as CSV, JSON or FHIR."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Top-level commands of this module (the sub-groups are added in cli/__init__)."""
