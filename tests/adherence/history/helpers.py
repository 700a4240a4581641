"""A clinic to import into, and the same history written as CSV and as a FHIR Bundle."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from adherence.history.apply import Settings
from adherence.history.codes import RXNORM
from adherence.history.files import import_body
from adherence.history.result import ImportResult
from adherence.patients.enrollment import create_team
from adherence.storage.models import CareTeam, Patient, Plan
from schedules import Catalog
from tests.adherence.engine_helpers import enroll

NOW = datetime(2026, 4, 1, 16, 0, tzinfo=UTC)
ENROLLED = NOW - timedelta(days=1)  # the daemon came yesterday: history is before it


@dataclass
class Clinic:
    team: CareTeam
    pills: Patient  # MS-1, teriflunomide once daily at 09:00, New York, from 2026-03-02
    pills_plan: Plan
    bid: Patient  # MS-2, Tecfidera 08:00 and 20:00, New York, from 2026-03-02
    bid_plan: Plan
    infusion: Patient  # MS-3, Ocrevus, Madrid, from 2025-01-06
    infusion_plan: Plan


def clinic(
    session: Session, catalog: Catalog, name: str = "Riverside MS Clinic", n0: int = 0
) -> Clinic:
    team = create_team(session, name=name, tz="America/New_York", now=ENROLLED)
    a = enroll(
        session,
        catalog,
        "teriflunomide",
        date(2026, 3, 2),
        now=ENROLLED,
        times=["09:00"],
        options={"strength": "14"},
        team=team,
        n=n0,
        external_id=f"MS-{n0 + 1}",
    )
    b = enroll(
        session,
        catalog,
        "Tecfidera",
        date(2026, 3, 2),
        now=ENROLLED,
        times=["08:00", "20:00"],
        team=team,
        n=n0 + 1,
        external_id=f"MS-{n0 + 2}",
    )
    c = enroll(
        session,
        catalog,
        "Ocrevus",
        date(2025, 1, 6),
        now=ENROLLED,
        times=["10:00"],
        tz="Europe/Madrid",
        team=team,
        n=n0 + 2,
        external_id=f"MS-{n0 + 3}",
    )
    return Clinic(team, a.patient, a.plan, b.patient, b.plan, c.patient, c.plan)


def settings(catalog: Catalog, now: datetime = NOW, **kw: Any) -> Settings:
    return Settings(catalog=catalog, now=now, actor="cli:tester", **kw)


def run_csv(
    session: Session, catalog: Catalog, body: str, *, now: datetime = NOW, **kw: Any
) -> ImportResult:
    return import_body(
        session,
        body.encode(),
        name="history.csv",
        settings=settings(catalog, now),
        media_type="text/csv",
        **kw,
    )


def run_bundle(
    session: Session, catalog: Catalog, bundle: dict[str, Any], *, now: datetime = NOW, **kw: Any
) -> ImportResult:
    return import_body(
        session,
        json.dumps(bundle).encode(),
        name="history.json",
        settings=settings(catalog, now),
        media_type="application/fhir+json",
        **kw,
    )


# (patient, regimen as the CSV names it, at, status, coding for the Bundle, note)
Row = tuple[str, str, str, str, dict[str, str] | None, str]


def to_csv(rows: list[Row]) -> str:
    lines = ["patient,regimen,at,status,note"]
    for patient, regimen, at, status, _, note in rows:
        lines.append(f"{patient},{regimen},{at},{status},{note}")
    return "\n".join(lines) + "\n"


def to_bundle(rows: list[Row]) -> dict[str, Any]:
    patients = sorted({r[0] for r in rows})
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"urn:uuid:patient-{p}",
            "resource": {
                "resourceType": "Patient",
                "id": f"pt-{p}",
                "identifier": [{"system": "urn:clinic:mrn", "value": p}],
            },
        }
        for p in patients
    ]
    for n, (patient, regimen, at, status, coding, note) in enumerate(rows, start=2):
        concept: dict[str, Any] = {"text": regimen}
        if coding:
            concept = {"coding": [{"system": RXNORM, **coding}]}
        resource: dict[str, Any] = {
            "resourceType": "MedicationAdministration",
            "id": f"line-{n}",
            "status": "completed" if status == "taken" else "not-done",
            "medicationCodeableConcept": concept,
            "subject": {"reference": f"urn:uuid:patient-{patient}"},
            "effectiveDateTime": at,
        }
        if status == "missed":
            resource["statusReason"] = [{"text": "missed"}]
        if note:
            resource["note"] = [{"text": note}]
        entries.append({"fullUrl": f"urn:uuid:ma-{n}", "resource": resource})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def dose_table(session: Session) -> list[tuple[Any, ...]]:
    """Every dose as stored, for comparing two imports (ids left out)."""
    session.expire_all()
    rows = session.execute(
        text(
            "SELECT plan_id, epoch, key, status, due_at, taken_at, late, confirmed_via, "
            "confirmed_by, source, note, amount, updated_at FROM dose ORDER BY plan_id, epoch, key"
        )
    ).all()
    return [tuple(r) for r in rows]


def imported(session: Session) -> list[tuple[Any, ...]]:
    """The imported doses' outcomes: what a CSV and a Bundle must agree on."""
    session.expire_all()
    rows = session.execute(
        text(
            "SELECT plan_id, key, status, taken_at, late, note FROM dose "
            "WHERE confirmed_via = 'import' ORDER BY plan_id, key"
        )
    ).all()
    return [tuple(r) for r in rows]
