"""A care team's doses and measures as CSV, JSON or a FHIR R4B Bundle, streamed.

``export_stream`` is a generator of byte chunks used by both the CLI (to a file or
stdout) and the API (a StreamingResponse). It never holds the export in memory: patients
are read in id order in batches, each batch's doses with ``yield_per`` ordered by patient,
plan and due time, and each patient is written out (doses, then measures) before the next.
Exports carry drug names (care-team data) and are never logged.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import String, func, select, type_coerce
from sqlmodel import Session, col

from adherence.care.measures import (
    LOOKAHEAD_DAYS,
    MEASURE_COLUMNS,
    PatientMeasures,
    PlanMeasures,
    combine_plans,
    day_of,
    dose_batches,
    measure_rows,
    row_maker,
)
from adherence.core.config import Settings
from adherence.dosing.plans import plan_times, regimen_for
from adherence.storage.models import DOSE_FINAL, CareTeam, Dose, Flag, Patient, Plan
from adherence.storage.utc import instant
from schedules import Catalog, Regimen

FORMATS = ("csv", "json", "fhir")
PATIENT_BATCH = 200
DOSE_BATCH = 2_000  # rows per fetch: bounds the peak (about 2 KiB a row in flight)
Progress = Callable[[int, int], None]

# One CSV, one header: ``record`` says whether a row is a dose or a patient's summary, so
# the file opens in any spreadsheet and filters in one click (docs/measures.md).
DOSE_COLUMNS = [
    "patient_id",
    "external_id",
    "plan_id",
    "regimen",
    "dose_id",
    "kind",
    "scheduled_at",
    "taken_at",
    "confirmed_at",
    "status",
    "source",
    "late",
]
SUMMARY_COLUMNS = [
    "period_start",
    "period_end",
    "index_date",
    "pdc",
    "adherent",
    "doses_scheduled",
    "doses_taken",
    "taken_rate",
    "on_time_rate",
    "longest_gap_days",
    "persistent",
    "infusions_due",
    "infusion_on_time_rate",
]
CSV_HEADER = ["record", *DOSE_COLUMNS, *SUMMARY_COLUMNS]


class ExportError(ValueError):
    """A bad export request; the message names the field."""


@dataclass(slots=True)
class _DoseOut:
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


_T = Dose.__table__.c
# The measures' columns (patient id first), then what the export adds; read raw like the
# measures do (adherence.care.measures.dose_batches). A row is also what the measures read.
_COLUMNS = (
    _T.patient_id,
    *MEASURE_COLUMNS,
    _T.id,
    type_coerce(_T.due_at, String).label("due_at"),
    type_coerce(_T.confirmed_at, String).label("confirmed_at"),
    _T.confirmed_via,
    _T.amount,
    _T.unit,
)


class _ExportFacts(NamedTuple):
    patient_id: int
    plan_id: int
    local_date: Any
    status: str
    late: bool
    taken_at: Any
    kind: str
    phase: str
    latest: Any
    id: int
    due_at: Any
    confirmed_at: Any
    confirmed_via: str
    amount: float
    unit: str


_export_facts = row_maker(_ExportFacts, _COLUMNS)


@dataclass
class _PatientData:
    patient: Patient
    plans: list[Plan]
    doses: list[_DoseOut]  # in the period, not monitoring, not cancelled
    measures: PatientMeasures


def _iso(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).isoformat() if value is not None else ""


_Row = TypeVar("_Row", Patient, Flag)


def _by_id(session: Session, model: type[_Row], where: Any) -> Iterator[list[_Row]]:
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
            ).scalars()
        )
        if not rows:
            return
        last = rows[-1].id or 0
        yield rows


def _patients(
    session: Session,
    team: CareTeam,
    *,
    start: date,
    end: date,
    catalog: Catalog,
    settings: Settings,
) -> Iterator[_PatientData]:
    lookahead = end + timedelta(days=LOOKAHEAD_DAYS)
    for batch in _by_id(session, Patient, Patient.team_id == team.id):
        ids = [p.id for p in batch]
        plans: dict[int, list[Plan]] = {}
        for plan in session.exec(
            select(Plan).where(col(Plan.patient_id).in_(ids)).order_by(col(Plan.id))
        ).scalars():
            plans.setdefault(plan.patient_id, []).append(plan)
        stmt = (
            select(*_COLUMNS)
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
            out: list[_DoseOut] = []
            while pending is not None and pending.patient_id == pid:
                r = pending
                facts.setdefault(r.plan_id, []).append(r)
                if (
                    r.kind != "monitoring"
                    and r.status not in ("cancelled", "not_sent")
                    and day_of(r.local_date, days) <= end
                ):
                    out.append(
                        _DoseOut(
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
            pm = combine_plans(patient, measured, start=start, end=end, settings=settings)
            yield _PatientData(patient=patient, plans=own, doses=out, measures=pm)


def _count(session: Session, team: CareTeam) -> int:
    return int(
        session.execute(
            select(func.count()).select_from(Patient).where(Patient.team_id == team.id)
        ).scalar_one()
    )


def export_stream(
    session: Session,
    *,
    team: CareTeam,
    start: date,
    end: date,
    fmt: str,
    catalog: Catalog,
    settings: Settings,
    progress: Progress | None = None,
    validate: bool = False,
) -> Iterator[bytes]:
    """The export as chunks of UTF-8 bytes. ``validate`` (FHIR only) checks every resource
    with fhir.resources R4B as it is written (about 5x slower; tests always do it)."""
    if fmt not in FORMATS:
        raise ExportError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    if end < start:
        raise ExportError(f"period end {end} is before its start {start}")
    return _stream(session, team, start, end, fmt, catalog, settings, progress, validate)


def _stream(
    session: Session,
    team: CareTeam,
    start: date,
    end: date,
    fmt: str,
    catalog: Catalog,
    settings: Settings,
    progress: Progress | None,
    validate: bool,
) -> Iterator[bytes]:
    total = _count(session, team)
    patients = _patients(session, team, start=start, end=end, catalog=catalog, settings=settings)
    writer = {"csv": _csv, "json": _json, "fhir": _fhir}[fmt]
    done = 0

    def counted() -> Iterator[_PatientData]:
        nonlocal done
        for data in patients:
            yield data
            done += 1
            if progress is not None:
                progress(done, total)

    yield from writer(session, team, start, end, counted(), catalog, validate)


# --- CSV ------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _csv(
    session: Session,
    team: CareTeam,
    start: date,
    end: date,
    patients: Iterator[_PatientData],
    catalog: Catalog,
    validate: bool,
) -> Iterator[bytes]:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_HEADER)
    blank_summary = [""] * len(SUMMARY_COLUMNS)
    for data in patients:
        p = data.patient
        zone = ZoneInfo(p.tz)
        regimens = {plan.id: plan.regimen for plan in data.plans}
        ext = p.external_id or ""
        for d in data.doses:
            w.writerow(
                [
                    "dose", p.id, ext, d.plan_id, regimens.get(d.plan_id, ""), d.id, d.kind,
                    _iso(d.due_at, zone), _iso(d.taken_at, zone), _iso(d.confirmed_at, zone),
                    d.status, d.via, "true" if d.late else "false", *blank_summary,
                ]
            )  # fmt: skip
        js = data.measures.to_json(plans=False)
        w.writerow(
            ["summary", p.id, ext, *[""] * (len(DOSE_COLUMNS) - 2), start.isoformat(),
             end.isoformat(), *(_cell(js[c]) for c in SUMMARY_COLUMNS[2:])]
        )  # fmt: skip
        yield buf.getvalue().encode()
        buf.seek(0)
        buf.truncate()
    if buf.tell():
        yield buf.getvalue().encode()


# --- JSON -----------------------------------------------------------------------------------


def _dose_json(d: _DoseOut, zone: ZoneInfo, regimen: str) -> dict[str, Any]:
    return {
        "id": d.id,
        "plan_id": d.plan_id,
        "regimen": regimen,
        "kind": d.kind,
        "scheduled_at": _iso(d.due_at, zone),
        "taken_at": _iso(d.taken_at, zone) or None,
        "confirmed_at": _iso(d.confirmed_at, zone) or None,
        "status": d.status,
        "source": d.via or None,
        "late": d.late,
    }


def _json(
    session: Session,
    team: CareTeam,
    start: date,
    end: date,
    patients: Iterator[_PatientData],
    catalog: Catalog,
    validate: bool,
) -> Iterator[bytes]:
    head = {"id": team.id, "name": team.name, "tz": team.tz}
    period = {"start": start.isoformat(), "end": end.isoformat()}
    yield (
        '{"team": ' + json.dumps(head) + ', "period": ' + json.dumps(period) + ', "patients": ['
    ).encode()
    n = adherent = in_pdc = 0
    for data in patients:
        p = data.patient
        zone = ZoneInfo(p.tz)
        regimens = {plan.id: plan.regimen for plan in data.plans}
        item = data.measures.to_json()
        item["doses"] = [_dose_json(d, zone, regimens.get(d.plan_id, "")) for d in data.doses]
        yield ((", " if n else "") + json.dumps(item, ensure_ascii=False)).encode()
        n += 1
        in_pdc += data.measures.pdc is not None
        adherent += bool(data.measures.adherent)
    summary = {"patients": n, "patients_in_pdc": in_pdc, "patients_adherent": adherent}
    yield ('], "summary": ' + json.dumps(summary) + "}\n").encode()


# --- FHIR R4B -------------------------------------------------------------------------------

_NS = uuid.UUID("6f1c1d7e-3c55-4b7e-9a57-0a6d3f3a2b10")  # this project's urn:uuid namespace
SYSTEM = "urn:adherence"
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PLAN_STATUS = {
    "active": "active",
    "paused": "on-hold",
    "stopped": "stopped",
    "completed": "completed",
}
_DOSE_REASON = {
    "missed": "not taken: no confirmation before the label's late window closed",
    "skipped": "not taken: the patient reported skipping the dose",
}


def _urn(kind: str, ident: object) -> str:
    return f"urn:uuid:{uuid.uuid5(_NS, f'{kind}:{ident}')}"


def _fhir_time(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def timing_repeat(regimen: Regimen, plan: Plan, phase_index: int) -> dict[str, Any]:
    """``Timing.repeat`` of one phase of the regimen, with the plan's times and start."""
    phase = regimen.phases[phase_index]
    times = plan_times(plan) or list(regimen.default_times)
    rep: dict[str, Any] = {"boundsPeriod": {"start": plan.start_date.isoformat()}}
    if phase.weekdays and regimen.weekdays:
        days = sorted(regimen.weekdays)  # the plan's own weekdays (options applied)
        rep.update(frequency=len(days), period=1, periodUnit="wk")
        rep["dayOfWeek"] = [_WEEKDAYS[d] for d in days]
    elif phase.every is None:
        rep.update(frequency=1, period=1, periodUnit="d", count=1)
    elif phase.every.months:
        rep.update(frequency=1, period=phase.every.months, periodUnit="mo")
    elif phase.every.days == 1:
        rep.update(frequency=max(1, regimen.times_per_day), period=1, periodUnit="d")
    elif phase.every.days % 7 == 0:
        rep.update(frequency=1, period=phase.every.days // 7, periodUnit="wk")
    else:
        rep.update(frequency=1, period=phase.every.days, periodUnit="d")
    if phase.count is not None and "count" not in rep:
        rep["count"] = phase.count * (regimen.times_per_day if phase.every and
                                      phase.every.days == 1 else 1)  # fmt: skip
    if regimen.kind != "infusion":
        rep["timeOfDay"] = [t.strftime("%H:%M:%S") for t in times]
    return rep


def _medication_request(plan: Plan, regimen: Regimen, patient_ref: str) -> dict[str, Any]:
    dosages = []
    for i, phase in enumerate(regimen.phases):
        dosages.append(
            {
                "sequence": i + 1,
                "text": phase.label or f"{phase.amount:g} {regimen.unit}",
                "timing": {"repeat": timing_repeat(regimen, plan, i)},
                "doseAndRate": [{"doseQuantity": {"value": phase.amount, "unit": regimen.unit}}],
            }
        )
    return {
        "resourceType": "MedicationRequest",
        "id": f"plan-{plan.id}",
        "identifier": [{"system": f"{SYSTEM}:plan", "value": str(plan.id)}],
        "status": _PLAN_STATUS.get(plan.status, "unknown"),
        "intent": "order",
        "medicationCodeableConcept": {"text": regimen.name},
        "subject": {"reference": patient_ref},
        "authoredOn": _fhir_time(plan.created_at),
        "dosageInstruction": dosages,
    }


def _administration(
    d: _DoseOut, regimen: Regimen, patient_ref: str, request_ref: str
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "MedicationAdministration",
        "id": f"dose-{d.id}",
        "identifier": [{"system": f"{SYSTEM}:dose", "value": str(d.id)}],
        "medicationCodeableConcept": {"text": regimen.name},
        "subject": {"reference": patient_ref},
        "request": {"reference": request_ref},
        "dosage": {"dose": {"value": d.amount, "unit": d.unit}},
    }
    if d.status == "taken":
        res["status"] = "completed"
        res["effectiveDateTime"] = _fhir_time(d.taken_at or d.due_at)
    else:
        res["status"] = "not-done"
        res["effectiveDateTime"] = _fhir_time(d.due_at)
        res["statusReason"] = [
            {
                "coding": [{"system": f"{SYSTEM}:dose-status", "code": d.status}],
                "text": _DOSE_REASON[d.status],
            }
        ]
    return res


def _flag(flag: Flag, patient_ref: str) -> dict[str, Any]:
    period: dict[str, str] = {"start": _fhir_time(flag.first_at)}
    if flag.resolved_at is not None:
        period["end"] = _fhir_time(flag.resolved_at)
    return {
        "resourceType": "Flag",
        "id": f"flag-{flag.id}",
        "identifier": [{"system": f"{SYSTEM}:flag", "value": str(flag.id)}],
        "status": "inactive" if flag.status == "resolved" else "active",
        "category": [{"text": flag.severity}],
        "code": {
            "coding": [{"system": f"{SYSTEM}:flag-rule", "code": flag.rule}],
            "text": flag.rule.replace("_", " "),
        },
        "subject": {"reference": patient_ref},
        "period": period,
    }


def _patient_resource(p: Patient) -> dict[str, Any]:
    ids = [{"system": f"{SYSTEM}:patient", "value": str(p.id)}]
    if p.external_id:
        ids.append({"system": f"{SYSTEM}:external-id", "value": p.external_id})
    return {
        "resourceType": "Patient",
        "id": f"patient-{p.id}",
        "identifier": ids,
        "active": p.active,
        "name": [{"text": p.name}],
    }


def validate_resource(resource: dict[str, Any]) -> None:
    """Raise if ``resource`` is not a valid FHIR R4B resource (fhir.resources)."""
    from fhir.resources.R4B import get_fhir_model_class

    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def _fhir(
    session: Session,
    team: CareTeam,
    start: date,
    end: date,
    patients: Iterator[_PatientData],
    catalog: Catalog,
    validate: bool,
) -> Iterator[bytes]:
    bundle_id = uuid.uuid5(_NS, f"export:{team.id}:{start}:{end}")
    yield (
        '{"resourceType": "Bundle", "id": "' + str(bundle_id) + '", "type": "collection", '
        '"entry": ['
    ).encode()
    first = True

    def entry(url: str, resource: dict[str, Any]) -> bytes:
        nonlocal first
        if validate:
            validate_resource(resource)
        text = json.dumps({"fullUrl": url, "resource": resource}, ensure_ascii=False)
        out = text if first else ", " + text
        first = False
        return out.encode()

    for data in patients:
        p = data.patient
        patient_ref = _urn("patient", p.id)
        chunk = [entry(patient_ref, _patient_resource(p))]
        regimens: dict[int, Regimen] = {}
        for plan in data.plans:
            regimen = regimens[plan.id or 0] = regimen_for(catalog, plan)
            chunk.append(
                entry(_urn("plan", plan.id), _medication_request(plan, regimen, patient_ref))
            )
        for d in data.doses:
            if d.status not in DOSE_FINAL:
                continue
            res = _administration(d, regimens[d.plan_id], patient_ref, _urn("plan", d.plan_id))
            chunk.append(entry(_urn("dose", d.id), res))
        yield b"".join(chunk)
    # Flags last, in batches: an old team's flags table may be large (resolved ones are kept).
    for flags in _by_id(session, Flag, Flag.team_id == team.id):
        yield b"".join(
            entry(_urn("flag", f.id), _flag(f, _urn("patient", f.patient_id))) for f in flags
        )
    yield b"]}\n"
