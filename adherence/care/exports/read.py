"""Reading a care team's export: patients in id order in batches, each with its plans,
its doses in the period and its measures.

``read_patients`` never holds the team in memory: each batch's doses are streamed with
``dose_batches`` ordered by patient, plan and due time, and each patient's rows are
measured (``measure_rows``) as they are read; each batch's check-in answers
(``observations``) are one more statement. ``by_id`` pages any table by id (the FHIR
writer reads the flags that way).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, func, type_coerce
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from adherence.care.measures import (
    DOSES,
    LOOKAHEAD_DAYS,
    MEASURE_COLUMNS,
    DoseFacts,
    PatientMeasures,
    PlanMeasures,
    combine_plans,
    day_of,
    dispensing_cover,
    dose_batches,
    measure_rows,
    row_maker,
)
from adherence.core.config import Settings
from adherence.dosing.plans import regimen_for
from adherence.storage.models import CareTeam, Dispense, Flag, Patient, Plan
from adherence.storage.selfcare import Observation, Prompt
from adherence.storage.utc import instant
from schedules import Catalog

PATIENT_BATCH = 200
DOSE_BATCH = 2_000  # rows per fetch: bounds the peak (about 2 KiB a row in flight)


@dataclass(slots=True)
class DoseOut:
    id: int
    plan_id: int
    due_at: datetime
    taken_at: datetime | None
    confirmed_at: datetime | None
    status: str
    via: str
    late: bool
    kind: str
    amount: float
    unit: str
    site: str = ""  # the injection site the reply named (a catalog code), "" when none
    site_note: str = ""  # why that use repeated against the rotation rule, "" when it did not


@dataclass(slots=True)
class ObservationOut:
    """One patient-reported answer (a check-in score or yes/no, a flare-triage answer)."""

    id: int
    item: str  # the question's code: fatigue, mood, walking, new_symptoms, triage_new, ...
    value_type: str  # score | yes_no
    value: float  # 0-10, or 1 / 0 for yes / no
    observed_at: datetime
    source: str  # sms | clinic | import
    kind: str  # checkin | triage (the prompt it answered; checkin when none)
    conversation: str  # the check-in or triage it belongs to, "" when entered alone


_T = DOSES.c
# The measures' columns, then what the export adds (patient id first); read raw like the
# measures do (adherence.care.measures.dose_batches). A row is also what the measures read.
_COLUMNS = (
    *MEASURE_COLUMNS,
    _T.patient_id,
    _T.id,
    type_coerce(_T.due_at, String).label("due_at"),
    type_coerce(_T.confirmed_at, String).label("confirmed_at"),
    _T.confirmed_via,
    _T.amount,
    _T.unit,
    _T.site,
    _T.site_note,
)


class _ExportFacts(NamedTuple):
    # DoseFacts' fields first, in its order: the row goes to the measures as it is.
    plan_id: int
    local_date: Any
    status: str
    late: bool
    taken_at: Any
    kind: str
    phase: str
    latest: Any
    patient_id: int
    id: int
    due_at: Any
    confirmed_at: Any
    confirmed_via: str
    amount: float
    unit: str
    site: str | None
    site_note: str


_export_facts = row_maker(_ExportFacts, _COLUMNS)
if _ExportFacts._fields[: len(DoseFacts._fields)] != DoseFacts._fields:
    raise TypeError("an export row must start with DoseFacts' fields, in order")


@dataclass
class PatientData:
    patient: Patient
    plans: list[Plan]
    doses: list[DoseOut]  # in the period, not monitoring, not cancelled
    measures: PatientMeasures
    fills: list[Dispense] = field(default_factory=list)  # dispensed in the period
    observations: list[ObservationOut] = field(default_factory=list)  # answered in the period


_Row = TypeVar("_Row", Patient, Flag)


def by_id(session: Session, model: type[_Row], where: Any) -> Iterator[list[_Row]]:
    """Rows of ``model`` matching ``where`` in id order, PATIENT_BATCH at a time. Each page
    starts after the last id seen (keyset, not OFFSET), so a page costs the same however
    far in, and a table is never read whole."""
    last = 0
    while True:
        rows = list(
            session.exec(
                select(model)
                .where(where, col(model.id) > last)
                .order_by(col(model.id))
                .limit(PATIENT_BATCH)
            )
        )
        if not rows:
            return
        last = rows[-1].id or 0
        yield rows


def read_patients(
    session: Session,
    team: CareTeam,
    *,
    start: date,
    end: date,
    catalog: Catalog,
    settings: Settings,
    patient_id: int | None = None,
) -> Iterator[PatientData]:
    """The team's patients (or only ``patient_id``, one of them) with their export data."""
    lookahead = end + timedelta(days=LOOKAHEAD_DAYS)
    for batch in by_id(session, Patient, _whose(team, patient_id)):
        ids = [p.id for p in batch]
        plans: dict[int, list[Plan]] = {}
        for plan in session.exec(
            select(Plan).where(col(Plan.patient_id).in_(ids)).order_by(col(Plan.id))
        ):
            plans.setdefault(plan.patient_id, []).append(plan)
        fills: dict[int, list[Dispense]] = {}
        for fill in session.exec(
            select(Dispense)
            .where(
                col(Dispense.patient_id).in_(ids),
                col(Dispense.dispensed_on) >= start,
                col(Dispense.dispensed_on) <= end,
            )
            .order_by(col(Dispense.dispensed_on), col(Dispense.id))
        ):
            fills.setdefault(fill.plan_id, []).append(fill)
        answers = _observations(session, batch, start, end)
        stmt = (
            sa_select(*_COLUMNS)
            .where(_T.patient_id.in_(ids), _T.local_date >= start, _T.local_date <= lookahead)
            .order_by(_T.patient_id, _T.plan_id, _T.due_at)
        )
        rows = (
            row for part in dose_batches(session, stmt, _export_facts, DOSE_BATCH) for row in part
        )
        pending = next(rows, None)
        days: dict[Any, date] = {}
        for patient in batch:
            pid = patient.id  # an ORM attribute read costs more than the comparison
            facts: dict[int, list[_ExportFacts]] = {}
            out: list[DoseOut] = []
            while pending is not None and pending.patient_id == pid:
                r = pending
                facts.setdefault(r.plan_id, []).append(r)
                if (
                    r.kind != "monitoring"
                    and r.status not in ("cancelled", "not_sent")
                    and day_of(r.local_date, days) <= end
                ):
                    out.append(
                        DoseOut(
                            id=r.id,
                            plan_id=r.plan_id,
                            due_at=instant(r.due_at),
                            taken_at=instant(r.taken_at) if r.taken_at is not None else None,
                            confirmed_at=(
                                instant(r.confirmed_at) if r.confirmed_at is not None else None
                            ),
                            status=r.status,
                            via=r.confirmed_via,
                            late=bool(r.late),
                            kind=r.kind,
                            amount=r.amount,
                            unit=r.unit,
                            site=r.site or "",
                            site_note=r.site_note or "",
                        )
                    )
                pending = next(rows, None)
            own = plans.get(patient.id or 0, [])
            measured: list[PlanMeasures] = [
                measure_rows(
                    plan,
                    patient,
                    facts.get(plan.id or 0, []),
                    regimen_for(catalog, plan),
                    start=start,
                    end=end,
                    settings=settings,
                )
                for plan in own
            ]
            own_fills: list[Dispense] = []
            for plan, m in zip(own, measured, strict=True):
                plan_fills = fills.get(plan.id or 0, [])
                if plan_fills:
                    m.dispensing = dispensing_cover(
                        ((f.dispensed_on, f.days_supply) for f in plan_fills), end=end
                    )
                    own_fills.extend(plan_fills)
            pm = combine_plans(patient, measured, start=start, end=end, settings=settings)
            yield PatientData(patient=patient, plans=own, doses=out, measures=pm, fills=own_fills,
                              observations=answers.get(pid or 0, []))  # fmt: skip


