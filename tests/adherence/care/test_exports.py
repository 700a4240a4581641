"""Exports of a care team's doses and measures: CSV, JSON and a FHIR R4B Bundle, each read
back with an independent parser (csv, json, fhir.resources) and checked against the doses
and the measures; and memory that stays flat as the export grows."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.flag import Flag as FhirFlag
from fhir.resources.R4B.medicationadministration import MedicationAdministration
from fhir.resources.R4B.medicationdispense import MedicationDispense
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.patient import Patient as FhirPatient
from sqlalchemy import insert
from sqlmodel import Session

from adherence.care.exports import CSV_HEADER, ExportError, export_stream
from adherence.care.measures import measure_patient
from adherence.core.config import Settings
from adherence.patients.enrollment import create_patient, create_plan, create_team
from adherence.storage.models import CareTeam, Dispense, Dose, Flag
from schedules import Catalog
from tests.adherence.engine_helpers import Enrolled, at, doses, drive, enroll

SETTINGS = Settings()
START, END = date(2026, 3, 2), date(2026, 3, 22)
FHIR_CLASSES = {
    "Patient": FhirPatient,
    "MedicationRequest": MedicationRequest,
    "MedicationAdministration": MedicationAdministration,
    "MedicationDispense": MedicationDispense,
    "Flag": FhirFlag,
}


def team_with_history(session: Session, catalog: Catalog) -> tuple[Enrolled, Enrolled]:
    now = at(2026, 3, 1, 9)
    a = enroll(session, catalog, "Tecfidera", START, now=now, external_id="MRN-1")
    b = enroll(session, catalog, "Plegridy", START, now=now, team=a.team, n=1)
    drive(
        session,
        catalog,
        start=now,
        until=at(2026, 3, 23, 23),
        take=lambda d: d.local_date.day % 4 != 0,  # some missed doses
    )
    # Flags (adherence.care.flags) for the team: one open and one resolved.
    for i, status in enumerate(("open", "resolved")):
        session.add(
            Flag(
                open_key=f"plan:{a.plan.id}:missed_doses" if status == "open" else None,
                team_id=a.team.id,
                patient_id=a.patient.id,
                plan_id=a.plan.id,
                rule="missed_doses",
                status=status,
                first_at=now + timedelta(days=3 + i),
                last_at=now + timedelta(days=4 + i),
                resolved_at=now + timedelta(days=6) if status == "resolved" else None,
            )
        )
    session.commit()
    return a, b


def period_doses(session: Session, e: Enrolled) -> list[Dose]:
    return [
        d
        for d in doses(session, e.plan)
        if START <= d.local_date <= END and d.status != "cancelled"
    ]


def export(session: Session, team: CareTeam, catalog: Catalog, fmt: str, **kw: Any) -> bytes:
    chunks = export_stream(
        session, team=team, start=START, end=END, fmt=fmt, catalog=catalog, settings=SETTINGS, **kw
    )
    return b"".join(chunks)


def test_csv_has_a_row_per_dose_and_a_summary_per_patient(
    session: Session, catalog: Catalog
) -> None:
    a, b = team_with_history(session, catalog)
    seen: list[tuple[int, int]] = []
    text = export(session, a.team, catalog, "csv", progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 2), (2, 2)]
    rows = list(csv.DictReader(io.StringIO(text.decode())))
    assert list(rows[0]) == CSV_HEADER
    for e in (a, b):
        mine = [r for r in rows if r["patient_id"] == str(e.patient.id)]
        dose_rows = [r for r in mine if r["record"] == "dose"]
        expected = period_doses(session, e)
        assert [int(r["dose_id"]) for r in dose_rows] == [d.id for d in expected]
        for r, d in zip(dose_rows, expected, strict=True):
            assert datetime.fromisoformat(r["scheduled_at"]) == d.due_at
            assert datetime.fromisoformat(r["scheduled_at"]).utcoffset() == timedelta(hours=-5) or (
                datetime.fromisoformat(r["scheduled_at"]).utcoffset() == timedelta(hours=-4)
            )
            assert r["status"] == d.status and r["regimen"] == e.plan.regimen
            assert (r["taken_at"] != "") == (d.taken_at is not None)
            assert r["source"] == d.confirmed_via and r["late"] == str(d.late).lower()
        (summary,) = [r for r in mine if r["record"] == "summary"]
        assert mine[-1] is summary  # after the patient's doses
        m = measure_patient(
            session, e.patient, start=START, end=END, catalog=catalog, settings=SETTINGS
        ).to_json()
        assert summary["pdc"] == str(m["pdc"]) and summary["doses_taken"] == str(m["doses_taken"])
        assert summary["period_start"] == START.isoformat()
    assert {r["status"] for r in rows if r["record"] == "dose"} >= {"taken", "missed"}
    assert rows[0]["external_id"] == "MRN-1"


def test_json_is_one_document_with_measures_and_doses(session: Session, catalog: Catalog) -> None:
    a, b = team_with_history(session, catalog)
    doc = json.loads(export(session, a.team, catalog, "json"))
    assert doc["team"]["name"] == a.team.name
    assert doc["period"] == {"start": START.isoformat(), "end": END.isoformat()}
    assert [p["patient_id"] for p in doc["patients"]] == [a.patient.id, b.patient.id]
    for e, p in zip((a, b), doc["patients"], strict=True):
        assert [d["id"] for d in p["doses"]] == [d.id for d in period_doses(session, e)]
        m = measure_patient(
            session, e.patient, start=START, end=END, catalog=catalog, settings=SETTINGS
        )
        assert p["pdc"] == m.to_json()["pdc"] and p["threshold"] == 0.8
        assert p["plans"][0]["regimen"] == e.plan.regimen
    assert doc["summary"]["patients"] == 2


def test_fhir_bundle_validates_and_counts_match_the_doses(
    session: Session, catalog: Catalog
) -> None:
    a, b = team_with_history(session, catalog)
    raw = export(session, a.team, catalog, "fhir", validate=True)
    doc = json.loads(raw)
    Bundle.model_validate(doc)  # the whole bundle, and then each resource on its own
    assert doc["type"] == "collection"
    by_type: dict[str, list[dict[str, Any]]] = {}
    for entry in doc["entry"]:
        res = entry["resource"]
        FHIR_CLASSES[res["resourceType"]].model_validate(res)
        by_type.setdefault(res["resourceType"], []).append(res)
    assert len(by_type["Patient"]) == 2 and len(by_type["MedicationRequest"]) == 2
    assert len(by_type["Flag"]) == 2
    assert sorted(f["status"] for f in by_type["Flag"]) == ["active", "inactive"]
    final = [
        d
        for e in (a, b)
        for d in period_doses(session, e)
        if d.status in ("taken", "missed", "skipped")
    ]
    admins = by_type["MedicationAdministration"]
    assert len(admins) == len(final)
    completed = [r for r in admins if r["status"] == "completed"]
    assert len(completed) == sum(1 for d in final if d.status == "taken")
    not_done = [r for r in admins if r["status"] == "not-done"]
    assert not_done and all(r["statusReason"][0]["coding"][0]["code"] == "missed" for r in not_done)
    urls = {entry["fullUrl"] for entry in doc["entry"]}
    assert all(r["subject"]["reference"] in urls for r in admins)
    # Dosing patterns as Timing.repeat: Tecfidera twice a day at the plan's times,
    # Plegridy every 14 days after its starter doses.
    tec, pleg = by_type["MedicationRequest"]
    maint = tec["dosageInstruction"][-1]["timing"]["repeat"]
    assert (maint["frequency"], maint["period"], maint["periodUnit"]) == (2, 1, "d")
    assert len(maint["timeOfDay"]) == 2
    assert maint["boundsPeriod"]["start"] == START.isoformat()
    rep = pleg["dosageInstruction"][-1]["timing"]["repeat"]
    assert (rep["frequency"], rep["period"], rep["periodUnit"]) == (1, 2, "wk")


def test_weekday_regimen_maps_to_day_of_week(session: Session, catalog: Catalog) -> None:
    e = enroll(
        session,
        catalog,
        "Copaxone",
        START,
        now=at(2026, 3, 1),
        options={"strength": "40", "weekdays": "mon,wed,fri"},
    )
    doc = json.loads(export(session, e.team, catalog, "fhir", validate=True))
    (req,) = [
        x["resource"] for x in doc["entry"] if x["resource"]["resourceType"] == "MedicationRequest"
    ]
    rep = req["dosageInstruction"][-1]["timing"]["repeat"]
    assert rep["dayOfWeek"] == ["mon", "wed", "fri"] and rep["frequency"] == 3
    assert rep["periodUnit"] == "wk"


def test_bad_format_and_period_are_refused(session: Session, catalog: Catalog) -> None:
    team = create_team(session, name="T", tz="America/New_York", now=at(2026, 3, 1))
    with pytest.raises(ExportError, match="format 'xml'"):
        export(session, team, catalog, "xml")
    with pytest.raises(ExportError, match="before its start"):
        export_stream(
            session, team=team, start=END, end=START, fmt="csv", catalog=catalog, settings=SETTINGS
        )


def bulk_team(session: Session, catalog: Catalog, name: str, patients: int) -> CareTeam:
    """Patients on a twice-daily pill with 60 days of answered doses, inserted in bulk."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    team = create_team(session, name=name, tz="America/New_York", now=now)
    rows = []
    for n in range(patients):
        p = create_patient(
            session, team=team, name=f"P{n}", phone=f"+1202555{n:04d}", tz="UTC", now=now
        )
        plan = create_plan(
            session, catalog=catalog, patient=p, regimen="Tecfidera", start=START, now=now
        )
        for day in range(60):
            for slot, hour in enumerate((8, 20)):
                due = datetime.combine(START + timedelta(days=day), datetime.min.time(), UTC)
                due += timedelta(hours=hour)
                taken = (day + slot + n) % 5 != 0
                rows.append(
                    dict(
                        plan_id=plan.id, patient_id=p.id, epoch=0, key=f"dose:{2 * day + slot}",
                        occasion=day, due_at=due, local_date=due.date(), local_time=f"{hour:02d}:00",
                        day=day + 1, amount=240.0, unit="mg", kind="dose", phase="maintenance",
                        window_closes_at=due + timedelta(hours=4),
                        status="taken" if taken else "missed",
                        taken_at=due + timedelta(minutes=7) if taken else None,
                        confirmed_via="sms" if taken else "", updated_at=now,
                    )
                )  # fmt: skip
    session.execute(insert(Dose), rows)
    session.commit()
    return team


