"""Measuring plans, a patient and a care team over a period: what the report, the API and
the flags' PDC rule call.

Patients and plans are read as ORM rows (they are few); the doses are streamed plan by plan
(``rows.rows_by_plan``) and measured by ``pdc.measure_rows``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from adherence.care.measures.dispensing import dispensing_cover, fills_by_plan
from adherence.care.measures.pdc import combine_plans, measure_rows
from adherence.care.measures.results import PatientMeasures, PlanMeasures, TeamMeasures
from adherence.care.measures.rows import rows_by_plan
from adherence.core.config import Settings
from adherence.dosing.plans import regimen_for
from adherence.storage.models import CareTeam, Patient, Plan
from schedules import Catalog


def default_periods(today: date) -> dict[str, tuple[date, date]]:
    """The last 30, 90 and 365 days, each ending today (inclusive)."""
    return {f"{n}d": (today - timedelta(days=n - 1), today) for n in (30, 90, 365)}


def _measure_plans(
    session: Session,
    plans: list[Plan],
    patients: dict[int, Patient],
    *,
    team_id: int | None,
    start: date,
    end: date,
    catalog: Catalog,
    settings: Settings,
    now: datetime | None = None,
) -> dict[int, PlanMeasures]:
    by_id = {p.id: p for p in plans}
    ids = None if team_id is not None else [p.id for p in plans if p.id is not None]
    out: dict[int, PlanMeasures] = {}
    seen: set[int] = set()
    for plan_id, rows in rows_by_plan(session, ids, team_id, start=start, end=end):
        plan = by_id.get(plan_id)
        if plan is None:
            continue
        seen.add(plan_id)
        out[plan_id] = measure_rows(
            plan,
            patients[plan.patient_id],
            rows,
            regimen_for(catalog, plan),
            start=start,
            end=end,
            settings=settings,
            now=now,
        )
    for plan in plans:  # plans without a dose in the period still appear, empty
        if plan.id not in seen and plan.id is not None:
            out[plan.id] = measure_rows(
                plan,
                patients[plan.patient_id],
                [],
                regimen_for(catalog, plan),
                start=start,
                end=end,
                settings=settings,
                now=now,
            )
    for plan_id, fills in fills_by_plan(session, ids, team_id, start=start, end=end).items():
        if plan_id in out:
            out[plan_id].dispensing = dispensing_cover(fills, end=end)
    return out


def measure_plans(
    session: Session,
    plans: list[Plan],
    patients: dict[int, Patient],
    *,
    start: date,
    end: date,
    catalog: Catalog,
    settings: Settings,
    now: datetime | None = None,
) -> dict[int, PlanMeasures]:
    """Many plans over one period, their rows read together (the low-PDC rule's batches):
    a few statements per batch instead of a few per plan."""
    _check_period(start, end)
    return _measure_plans(
        session,
        plans,
        patients,
        team_id=None,
        start=start,
        end=end,
        catalog=catalog,
        settings=settings,
        now=now,
    )


def _check_period(start: date, end: date) -> None:
    if end < start:
        raise ValueError(f"period end {end} is before its start {start}")


def measure_plan(
    session: Session,
    plan: Plan,
    *,
    start: date,
    end: date,
    catalog: Catalog,
    settings: Settings,
    now: datetime | None = None,
) -> PlanMeasures:
    _check_period(start, end)
    patient = session.get(Patient, plan.patient_id)
    assert patient is not None
    measured = _measure_plans(
        session,
        [plan],
        {patient.id or 0: patient},
        team_id=None,
        start=start,
        end=end,
        catalog=catalog,
        settings=settings,
        now=now,
    )
    return measured[plan.id or 0]


def measure_patient(
    session: Session,
    patient: Patient,
    *,
    start: date,
    end: date,
    catalog: Catalog,
    settings: Settings,
    now: datetime | None = None,
) -> PatientMeasures:
    _check_period(start, end)
    plans = list(
        session.exec(select(Plan).where(Plan.patient_id == patient.id).order_by(col(Plan.id)))
    )
    measured = _measure_plans(
        session,
        plans,
        {patient.id or 0: patient},
        team_id=None,
        start=start,
        end=end,
        catalog=catalog,
        settings=settings,
        now=now,
    )
    return combine_plans(
        patient,
        [measured[p.id] for p in plans if p.id is not None],
        start=start,
        end=end,
        settings=settings,
    )


def iter_team_patients(
    session: Session,
    team: CareTeam,
    *,
    start: date,
    end: date,
    catalog: Catalog,
    settings: Settings,
    now: datetime | None = None,
) -> Iterator[PatientMeasures]:
    """Each patient's measures in patient id order (patients and plans are small rows;
    the doses are streamed)."""
    _check_period(start, end)
    patients = {
        p.id: p
        for p in session.exec(
            select(Patient).where(Patient.team_id == team.id).order_by(col(Patient.id))
        )
        if p.id is not None  # always, for a stored row
    }
    plans = list(
        session.exec(
            select(Plan)
            .where(
                col(Plan.patient_id).in_(select(col(Patient.id)).where(Patient.team_id == team.id))
            )
            .order_by(col(Plan.id))
        )
    )
    measured = _measure_plans(
        session,
        plans,
        patients,
        team_id=team.id,
        start=start,
        end=end,
        catalog=catalog,
        settings=settings,
        now=now,
    )
    by_patient: dict[int, list[PlanMeasures]] = {}
    for plan in plans:
        by_patient.setdefault(plan.patient_id, []).append(measured[plan.id or 0])
    for pid, patient in patients.items():
        yield combine_plans(
            patient, by_patient.get(pid or 0, []), start=start, end=end, settings=settings
        )


def measure_team(
    session: Session,
    team: CareTeam,
    *,
    start: date,
    end: date,
    catalog: Catalog,
    settings: Settings,
    now: datetime | None = None,
) -> TeamMeasures:
    tm = TeamMeasures(
        team_id=team.id or 0,
        team_name=team.name,
        start=start,
        end=end,
        threshold=settings.care.pdc_threshold,
    )
    tm.patients = list(
        iter_team_patients(
            session, team, start=start, end=end, catalog=catalog, settings=settings, now=now
        )
    )
    return tm
