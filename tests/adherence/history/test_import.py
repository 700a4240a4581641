"""Importing dose history: CSV and FHIR alike, idempotent, strict, dry, conflicts, zones."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, text
from sqlmodel import Session, col, select

from adherence.dosing.confirm import confirm
from adherence.storage.models import AuditEvent, Dose, DoseChange, DoseStatus
from schedules import Catalog
from tests.adherence.history.helpers import (
    NOW,
    Row,
    clinic,
    dose_table,
    imported,
    run_bundle,
    run_csv,
    to_bundle,
    to_csv,
)

NY = ZoneInfo("America/New_York")

# The same history, good and bad rows, for a CSV and a Bundle.
ROWS: list[Row] = [
    ("MS-1", "Aubagio", "2026-03-02T09:10:00-05:00", "taken", None, "first tablet"),
    (
        "MS-1",
        "teriflunomide",
        "2026-03-03T08:55:00-05:00",
        "taken",
        {"code": "1310525", "display": "teriflunomide 14 MG Oral Tablet"},
        "",
    ),
    ("MS-1", "teriflunomide", "2026-03-04T09:00:00-05:00", "skipped", None, "nausea"),
    ("MS-1", "teriflunomide", "2026-03-05T09:00:00-05:00", "missed", None, ""),
    ("MS-1", "teriflunomide", "2026-03-06T22:30:00-05:00", "taken", None, "late"),
    ("MS-2", "Tecfidera", "2026-03-02T08:05:00-05:00", "taken", None, ""),
    ("MS-2", "dimethyl fumarate", "2026-03-02T20:15:00-05:00", "taken", None, ""),
    (
        "MS-3",
        "Ocrevus",
        "2025-01-06T10:00:00+01:00",
        "taken",
        {"code": "1876385", "display": "Ocrevus 300 MG in 10 ML Injection"},
        "",
    ),
    ("MS-3", "Ocrevus", "2025-01-20T10:00:00+01:00", "taken", None, ""),
    # bad rows
    ("MS-404", "teriflunomide", "2026-03-02T09:00:00-05:00", "taken", None, ""),  # no patient
    ("MS-1", "Kesimpta", "2026-03-02T09:00:00-05:00", "taken", None, ""),  # no such plan
    ("MS-1", "teriflunomide", "2026-02-20T09:00:00-05:00", "taken", None, ""),  # before Day 1
    ("MS-1", "teriflunomide", "2026-03-03T09:30:00-05:00", "taken", None, ""),  # same dose again
    ("MS-1", "teriflunomide", "2026-05-01T09:00:00-04:00", "taken", None, ""),  # in the future
]
GOOD = 9
BAD_FIELDS_CSV = ["patient", "regimen", "at", "at", "at"]
BAD_FIELDS_FHIR = [
    "subject",
    "medicationCodeableConcept",
    "effectiveDateTime",
    "effectiveDateTime",
    "effectiveDateTime",
]


def _no_imports(session: Session) -> None:
    session.execute(text("DELETE FROM dose WHERE confirmed_via = 'import'"))
    session.execute(text("DELETE FROM audit"))
    session.commit()


def test_csv_and_bundle_give_the_same_doses_and_refusals(
    session: Session, catalog: Catalog
) -> None:
    clinic(session, catalog)
    csv = run_csv(session, catalog, to_csv(ROWS))
    assert (csv.imported, csv.unchanged, csv.refused) == (GOOD, 0, 5), csv.errors
    assert [e.field for e in csv.errors] == BAD_FIELDS_CSV
    assert [e.line for e in csv.errors] == [11, 12, 13, 14, 15]  # the header is line 1
    from_csv = imported(session)
    assert len(from_csv) == GOOD

    _no_imports(session)
    bundle = run_bundle(session, catalog, to_bundle(ROWS))
    assert (bundle.imported, bundle.unchanged, bundle.refused) == (GOOD, 0, 5), bundle.errors
    assert [e.field for e in bundle.errors] == BAD_FIELDS_FHIR
    assert [e.origin for e in bundle.errors] == [
        f"MedicationAdministration/line-{n}" for n in range(11, 16)
    ]
    assert imported(session) == from_csv
    # The messages say the same thing in both (the Bundle names its own fields).
    fhir_messages = [
        e.message.replace("MedicationAdministration/line-", "line ") for e in bundle.errors
    ]
    assert fhir_messages == [e.message for e in csv.errors]


def test_importing_twice_changes_nothing(session: Session, catalog: Catalog) -> None:
    clinic(session, catalog)
    first = run_csv(session, catalog, to_csv(ROWS))
    before = dose_table(session)
    audits = session.exec(select(AuditEvent)).all()
    assert len(audits) == 1 and audits[0].action == "import"
    assert audits[0].resource == "history:history.csv"
    details = json.loads(audits[0].details_json)
    assert details["imported"] == GOOD and details["sha256"] == first.sha256
    assert details["actor"] == "cli:tester" and audits[0].actor == "cli:tester"

    for later in (timedelta(0), timedelta(seconds=1), timedelta(days=3)):
        again = run_csv(session, catalog, to_csv(ROWS), now=NOW + later)
        assert (again.imported, again.unchanged, again.refused) == (0, GOOD, 5)
        assert dose_table(session) == before
        bundle = run_bundle(session, catalog, to_bundle(ROWS), now=NOW + later)
        assert (bundle.imported, bundle.unchanged, bundle.refused) == (0, GOOD, 5)
        assert dose_table(session) == before
    # Nothing was applied the second time: no more audit rows, no dose changes.
    assert len(session.exec(select(AuditEvent)).all()) == 1
    assert session.exec(select(func.count()).select_from(DoseChange)).one() == 0


def test_imported_doses_are_marked_and_judged_like_the_engine(
    session: Session, catalog: Catalog
) -> None:
    c = clinic(session, catalog)
    run_csv(session, catalog, to_csv(ROWS[:5]))
    doses = {
        d.local_date.day: d
        for d in session.exec(select(Dose).where(Dose.plan_id == c.pills_plan.id))
    }
    first = doses[2]
    assert first.status == "taken" and first.confirmed_via == "import"
    assert first.confirmed_by == "cli:tester" and first.confirmed_at == NOW
    assert first.taken_at == datetime(2026, 3, 2, 14, 10, tzinfo=UTC)
    assert first.note == "first tablet" and first.next_action_at is None and not first.late
    assert (doses[4].status, doses[4].taken_at, doses[4].note) == ("skipped", None, "nausea")
    assert doses[5].status == "missed"
    assert doses[6].late  # 13.5 hours after 09:00: the late window had closed
    assert doses[3].key == "dose:1" and doses[3].due_at == datetime(2026, 3, 3, 14, 0, tzinfo=UTC)


def test_strict_keeps_nothing_when_a_row_is_refused(session: Session, catalog: Catalog) -> None:
    clinic(session, catalog)
    before = dose_table(session)
    result = run_csv(session, catalog, to_csv(ROWS), strict=True)
    assert result.refused == 5 and result.rolled_back
    assert dose_table(session) == before
    assert session.exec(select(AuditEvent)).all() == []
    good = run_csv(session, catalog, to_csv(ROWS[:GOOD]), strict=True)
    assert (good.imported, good.refused, good.rolled_back) == (GOOD, 0, False)
    assert len(imported(session)) == GOOD


def test_dry_run_checks_and_counts_but_writes_nothing(session: Session, catalog: Catalog) -> None:
    clinic(session, catalog)
    before = dose_table(session)
    result = run_csv(session, catalog, to_csv(ROWS), dry_run=True)
    assert (result.imported, result.refused) == (GOOD, 5)
    assert "dry run: nothing written" in result.summary_lines()[-1]
    assert dose_table(session) == before
    assert session.exec(select(AuditEvent)).all() == []


def test_a_small_chunk_size_gives_the_same_result(session: Session, catalog: Catalog) -> None:
    """Rows spread over many chunks (each committed on its own) decide alike, including a
    second row for a dose recorded by an earlier chunk."""
    from adherence.history.apply import import_history
    from adherence.history.csvfile import CsvHistory
    from adherence.history.result import ImportResult
    from tests.adherence.history.helpers import settings

    clinic(session, catalog)
    import io

    result = import_history(
        session,
        rows=CsvHistory(io.StringIO(to_csv(ROWS), newline="")),
        result=ImportResult(name="h.csv", sha256=""),
        settings=settings(catalog),
        chunk=2,
    )
    assert (result.imported, result.refused) == (GOOD, 5)
    assert [e.field for e in result.errors] == BAD_FIELDS_CSV


def test_line_numbers_count_quoted_multi_line_cells(session: Session, catalog: Catalog) -> None:
    clinic(session, catalog)
    body = (
        "\ufeffpatient,regimen,at,status,note\n"
        'MS-1,teriflunomide,2026-03-02T09:00:00-05:00,taken,"two\nlines"\n'
        "\n"
        "MS-1,teriflunomide,2026-13-01T09:00,taken,\n"
        "MS-1,teriflunomide,2026-03-04T09:00:00-05:00,sometimes,\n"
    )
    result = run_csv(session, catalog, body)
    assert [str(e) for e in result.errors] == [
        "line 5: at: '2026-13-01T09:00' is not an ISO 8601 date-time",
        "line 6: status: 'sometimes' is not one of taken, skipped, missed",
    ]
    assert result.imported == 1


def test_a_local_date_time_is_read_in_the_patients_zone_across_dst(
    session: Session, catalog: Catalog
) -> None:
    """New York springs forward on 2026-03-08: 08:00 is 13:00 UTC the day before, 12:00 UTC
    that day; both are that morning's dose."""
    c = clinic(session, catalog)
    body = "patient,regimen,at,status\nMS-2,Tecfidera,2026-03-07T08:00,taken\nMS-2,Tecfidera,2026-03-08T08:00,taken\nMS-2,Tecfidera,2026-03-08T02:30,skipped\n"
    result = run_csv(session, catalog, body)
    assert result.refused == 1  # 02:30 does not exist that night: it is 03:30, the 08:00 dose again
    doses = session.exec(
        select(Dose)
        .where(Dose.plan_id == c.bid_plan.id, Dose.status == "taken")
        .order_by(col(Dose.due_at))
    ).all()
    assert [(d.local_date.day, d.local_time, d.taken_at) for d in doses] == [
        (7, "08:00", datetime(2026, 3, 7, 13, 0, tzinfo=UTC)),
        (8, "08:00", datetime(2026, 3, 8, 12, 0, tzinfo=UTC)),
    ]


