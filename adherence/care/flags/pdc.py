"""The low-PDC rule: PDC over the last [care] pdc_days whole days (up to yesterday, in the
patient's zone) below [care] pdc_threshold, for plans running at least that long.

Every pass measures every plan whose result may have moved, with no cap: a plan whose
period moved (its ``pdc_checked_on`` is not the patient's today: once a local day), and a
plan with a dose record written since the last pass (the ``low_pdc`` watermark, read by
the ``dose.updated_at`` index). Plans are measured in batches that read their rows
together, so a pass over a 100,000-plan clinic is a few statements per batch, not per plan
(bench/care_pass.py). A low-PDC spell is one occurrence; after a resolution it comes back
only once a whole new period has passed below the threshold.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlmodel import Session, col, select

from adherence.care.flags.marks import changed_plans, move_mark, read_mark
from adherence.care.flags.store import raise_flag
from adherence.care.measures import PDC_KINDS, PlanMeasures, measure_plans
from adherence.core.config import Settings
from adherence.storage.models import Flag, Patient, Plan
from schedules import Catalog

PDC_BATCH = 2000  # plans whose rows are read together (a batch, not a cap per pass)
MARK = "low_pdc"


def _kind(catalog: Catalog, regimen: str) -> str:
    try:
        return catalog.get(regimen).kind
    except Exception:  # a regimen removed from the catalog: not measured
        return ""


def _due(
    session: Session, *, now: datetime, catalog: Catalog, days: int, changed: set[int] | None
) -> dict[date, list[int]]:
    """The plans to measure on this pass, by the patient's today (plain columns: a big
    clinic's plans without building their ORM rows). ``changed`` None: every plan."""
    rows = session.execute(
        sa_select(
            col(Plan.id),
            col(Plan.regimen),
            col(Plan.start_date),
            col(Plan.pdc_checked_on),
            col(Patient.tz),
        )
        .join(Patient, col(Patient.id) == Plan.patient_id)
        .where(col(Plan.status) == "active", col(Patient.active))
        .order_by(col(Plan.id))
    ).all()
    today_in: dict[str, date] = {}
    kinds: dict[str, str] = {}
    due: dict[date, list[int]] = {}
    for plan_id, regimen, start_date, checked, tz in rows:
        today = today_in.get(tz)
        if today is None:
            today = today_in[tz] = now.astimezone(ZoneInfo(tz)).date()
        if changed is not None and checked == today and plan_id not in changed:
            continue  # measured today, and nothing it is measured from changed since
        if start_date > today - timedelta(days=days):
            continue  # not running a whole period yet: decided without reading a dose
        kind = kinds.get(regimen)
        if kind is None:
            kind = kinds[regimen] = _kind(catalog, regimen)
        if kind in PDC_KINDS:
            due.setdefault(today, []).append(plan_id)
    return due


def pdc_rule(
    session: Session, *, now: datetime, catalog: Catalog, settings: Settings
) -> list[Flag]:
    """Measure every plan due (see the module), raise or refresh ``low_pdc`` flags, record
    each plan's ``pdc_checked_on`` and move the watermark: all in the caller's commit."""
    care = settings.care
    basis = f"pdc_days={care.pdc_days} threshold={care.pdc_threshold}"
    mark = read_mark(session, MARK, basis=basis)
    changed = None if mark is None else changed_plans(session, mark)
    flags: list[Flag] = []
    due = _due(session, now=now, catalog=catalog, days=care.pdc_days, changed=changed)
    for today, plan_ids in due.items():
        end = today - timedelta(days=1)
        start = end - timedelta(days=care.pdc_days - 1)
        for i in range(0, len(plan_ids), PDC_BATCH):
            flags += _measure_batch(
                session, plan_ids[i : i + PDC_BATCH], now=now, start=start, end=end, today=today,
                catalog=catalog, settings=settings,
            )  # fmt: skip
    move_mark(session, MARK, basis=basis, now=now)
    return flags


def _measure_batch(
    session: Session,
    plan_ids: list[int],
    *,
    now: datetime,
    start: date,
    end: date,
    today: date,
    catalog: Catalog,
    settings: Settings,
) -> list[Flag]:
    pairs = session.exec(
        select(Plan, Patient)
        .join(Patient, col(Patient.id) == Plan.patient_id)
        .where(col(Plan.id).in_(plan_ids))
        .order_by(col(Plan.id))
    ).all()
    plans = [plan for plan, _ in pairs]
    patients = {patient.id or 0: patient for _, patient in pairs}
    measured = measure_plans(
        session, plans, patients, start=start, end=end, catalog=catalog, settings=settings,
        now=now,
    )  # fmt: skip
    # Not updated_at: the plans themselves have not changed.
    session.execute(
        update(Plan)
        .where(col(Plan.id).in_(plan_ids))
        .values(pdc_checked_on=today)
        .execution_options(synchronize_session=False)
    )
    flags = []
    for plan, patient in pairs:
        flag = _low_pdc(session, plan, patient, measured[plan.id or 0], now=now, settings=settings)
        if flag is not None:
            flags.append(flag)
    session.flush()
    for plan, patient in pairs:  # a pass over a big clinic keeps no batch in memory
        session.expunge(plan)
        if patient in session:
            session.expunge(patient)
    return flags


def _low_pdc(
    session: Session,
    plan: Plan,
    patient: Patient,
    m: PlanMeasures,
    *,
    now: datetime,
    settings: Settings,
) -> Flag | None:
    pdc = m.pdc
    if pdc is None or pdc >= settings.care.pdc_threshold:
        return None
    assert plan.id is not None and patient.id is not None
    last = session.exec(
        select(Flag)
        .where(Flag.plan_id == plan.id, Flag.rule == "low_pdc")
        .order_by(col(Flag.id).desc())
        .limit(1)
    ).first()
    if last is not None and last.status == "resolved":
        assert last.resolved_at is not None
        if last.resolved_at.astimezone(ZoneInfo(patient.tz)).date() >= m.start:
            return None  # this period still overlaps the one already dealt with
    occurrence = (
        last.details.get("occurrence")
        if last is not None and last.status != "resolved"
        else f"from:{m.start.isoformat()}"
    )
    return raise_flag(
        session,
        team_id=patient.team_id,
        patient_id=patient.id,
        plan_id=plan.id,
        rule="low_pdc",
        now=now,
        details={
            "pdc": round(pdc, 4),
            "threshold": settings.care.pdc_threshold,
            "period_start": m.start,
            "period_end": m.end,
        },
        occurrence=occurrence,
    )
