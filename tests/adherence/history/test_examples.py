"""The example files import cleanly into the demo roster (examples/roster.csv), once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session, col, select

from adherence.history.apply import Settings
from adherence.history.files import import_path
from adherence.patients.enrollment import create_team
from adherence.patients.roster import import_roster
from adherence.storage.models import Dispense, Dose, Patient, Plan
from schedules import Catalog

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


def _settings(catalog: Catalog, now: datetime) -> Settings:
    return Settings(catalog=catalog, now=now, actor="cli:tester")


def test_example_files_import_into_the_demo_roster(session: Session, catalog: Catalog) -> None:
    create_team(session, name="Demo MS Clinic", tz="America/New_York", now=NOW)
    roster = import_roster(
        session, catalog=catalog, text=(EXAMPLES / "roster.csv").read_text("utf-8"), now=NOW
    )
    assert roster.ok, roster.errors
    expected = {
        "history.csv": (13, 0),
        "dispensing.csv": (0, 4),
        "history-bundle.json": (5, 1),
    }
    for name, (doses, fills) in expected.items():
        result = import_path(session, EXAMPLES / name, settings=_settings(catalog, NOW))
        assert result.errors == [], (name, result.errors)
        assert (result.imported, result.fills_imported) == (doses, fills), name
        again = import_path(
            session, EXAMPLES / name, settings=_settings(catalog, NOW + timedelta(minutes=1))
        )
        assert (again.imported, again.fills_imported, again.refused) == (0, 0, 0), name
        assert (again.unchanged, again.fills_unchanged) == (doses, fills), name

    def plan_of(external_id: str) -> Plan:
        return session.exec(
            select(Plan)
            .join(Patient, col(Patient.id) == Plan.patient_id)
            .where(Patient.external_id == external_id)
        ).one()

    # Kesimpta's Day 15 dose given on Day 17: the monthly doses count from it.
    kesimpta = plan_of("MS-1003")
    doses = session.exec(
        select(Dose).where(Dose.plan_id == kesimpta.id).order_by(col(Dose.due_at))
    ).all()
    assert [(d.local_date.isoformat(), d.status) for d in doses[:4]] == [
        ("2026-03-04", "taken"),
        ("2026-03-11", "taken"),
        ("2026-03-18", "taken"),
        ("2026-04-03", "missed"),
    ]
    # Ocrevus's 6-month infusion given three weeks late: the next one 6 months after it.
    ocrevus = plan_of("MS-1004")
    upcoming = session.exec(
        select(Dose)
        .where(Dose.plan_id == ocrevus.id, Dose.status == "scheduled", Dose.kind == "infusion")
        .order_by(col(Dose.due_at))
    ).first()
    assert upcoming is not None and upcoming.local_date.isoformat() == "2027-04-07"
    fills = session.exec(select(Dispense).where(Dispense.plan_id == plan_of("MS-1001").id)).all()
    assert sorted(f.dispensed_on.isoformat() for f in fills) == ["2026-03-01", "2026-03-30"]