def test_a_recorded_answer_is_never_overwritten_but_an_open_or_missed_dose_is_completed(
    session: Session, catalog: Catalog
) -> None:
    c = clinic(session, catalog)
    # The daemon has run since yesterday: this morning's 09:00 teriflunomide answered by
    # text, this morning's 08:00 Tecfidera marked missed by the engine.
    now = NOW
    from adherence.dosing.materialize import materialize

    materialize(session, now=now - timedelta(hours=12), catalog=catalog, horizon_days=3)
    local_today = now.astimezone(NY).date()
    today = session.exec(
        select(Dose).where(Dose.plan_id == c.pills_plan.id, Dose.local_date == local_today)
    ).one()
    yesterday = session.exec(
        select(Dose).where(
            Dose.plan_id == c.bid_plan.id,
            Dose.local_date == local_today,
            Dose.local_time == "08:00",
        )
    ).one()
    yesterday.status = DoseStatus.MISSED
    session.add(yesterday)
    session.commit()
    confirm(
        session,
        catalog=catalog,
        dose=today,
        status="taken",
        at=now - timedelta(hours=3),
        now=now,
        via="sms",
    )

    body = (
        "patient,regimen,at,status\n"
        f"MS-1,teriflunomide,{today.due_at.isoformat()},skipped\n"
        f"MS-2,Tecfidera,{yesterday.due_at.isoformat()},taken\n"
    )
    result = run_csv(session, catalog, body)
    assert (result.imported, result.updated, result.refused) == (1, 1, 1)
    error = result.errors[0]
    assert (error.line, error.field) == (2, "status")
    assert error.message.startswith(f"already recorded as taken via sms on {now.date()}")
    session.expire_all()
    assert session.get(Dose, today.id).status == "taken"  # type: ignore[union-attr]
    fixed = session.get(Dose, yesterday.id)
    assert fixed is not None and (fixed.status, fixed.confirmed_via) == ("taken", "import")
    change = session.exec(select(DoseChange)).one()
    assert (change.dose_id, change.old_status, change.new_status) == (
        yesterday.id,
        "missed",
        "taken",
    )
    assert (change.changed_by, change.reason) == ("cli:tester", "history import")


