"""The export as a FHIR R4B Bundle (collection): per patient a Patient, a MedicationRequest
per plan, a MedicationAdministration per dose with a final status and a MedicationDispense
per pharmacy fill, the patient-reported answers (``fhir_selfcare``); the team's flags last."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_
from sqlmodel import Session, col

from adherence.care.exports.fhir_selfcare import selfcare_resources
from adherence.care.exports.read import DoseOut, PatientData, by_id
from adherence.dosing.plans import plan_times, regimen_for
from adherence.storage.models import DOSE_FINAL, CareTeam, Dispense, Flag, Patient, Plan
from schedules import Catalog, Regimen

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
    d: DoseOut, regimen: Regimen, patient_ref: str, request_ref: str
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "MedicationAdministration",
        "id": f"dose-{d.id}",
        "identifier": [{"system": f"{SYSTEM}:dose", "value": str(d.id)}],
        "medicationCodeableConcept": {"text": regimen.name},
        "subject": {"reference": patient_ref},
        "request": {"reference": request_ref},
        "dosage": {
            "dose": {"value": d.amount, "unit": d.unit},
            **({"site": {"text": d.site}} if d.site else {}),
        },
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


def _dispense(
    fill: Dispense, regimen: Regimen, patient_ref: str, request_ref: str
) -> dict[str, Any]:
    """A pharmacy fill: handed over on its local date, with its days supply (what a
    history import reads back as a fill of the same plan)."""
    res: dict[str, Any] = {
        "resourceType": "MedicationDispense",
        "id": f"fill-{fill.id}",
        "identifier": [{"system": f"{SYSTEM}:fill", "value": str(fill.id)}],
        "status": "completed",
        "medicationCodeableConcept": {"text": regimen.name},
        "subject": {"reference": patient_ref},
        "authorizingPrescription": [{"reference": request_ref}],
        "daysSupply": {
            "value": fill.days_supply,
            "unit": "days",
            "system": "http://unitsofmeasure.org",
            "code": "d",
        },
        "whenHandedOver": fill.dispensed_on.isoformat(),
    }
    if fill.quantity is not None:
        res["quantity"] = {"value": fill.quantity, "unit": "doses"}
    if fill.source:
        res["note"] = [{"text": f"source: {fill.source}"}]
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


def write_fhir(
    session: Session,
    team: CareTeam,
    start: date,
    end: date,
    patients: Iterator[PatientData],
    catalog: Catalog,
    validate: bool,
    patient_id: int | None = None,
) -> Iterator[bytes]:
    scope = f"export:{team.id}:{start}:{end}"
    if patient_id is not None:  # one patient's export is a bundle of its own
        scope += f":patient:{patient_id}"
    bundle_id = uuid.uuid5(_NS, scope)
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
        for fill in data.fills:
            res = _dispense(fill, regimens[fill.plan_id], patient_ref, _urn("plan", fill.plan_id))
            chunk.append(entry(_urn("fill", fill.id), res))
        # Check-in and triage answers: Observations and a QuestionnaireResponse each.
        chunk.extend(
            entry(url, res) for url, res in selfcare_resources(session, p, patient_ref, start, end)
        )
        yield b"".join(chunk)
    # Flags last, in batches: an old team's flags table may be large (resolved ones are kept).
    whose: Any = col(Flag.team_id) == team.id
    if patient_id is not None:
        whose = and_(whose, col(Flag.patient_id) == patient_id)
    for flags in by_id(session, Flag, whose):
        yield b"".join(
            entry(_urn("flag", f.id), _flag(f, _urn("patient", f.patient_id))) for f in flags
        )
    yield b"]}\n"