def peak_bytes(session: Session, team: CareTeam, catalog: Catalog, fmt: str) -> tuple[int, int]:
    session.expunge_all()
    tracemalloc.start()
    size = 0
    for chunk in export_stream(
        session,
        team=team,
        start=START,
        end=START + timedelta(days=59),
        fmt=fmt,
        catalog=catalog,
        settings=SETTINGS,
    ):
        size += len(chunk)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, size


@pytest.mark.parametrize("fmt", ["csv", "fhir"])
def test_memory_stays_flat_as_the_export_grows(
    session: Session, catalog: Catalog, fmt: str
) -> None:
    small = bulk_team(session, catalog, "small", 40)
    large = bulk_team(session, catalog, "large", 160)
    peak_small, size_small = peak_bytes(session, small, catalog, fmt)
    peak_large, size_large = peak_bytes(session, large, catalog, fmt)
    assert size_large > 3.5 * size_small  # four times the data went out ...
    # ... with about the same peak: doses stream in fetches of 2,000 rows and each patient
    # is written out before the next is read. A buffered export would peak ~4x higher.
    assert peak_large < 1.6 * peak_small + 1_000_000, (peak_small, peak_large)


def test_fills_are_exported_and_measured(session: Session, catalog: Catalog) -> None:
    """A fill in the period is a MedicationDispense in the Bundle, and the measures of every
    format carry the PDC from fills beside the PDC from confirmations."""
    a, _b = team_with_history(session, catalog)
    for day, supply, source in ((START, 14, "Riverside specialty pharmacy"), (END, 30, "")):
        session.add(
            Dispense(
                plan_id=a.plan.id or 0, patient_id=a.patient.id or 0, dispensed_on=day,
                days_supply=supply, quantity=28.0 if source else None, source=source,
                recorded_via="test", created_at=at(2026, 3, 1, 9),
            )
        )  # fmt: skip
    session.add(
        Dispense(
            plan_id=a.plan.id or 0,
            patient_id=a.patient.id or 0,
            dispensed_on=START - timedelta(days=1),
            days_supply=30,
            recorded_via="test",
            created_at=at(2026, 3, 1, 9),
        )
    )  # fmt: skip  (before the period: not exported, not measured)
    session.commit()
    doc = json.loads(export(session, a.team, catalog, "fhir", validate=True))
    fills = [
        e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "MedicationDispense"
    ]
    assert [f["whenHandedOver"] for f in fills] == [START.isoformat(), END.isoformat()]
    assert [f["daysSupply"]["value"] for f in fills] == [14, 30]
    assert fills[0]["quantity"]["value"] == 28.0 and "quantity" not in fills[1]
    assert fills[0]["note"][0]["text"].endswith("Riverside specialty pharmacy")
    urls = {e["fullUrl"] for e in doc["entry"]}
    assert all(f["subject"]["reference"] in urls for f in fills)
    js = json.loads(export(session, a.team, catalog, "json"))
    mine = js["patients"][0]["dispensing"]
    assert mine["pdc_basis"] == "dispensing" and mine["fills"] == 2
    # START + 14 days, then END's one day: 15 of the 21 days
    assert mine["days_covered"] == 15 and mine["days_in_period"] == (END - START).days + 1
    direct = measure_patient(
        session, a.patient, start=START, end=END, catalog=catalog, settings=SETTINGS
    ).to_json()["dispensing"]
    assert direct == mine
    assert js["patients"][1]["dispensing"] is None