def test_an_amount_must_be_in_the_doses_unit(session: Session, catalog: Catalog) -> None:
    c = clinic(session, catalog)
    body = (
        "patient,regimen,at,status,amount,unit\n"
        "MS-2,Tecfidera,2026-03-02T08:00:00-05:00,taken,120,mg\n"
        "MS-2,Tecfidera,2026-03-02T20:00:00-05:00,taken,2,tablets\n"
    )
    result = run_csv(session, catalog, body)
    assert [str(e) for e in result.errors] == [
        "line 3: unit: 'tablets' is not the dose's unit ('mg')"
    ]
    dose = session.exec(
        select(Dose).where(Dose.plan_id == c.bid_plan.id, Dose.status == "taken")
    ).one()
    assert dose.amount == 120


def test_an_interval_plan_reschedules_from_the_last_imported_infusion(
    session: Session, catalog: Catalog
) -> None:
    """Ocrevus from 2025-01-06: Day 1, Day 15, then every 6 months. The infusion due
    2025-07-06 was given three weeks late: the next one is due 6 months after it."""
    c = clinic(session, catalog)
    body = (
        "patient,regimen,at,status\n"
        "MS-3,Ocrevus,2025-01-06T10:00:00+01:00,taken\n"
        "MS-3,Ocrevus,2025-01-20T10:00:00+01:00,taken\n"
        "MS-3,Ocrevus,2025-07-27T10:00:00+02:00,taken\n"
        "MS-3,Ocrevus,2026-01-27T10:00:00+01:00,taken\n"
    )
    result = run_csv(session, catalog, body)
    assert (result.imported, result.refused) == (4, 0), result.errors
    assert result.rescheduled_plans == [c.infusion_plan.id]
    doses = session.exec(
        select(Dose)
        .where(Dose.plan_id == c.infusion_plan.id, Dose.kind != "monitoring")
        .order_by(col(Dose.due_at))
    ).all()
    taken = [d for d in doses if d.status == "taken"]
    assert [d.key for d in taken] == ["dose:0", "dose:1", "dose:2", "dose:3"]
    assert taken[2].local_date.isoformat() == "2025-07-06"  # as it was planned
    assert taken[3].local_date.isoformat() == "2026-01-27"  # counted from 2025-07-27
    upcoming = [d for d in doses if d.status == "scheduled"]
    assert upcoming and upcoming[0].local_date.isoformat() == "2026-07-27"
    # Imported again: nothing moves.
    again = run_csv(session, catalog, body, now=NOW + timedelta(seconds=5))
    assert (again.imported, again.unchanged) == (0, 4)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("patient,regimen,when,status", "unknown column 'when'"),
        ("patient,regimen,at", "missing column 'status'"),
        ("patient;regimen;at;status", "separated by commas"),
        ("name,phone", "names neither a dose history"),
    ],
)
def test_an_unusable_header_is_an_error_about_the_file(
    session: Session, catalog: Catalog, header: str, message: str
) -> None:
    from adherence.history.rows import HistoryFileError

    with pytest.raises(HistoryFileError, match=message):
        run_csv(session, catalog, header + "\nMS-1,x,y,z\n")


