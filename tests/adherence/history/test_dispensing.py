"""Dispensing rows, from a CSV or MedicationDispense resources, record each fill once."""

from __future__ import annotations

import json

from sqlmodel import Session, select

from adherence.storage.models import Dispense
from schedules import Catalog
from tests.adherence.history.helpers import NOW, clinic, run_bundle, run_csv

CSV = (
    "patient,regimen,dispensed,days_supply,quantity,source\n"
    "MS-1,Aubagio,2026-03-01,30,30,Main St Pharmacy\n"
    "MS-2,Tecfidera,2026-03-02T10:00:00-05:00,30,60,Main St Pharmacy\n"
    "MS-3,Ocrevus,2026-03-01,30,,Main St Pharmacy\n"  # infused in clinic: no home supply
    "MS-1,teriflunomide,2026-03-31,400,,Main St Pharmacy\n"
    "MS-1,teriflunomide,2026-03-31,thirty,,Main St Pharmacy\n"
)


def _bundle() -> dict[str, object]:
    def fill(n: int, patient: str, text: str, when: str, days: float) -> dict[str, object]:
        return {
            "resource": {
                "resourceType": "MedicationDispense",
                "id": f"fill-{n}",
                "status": "completed",
                "medicationCodeableConcept": {"text": text},
                "subject": {"reference": f"Patient/{patient}"},
                "quantity": {"value": 30 if n == 1 else 60},
                "daysSupply": {"value": days},
                "whenHandedOver": when,
                "performer": [{"actor": {"display": "Main St Pharmacy"}}],
            }
        }

    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            fill(1, "MS-1", "Aubagio 14 MG Oral Tablet", "2026-03-01", 30),
            fill(2, "MS-2", "Tecfidera", "2026-03-02T10:00:00-05:00", 30),
            fill(3, "MS-3", "Ocrevus", "2026-03-01", 30),
            fill(4, "MS-1", "teriflunomide", "2026-03-31", 400),
            fill(5, "MS-1", "teriflunomide", "2026-03-31", 30.5),
        ],
    }


def _fills(session: Session) -> list[tuple[object, ...]]:
    session.expire_all()
    rows = session.exec(select(Dispense).order_by(Dispense.plan_id, Dispense.dispensed_on)).all()
    return [
        (f.plan_id, f.dispensed_on, f.days_supply, f.quantity, f.source, f.recorded_via)
        for f in rows
    ]


def test_a_dispensing_csv_records_fills_once(session: Session, catalog: Catalog) -> None:
    c = clinic(session, catalog)
    result = run_csv(session, catalog, CSV)
    assert result.kind == "dispensing"
    assert (result.fills_imported, result.refused) == (2, 3)
    assert [(e.line, e.field) for e in result.errors] == [
        (4, "regimen"),
        (5, "days_supply"),
        (6, "days_supply"),
    ]
    fills = _fills(session)
    assert [f[:3] for f in fills] == [
        (c.pills_plan.id, NOW.date().replace(month=3, day=1), 30),
        (c.bid_plan.id, NOW.date().replace(month=3, day=2), 30),
    ]
    assert all(f[5] == "import" for f in fills)
    again = run_csv(session, catalog, CSV)
    assert (again.fills_imported, again.fills_unchanged) == (0, 2)
    assert _fills(session) == fills


def test_medication_dispense_resources_record_the_same_fills(
    session: Session, catalog: Catalog
) -> None:
    clinic(session, catalog)
    from_csv = run_csv(session, catalog, CSV)
    fills = _fills(session)
    result = run_bundle(session, catalog, _bundle())
    assert (result.fills_imported, result.fills_unchanged, result.refused) == (0, 2, 3)
    assert [(e.origin, e.field) for e in result.errors] == [
        ("MedicationDispense/fill-3", "medicationCodeableConcept"),
        ("MedicationDispense/fill-4", "daysSupply"),
        ("MedicationDispense/fill-5", "daysSupply"),
    ]
    assert _fills(session) == fills
    assert from_csv.refused == 3
    assert json.dumps(result.as_json())  # serialisable as the CLI and API give it
