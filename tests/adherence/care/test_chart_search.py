"""The team's patient search (SQLite and PostgreSQL): text search, filters, pages, and the
PDC cache that re-measures only the patients whose doses changed."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import Session, col, select

from adherence.care.chart.search import Filters, PdcCache, band_of, search_patients
from adherence.care.measures import measure_patient
from adherence.core.config import Settings
from adherence.patients.enrollment import create_team
from adherence.storage.models import Dose
from schedules import Catalog
from tests.adherence.engine_helpers import Enrolled, at, drive, enroll

SETTINGS = Settings()
START = at(2026, 3, 1, 0, 0)
NOW = at(2026, 3, 21, 6, 0)


def team_of(session: Session, catalog: Catalog, n: int = 6) -> list[Enrolled]:
    team = create_team(session, name="Search", tz="America/New_York", now=START)
    out = [
        enroll(
            session, catalog, "teriflunomide", date(2026, 3, 1), now=START, times=["09:00"],
            team=team, n=i, external_id=f"MRN-{i}_x",
        )
        for i in range(n)
    ]  # fmt: skip
    odd = {e.patient.id for e in out[1::2]}
    # Odd patients take nothing from the 11th on (PDC about 50%), even ones every dose.
    drive(session, catalog, start=START, until=NOW,
          take=lambda d: d.patient_id not in odd or d.local_date < date(2026, 3, 11))  # fmt: skip
    return out


def names(result: object) -> list[str]:
    return [r.patient.name for r in result.rows]  # type: ignore[attr-defined]


def test_search_pages_and_escapes_wildcards(session: Session, catalog: Catalog) -> None:
    people = team_of(session, catalog)
    team = people[0].team
    found = search_patients(
        session, team, Filters(page=2), now=NOW, catalog=catalog, settings=SETTINGS, per_page=4
    )
    assert (found.total, found.page, found.pages) == (6, 2, 2)
    assert names(found) == ["Patient 4", "Patient 5"]
    beyond = search_patients(
        session, team, Filters(page=9), now=NOW, catalog=catalog, settings=SETTINGS, per_page=4
    )
    assert beyond.page == 2  # a page past the end shows the last one
    one = Filters(q="mrn-3_")
    assert names(
        search_patients(session, team, one, now=NOW, catalog=catalog, settings=SETTINGS)
    ) == ["Patient 3"]
    under = Filters(q="mrn_3")  # "_" is a character, not LIKE's any-one-character
    assert (
        search_patients(session, team, under, now=NOW, catalog=catalog, settings=SETTINGS).total
        == 0
    )


def test_pdc_in_the_list_is_the_measures_packages_over_pdc_days(
    session: Session, catalog: Catalog
) -> None:
    people = team_of(session, catalog, n=2)
    found = search_patients(
        session, people[0].team, Filters(), now=NOW, catalog=catalog, settings=SETTINGS
    )
    today = NOW.date()
    for row, e in zip(found.rows, people, strict=True):
        m = measure_patient(
            session, e.patient, start=today - timedelta(days=SETTINGS.care.pdc_days - 1),
            end=today, catalog=catalog, settings=SETTINGS,
        )  # fmt: skip
        assert row.pdc == m.pdc and row.band == band_of(m.pdc)
    assert [r.band for r in found.rows] == ["ge80", "lt50"]


def test_cached_pdc_is_measured_again_when_a_dose_changes(
    session: Session, catalog: Catalog
) -> None:
    people = team_of(session, catalog, n=4)
    team, cache = people[0].team, PdcCache()
    low = Filters(band="lt50")
    first = search_patients(
        session, team, low, now=NOW, catalog=catalog, settings=SETTINGS, cache=cache
    )
    assert names(first) == ["Patient 1", "Patient 3"]
    again = search_patients(
        session, team, low, now=NOW, catalog=catalog, settings=SETTINGS, cache=cache
    )
    assert names(again) == names(first)
    # Patient 3 says they took the doses after all: recorded, PDC back up.
    missed = session.exec(
        select(Dose).where(Dose.patient_id == people[3].patient.id, Dose.status == "missed")
        .order_by(col(Dose.due_at))
    ).all()  # fmt: skip
    for d in missed:
        d.status, d.taken_at, d.updated_at = "taken", d.due_at, NOW
        session.add(d)
    session.commit()
    after = search_patients(
        session, team, low, now=NOW, catalog=catalog, settings=SETTINGS, cache=cache
    )
    assert names(after) == ["Patient 1"]