def _observations(
    session: Session, batch: list[Patient], start: date, end: date
) -> dict[int, list[ObservationOut]]:
    """The batch's answers observed on [start, end] in each patient's own calendar, in time
    order (one statement: a day of slack either side in SQL, the exact day per patient)."""
    zones = {p.id: ZoneInfo(p.tz) for p in batch}
    since = datetime.combine(start - timedelta(days=1), time(0), UTC)
    until = datetime.combine(end + timedelta(days=2), time(0), UTC)
    out: dict[int, list[ObservationOut]] = {}
    for o, prompt in session.exec(
        select(Observation, Prompt)
        .join(Prompt, col(Prompt.id) == Observation.prompt_id, isouter=True)
        .where(
            col(Observation.patient_id).in_(list(zones)),
            col(Observation.observed_at) >= since,
            col(Observation.observed_at) < until,
        )
        .order_by(col(Observation.patient_id), col(Observation.observed_at), col(Observation.id))
    ):
        at = instant(o.observed_at)
        if not start <= at.astimezone(zones[o.patient_id]).date() <= end:
            continue
        out.setdefault(o.patient_id, []).append(
            ObservationOut(
                id=o.id or 0,
                item=o.item,
                value_type=o.value_type,
                value=o.value,
                observed_at=at,
                source=o.source,
                kind=prompt.kind if prompt is not None else "checkin",
                conversation=prompt.conversation if prompt is not None else "",
            )
        )
    return out


def _whose(team: CareTeam, patient_id: int | None) -> Any:
    if patient_id is None:
        return Patient.team_id == team.id
    return and_(col(Patient.team_id) == team.id, col(Patient.id) == patient_id)


def count_patients(session: Session, team: CareTeam, patient_id: int | None = None) -> int:
    return int(
        session.exec(
            select(func.count()).select_from(Patient).where(_whose(team, patient_id))
        ).one()
    )