def test_another_teams_patient_is_no_patient(session: Session, catalog: Catalog) -> None:
    mine = clinic(session, catalog)
    clinic(session, catalog, name="Lakeside", n0=10)  # MS-11..MS-13
    from adherence.history.files import import_body
    from tests.adherence.history.helpers import settings

    body = "patient,regimen,at,status\nMS-11,teriflunomide,2026-03-02T09:00:00-05:00,taken\nMS-1,teriflunomide,2026-03-02T09:00:00-05:00,taken\n"
    result = import_body(
        session, body.encode(), name="x.csv", settings=settings(catalog, team_id=mine.team.id)
    )
    assert [str(e) for e in result.errors] == ["line 2: patient: no patient 'MS-11'"]
    assert result.imported == 1


def test_an_invalid_resource_is_one_refused_row_and_references_are_followed(
    session: Session, catalog: Catalog
) -> None:
    clinic(session, catalog)
    bundle = to_bundle(ROWS[:2])
    entries = bundle["entry"]
    entries.append(
        {
            "resource": {
                "resourceType": "MedicationAdministration",
                "id": "broken",
                "status": "completed",
                "medicationCodeableConcept": {"text": "Aubagio"},
                "subject": {"reference": "Patient/MS-1"},
                "effectiveDateTime": "last Tuesday",
            }
        }
    )
    entries.append(
        {
            "resource": {
                "resourceType": "MedicationAdministration",
                "id": "wrong-status",
                "status": "entered-in-error",
                "medicationCodeableConcept": {"text": "Aubagio"},
                "subject": {"reference": "Patient/MS-1"},
                "effectiveDateTime": "2026-03-04T09:00:00-05:00",
            }
        }
    )
    entries.append(
        {
            "fullUrl": "urn:uuid:med-1",
            "resource": {
                "resourceType": "Medication",
                "id": "med-1",
                "code": {"text": "Aubagio 14 MG Oral Tablet"},
            },
        }
    )
    entries.append(
        {
            "resource": {
                "resourceType": "MedicationAdministration",
                "id": "by-reference",
                "status": "completed",
                "medicationReference": {"reference": "urn:uuid:med-1"},
                "subject": {"reference": "Patient/MS-1"},
                "effectivePeriod": {"start": "2026-03-05T09:00:00-05:00"},
            }
        }
    )
    result = run_bundle(session, catalog, bundle)
    assert (result.imported, result.refused) == (3, 2), result.errors
    assert [(e.origin, e.field) for e in result.errors] == [
        ("MedicationAdministration/broken", "effectiveDateTime"),
        ("MedicationAdministration/wrong-status", "status"),
    ]


def test_measures_count_imported_doses_like_any_other(session: Session, catalog: Catalog) -> None:
    """What `report` and the exports read: the imported history is in the measures."""
    from datetime import date

    from adherence.care.measures.compute import measure_plan
    from adherence.core.config import settings_from_mapping

    c = clinic(session, catalog)
    run_csv(session, catalog, to_csv(ROWS[:5]))
    measured = measure_plan(
        session,
        c.pills_plan,
        start=date(2026, 3, 2),
        end=date(2026, 3, 6),
        catalog=catalog,
        settings=settings_from_mapping({}),
    )
    assert (measured.scheduled, measured.taken, measured.skipped, measured.missed) == (5, 3, 1, 1)
    assert measured.index_date == date(2026, 3, 2)
