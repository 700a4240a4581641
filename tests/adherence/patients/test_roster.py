"""CSV roster import on real databases: SQLite files always, PostgreSQL when configured.

PostgreSQL runs when ADHERENCE_TEST_DATABASE_URL is set (the schema ``public`` of that
database is dropped and rebuilt for each test); without it the PostgreSQL cases are
skipped, except under CI, where a missing database is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, text
from sqlmodel import Session, col, select

from adherence.patients import enrollment
from adherence.patients.roster import ImportReport, RowError, import_roster
from adherence.storage.db import make_engine, upgrade
from adherence.storage.models import CareTeam, Dose, Patient, Plan
from schedules import load_catalog

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "roster.csv"
CATALOG = load_catalog()
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TEAM = "Demo MS Clinic"
HEADER = (
    "external_id,team,name,phone,tz,regimen,start,times,options,discreet,quiet_hours,language,email"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def roster_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path}/t.db")
    else:
        url = os.environ.get("ADHERENCE_TEST_DATABASE_URL")
        if not url:
            if os.environ.get("CI"):
                pytest.fail("CI is set but ADHERENCE_TEST_DATABASE_URL is not")
            pytest.skip("ADHERENCE_TEST_DATABASE_URL is not set")
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(roster_engine: Engine) -> Iterator[Session]:
    with Session(roster_engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def team(session: Session) -> CareTeam:
    return enrollment.create_team(session, name=TEAM, tz="America/New_York", now=NOW)


def run(
    session: Session, csv_text: str, *, now: datetime = NOW, dry_run: bool = False
) -> ImportReport:
    return import_roster(session, catalog=CATALOG, text=csv_text, now=now, dry_run=dry_run)


def counts(session: Session) -> dict[str, int]:
    return {
        model.__name__: session.exec(select(func.count()).select_from(model)).one()
        for model in (Patient, Plan, Dose)
    }


def patient(session: Session, external_id: str) -> Patient:
    found = session.exec(select(Patient).where(Patient.external_id == external_id)).first()
    assert found is not None, f"patient {external_id} is not stored"
    return found


def plans_of(session: Session, external_id: str) -> list[Plan]:
    pid = patient(session, external_id).id
    return list(
        session.exec(select(Plan).where(Plan.patient_id == pid).order_by(col(Plan.id))).all()
    )


def csv_of(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


GOOD = "P-1,Demo MS Clinic,Ana Ruiz,+12025550143,America/New_York,Kesimpta,2026-03-02,09:00,,,,,"


# --- the example file ----------------------------------------------------------------------


def test_the_example_roster_imports_every_row(session: Session, team: CareTeam) -> None:
    report = run(session, EXAMPLE.read_text("utf-8"))

    assert report.errors == []
    assert (report.created_patients, report.created_plans, report.unchanged) == (6, 6, 0)
    assert report.dry_run is False
    stored = session.exec(select(Patient).order_by(Patient.external_id)).all()
    assert [p.external_id for p in stored] == [f"MS-{n}" for n in range(1001, 1007)]
    assert {p.team_id for p in stored} == {team.id}
    regimens = {
        p.external_id: [pl.regimen for pl in plans_of(session, str(p.external_id))] for p in stored
    }
    assert regimens == {
        "MS-1001": ["dimethyl-fumarate"],
        "MS-1002": ["glatiramer"],
        "MS-1003": ["ofatumumab"],
        "MS-1004": ["ocrelizumab"],
        "MS-1005": ["siponimod"],
        "MS-1006": ["cladribine"],
    }
    tecfidera = plans_of(session, "MS-1001")[0]
    assert tecfidera.times == ["08:00", "20:00"]
    assert tecfidera.start_date == date(2026, 3, 2)
    assert plans_of(session, "MS-1002")[0].options == {"strength": "40", "weekdays": "mon,wed,fri"}
    assert plans_of(session, "MS-1005")[0].options == {"cyp2c9": "*1/*1"}
    assert plans_of(session, "MS-1006")[0].options == {"weight_kg": "72"}
    madrid = patient(session, "MS-1004")
    assert (madrid.tz, madrid.language, madrid.name) == (
        "Europe/Madrid",
        "es",
        "Lucía Fernández Ortega",
    )
    assert patient(session, "MS-1002").discreet is False
    assert patient(session, "MS-1001").discreet is True
    first = patient(session, "MS-1001")
    assert (first.quiet_start, first.quiet_end) == ("22:00", "07:00")
    assert patient(session, "MS-1005").phone == "+61491570156"
    # Doses were materialised for every new plan.
    for plan_id in report.plan_ids:
        n = session.exec(
            select(func.count()).select_from(Dose).where(Dose.plan_id == plan_id)
        ).one()
        assert n > 0, f"plan {plan_id} has no doses"
    assert sorted(report.plan_ids) == sorted(p.id or 0 for p in session.exec(select(Plan)).all())


def test_running_the_same_file_again_changes_nothing(session: Session, team: CareTeam) -> None:
    roster = EXAMPLE.read_text("utf-8")
    first = run(session, roster)
    assert first.created_plans == 6
    before = counts(session)
    assert before["Dose"] > 0

    again = run(session, roster, now=NOW + timedelta(days=1))

    assert again.errors == []
    assert (again.created_patients, again.created_plans, again.unchanged) == (0, 0, 6)
    assert again.plan_ids == []
    assert again.notes == []
    assert counts(session) == before


# --- errors ------------------------------------------------------------------------------

MALFORMED = csv_of(
    GOOD,  # line 2
    "P-2,Demo MS Clinic,Ben Cole,+1555,America/New_York,Kesimpta,2026-03-02,,,,,,",  # 3
    "P-3,Demo MS Clinic,Cy Dunn,+13125550178,America/Chicago,Tecfiderra,2026-03-02,,,,,,",  # 4
    "P-4,Demo MS Clinic,Di Earl,+16175550112,Mars/Olympus_Mons,Kesimpta,2026-03-02,,,,,,",  # 5
    "P-5,Demo MS Clinic,Ed Fox,+14155550199,America/Los_Angeles,Kesimpta,2026-02-30,,,,,,",  # 6
    "P-6,Demo MS Clinic,Flo Gray,+12125550100,America/New_York,Copaxone,2026-03-02,,strength=30,,,,",  # 7
    "P-7,Nowhere Clinic,Gus Hill,+13055550120,America/New_York,Kesimpta,2026-03-02,,,,,,",  # 8
    # A quoted field over two physical lines (9-10): a good row.
    'P-8,Demo MS Clinic,Hal Ives,+17135550187,America/Chicago,Copaxone,2026-03-02,19:00,"strength=40;\nweekdays=mon,wed,fri",no,,,',
    "P-9,Demo MS Clinic,Ida Jones,+12025550111,America/New_York,Kesimpta,2026-03-02,,,maybe,,,",  # 11
    "P-10,Demo MS Clinic,Jo Kerr,+12025550112,America/New_York,Kesimpta,2026-03-02,,,,22:00,fr,",  # 12
    "P-11,Demo MS Clinic,,+12025550113,America/New_York,Mayzent,2026-03-02,,,,,,",  # 13
    # A bad row whose quoted name spans lines 14-15: reported on the line it starts on.
    'P-12,Demo MS Clinic,"Kim\nLau",+1202,America/New_York,Kesimpta,2026-03-02,,,,,,',
)


def test_a_malformed_file_reports_each_bad_row_by_line_and_column_and_imports_the_good_rows(
    session: Session, team: CareTeam
) -> None:
    report = run(session, MALFORMED)

    assert [(e.line, e.field) for e in report.errors] == [
        (3, "phone"),
        (4, "regimen"),
        (5, "tz"),
        (6, "start"),
        (7, "options"),
        (8, "team"),
        (11, "discreet"),
        (12, "quiet_hours"),
        (12, "language"),
        (13, "name"),
        (13, "options"),
        (14, "phone"),
    ]
    by = {(e.line, e.field): e for e in report.errors}
    assert str(by[3, "phone"]) == "line 3: phone: '+1555' is not a valid phone number"
    assert "did you mean" in by[4, "regimen"].reason and "Tecfidera" in by[4, "regimen"].reason
    assert "unknown time zone 'Mars/Olympus_Mons'" in by[5, "tz"].reason
    assert by[6, "start"].reason == "'2026-02-30' is not a date (YYYY-MM-DD)"
    assert "valid values: 20, 40" in by[7, "options"].reason
    assert "'Nowhere Clinic'" in by[8, "team"].reason
    assert "yes or no" in by[11, "discreet"].reason
    assert "22:00" in by[12, "quiet_hours"].reason
    assert "'fr' is not one of en, es" in by[12, "language"].reason
    assert by[13, "name"].reason == "is empty"
    assert "cyp2c9" in by[13, "options"].reason  # Mayzent needs its genotype

    assert (report.created_patients, report.created_plans) == (2, 2)
    stored = session.exec(select(Patient.external_id)).all()
    assert sorted(str(x) for x in stored) == ["P-1", "P-8"]
    assert plans_of(session, "P-8")[0].options == {"strength": "40", "weekdays": "mon,wed,fri"}
    assert patient(session, "P-8").discreet is False


def test_a_missing_required_column_is_one_error_and_nothing_is_imported(
    session: Session, team: CareTeam
) -> None:
    header = HEADER.replace("phone,", "")
    row = "P-1,Demo MS Clinic,Ana Ruiz,America/New_York,Kesimpta,2026-03-02,,,,,,"
    report = run(session, csv_of(row, header=header))

    assert report.errors == [RowError(1, "phone", "required column is missing")]
    assert counts(session) == {"Patient": 0, "Plan": 0, "Dose": 0}


def test_an_unknown_column_is_named_and_nothing_is_imported(
    session: Session, team: CareTeam
) -> None:
    report = run(session, csv_of(GOOD + ",42", header=HEADER + ",shoe_size"))

    assert len(report.errors) == 1
    error = report.errors[0]
    assert (error.line, error.field) == (1, "shoe_size")
    assert "unknown column 'shoe_size'" in error.reason
    assert report.created_patients == 0
    assert counts(session)["Patient"] == 0


def test_a_row_whose_plan_is_invalid_leaves_no_patient_behind(
    session: Session, team: CareTeam
) -> None:
    # The patient half is valid; Tecfidera is taken twice a day, so one time is refused
    # by create_plan after the patient was already flushed.
    row = (
        "P-1,Demo MS Clinic,Ana Ruiz,+12025550143,America/New_York,Tecfidera,2026-03-02,08:00,,,,,"
    )
    report = run(session, csv_of(row))

    assert [(e.line, e.field) for e in report.errors] == [(2, "times")]
    assert "2 time(s) a day" in report.errors[0].reason
    assert (report.created_patients, report.created_plans) == (0, 0)
    assert counts(session) == {"Patient": 0, "Plan": 0, "Dose": 0}


def test_an_invalid_new_plan_for_an_enrolled_patient_keeps_the_patient_as_it_was(
    session: Session, team: CareTeam
) -> None:
    run(session, csv_of(GOOD))
    before = counts(session)
    bad = (
        "P-1,Demo MS Clinic,Ana Ruiz,+12025550143,America/New_York,Tecfidera,2026-04-01,08:00,,,,,"
    )
    report = run(session, csv_of(bad))

    assert [(e.line, e.field) for e in report.errors] == [(2, "times")]
    assert counts(session) == before
    assert [p.regimen for p in plans_of(session, "P-1")] == ["ofatumumab"]


# --- dry run, duplicates, existing patients ------------------------------------------------


def test_a_dry_run_reports_what_would_be_created_and_writes_nothing(
    session: Session, team: CareTeam
) -> None:
    roster = EXAMPLE.read_text("utf-8")
    report = run(session, roster, dry_run=True)

    assert report.dry_run is True
    assert report.errors == []
    assert (report.created_patients, report.created_plans, report.unchanged) == (6, 6, 0)
    assert report.plan_ids == []
    assert counts(session) == {"Patient": 0, "Plan": 0, "Dose": 0}
    # Nothing was left pending either: the real import afterwards creates everything.
    real = run(session, roster)
    assert (real.created_patients, real.created_plans) == (6, 6)


def test_a_dry_run_still_reports_row_errors(session: Session, team: CareTeam) -> None:
    report = run(session, MALFORMED, dry_run=True)

    assert len(report.errors) == 12
    assert (report.created_patients, report.created_plans) == (2, 2)
    assert counts(session)["Patient"] == 0


@pytest.mark.parametrize("dry_run", [False, True])
def test_an_external_id_twice_in_one_file_is_enrolled_once(
    session: Session, team: CareTeam, dry_run: bool
) -> None:
    same = GOOD.replace("Ana Ruiz", "Ana M. Ruiz")  # same plan, a different spelling
    other = GOOD.replace("Kesimpta,2026-03-02,09:00", "Tecfidera,2026-04-01,08:00 20:00")
    report = run(session, csv_of(GOOD, same, other), dry_run=dry_run)

    assert report.errors == []
    assert (report.created_patients, report.created_plans, report.unchanged) == (1, 2, 1)
    assert len(report.notes) == 1 and report.notes[0].startswith("line 3: ")
    assert "name" in report.notes[0]
    expected = {"Patient": 0, "Plan": 0} if dry_run else {"Patient": 1, "Plan": 2}
    got = counts(session)
    assert {k: got[k] for k in expected} == expected
    if not dry_run:
        assert patient(session, "P-1").name == "Ana Ruiz"


def test_an_enrolled_patient_gets_the_new_plan_and_keeps_stored_details(
    session: Session, team: CareTeam
) -> None:
    run(session, csv_of(GOOD))
    changed = GOOD.replace("+12025550143", "+13125550178").replace(
        "Kesimpta,2026-03-02,09:00", "Ocrevus,2026-03-20,"
    )
    report = run(session, csv_of(changed))

    assert (report.created_patients, report.created_plans, report.unchanged) == (0, 1, 0)
    assert report.notes and "phone" in report.notes[0]
    assert patient(session, "P-1").phone == "+12025550143"
    assert [p.regimen for p in plans_of(session, "P-1")] == ["ofatumumab", "ocrelizumab"]
    new_plan = plans_of(session, "P-1")[1]
    assert report.plan_ids == [new_plan.id]
    doses = session.exec(
        select(func.count()).select_from(Dose).where(Dose.plan_id == new_plan.id)
    ).one()
    assert doses > 0


# --- format ------------------------------------------------------------------------------


def test_bom_reordered_columns_team_id_and_semicolon_or_space_times(
    session: Session, team: CareTeam
) -> None:
    header = "start,regimen,external_id,name,team,phone,tz,times,language"
    roster = "\ufeff" + csv_of(
        f"2026-03-02,Tecfidera,P-1,Ana Ruiz,{team.id},+12025550143,America/New_York,20:00;08:00,",
        f"2026-03-02,Tecfidera,P-2,Ben Cole,{TEAM},+13125550178,America/Chicago,07:30 19:30,es",
        header=header,
    )
    report = run(session, roster)

    assert report.errors == []
    assert report.created_plans == 2
    assert plans_of(session, "P-1")[0].times == ["08:00", "20:00"]
    assert plans_of(session, "P-2")[0].times == ["07:30", "19:30"]
    assert patient(session, "P-2").language == "es"
    assert patient(session, "P-1").language == "en"


def test_crlf_line_endings_and_blank_lines_keep_line_numbers(
    session: Session, team: CareTeam
) -> None:
    bad = GOOD.replace("P-1", "P-2").replace("+12025550143", "12025550143")
    roster = "\r\n".join([HEADER, GOOD, "", bad]) + "\r\n"
    report = run(session, roster)

    assert [(e.line, e.field) for e in report.errors] == [(4, "phone")]
    assert "E.164" in report.errors[0].reason
    assert report.created_patients == 1


def test_an_empty_file_is_an_error(session: Session, team: CareTeam) -> None:
    report = run(session, "")
    assert [(e.line, e.field) for e in report.errors] == [(1, "header")]


def test_a_naive_now_is_refused(session: Session, team: CareTeam) -> None:
    with pytest.raises(ValueError, match="aware"):
        run(session, csv_of(GOOD), now=NOW.replace(tzinfo=None))
