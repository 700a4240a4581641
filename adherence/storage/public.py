"""The public shape of each entity: one model per entity, used by the coordinator API (its
responses and /openapi.json) and by the CLI's ``--json``. Exports keep their own documented
schema (docs/measures.md).

Instants are given in the patient's zone (``zone``) where a patient is concerned, else in
UTC. Empty text stays ``""`` (as the API has always answered); a missing value is ``null``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, PlainSerializer

from adherence.storage.models import CareTeam, Dose, Flag, Patient, Plan

# What a coordinator reads for each flag rule. No drug names: a rule is about the pattern.
FLAG_TITLES: dict[str, str] = {
    "missed_doses": "consecutive doses missed",
    "low_pdc": "proportion of days covered below threshold",
    "infusion_overdue": "infusion not given inside its window",
    "titration_restart": "titration restarted at Day 1",
    "repeat_first_dose_observation": "repeat first-dose observation required",
    "opted_out": "patient opted out of texts",
    "undeliverable": "patient's phone is undeliverable",
    "silence": "no answer to texts",
    "flare_reported": "patient reported a flare",
    "refill_overdue": "home supply ran out and no refill was dispensed",
    "symptom_worse": "check-in answer over the threshold or sharply worse",
    "monitoring_overdue": "label check not recorded done inside its window",
    "visit_overdue": "clinic visit (neurology, MRI) not attended inside its window",
}


# Instants as Python writes them ("+00:00", not pydantic's "Z"): the same text in the API, the
# CLI's --json and the exports.
Instant = Annotated[datetime, PlainSerializer(datetime.isoformat, when_used="json")]


def _in(zone: ZoneInfo, value: datetime | None) -> datetime | None:
    return value.astimezone(zone) if value is not None else None


class TeamPublic(BaseModel):
    id: int
    name: str
    tz: str
    phone: str
    email: str

    @classmethod
    def of(cls, team: CareTeam) -> TeamPublic:
        return cls(id=team.id or 0, name=team.name, tz=team.tz, phone=team.phone, email=team.email)


class CaregiverPublic(BaseModel):
    name: str
    phone: str
    email: str
    consent_at: Instant | None


class PatientPublic(BaseModel):
    id: int
    team_id: int
    name: str
    external_id: str | None
    phone: str
    email: str
    tz: str
    language: str
    discreet: bool
    quiet_hours: str | None = Field(description='"HH:MM-HH:MM" in the patient\'s zone, or null.')
    invites: bool
    caregiver: CaregiverPublic
    sms_status: str
    active: bool

    @classmethod
    def of(cls, p: Patient) -> PatientPublic:
        return cls(
            id=p.id or 0,
            team_id=p.team_id,
            name=p.name,
            external_id=p.external_id,
            phone=p.phone,
            email=p.email,
            tz=p.tz,
            language=p.language,
            discreet=p.discreet,
            quiet_hours=f"{p.quiet_start}-{p.quiet_end}" if p.quiet_start else None,
            invites=p.invites,
            caregiver=CaregiverPublic(
                name=p.caregiver_name,
                phone=p.caregiver_phone,
                email=p.caregiver_email,
                consent_at=p.caregiver_consent_at,
            ),
            sms_status=p.sms_status,
            active=p.active,
        )


class PatientPage(BaseModel):
    items: list[PatientPublic]
    total: int
    limit: int
    offset: int


class PlanPublic(BaseModel):
    id: int
    patient_id: int
    regimen: str
    options: dict[str, str]
    start: date
    times: list[str]
    status: str
    epoch: int
    epoch_start: date
    stop_reason: str

    @classmethod
    def of(cls, plan: Plan) -> PlanPublic:
        return cls(
            id=plan.id or 0,
            patient_id=plan.patient_id,
            regimen=plan.regimen,
            options=plan.options,
            start=plan.start_date,
            times=plan.times,
            status=plan.status,
            epoch=plan.epoch,
            epoch_start=plan.epoch_start,
            stop_reason=plan.stop_reason,
        )


class DosePublic(BaseModel):
    id: int
    plan_id: int
    due_at: Instant = Field(description="In the patient's zone.")
    local_date: date
    local_time: str
    day: int
    amount: float
    unit: str
    kind: str
    phase: str
    label: str
    status: str
    late: bool
    taken_at: Instant | None
    confirmed_via: str | None = Field(
        description="sms, clinic, phone, import (history import) or enrolment (--last-dose)."
    )
    window_closes_at: Instant
    earliest: date | None = Field(description="Start of the label's window, if it has one.")
    latest: date | None = Field(description="End of the label's window, if it has one.")
    source: str = Field(default="", description="Where an imported record came from.")
    note: str = Field(default="", description="A note kept with an imported or entered record.")

    @classmethod
    def of(cls, d: Dose, zone: ZoneInfo) -> DosePublic:
        return cls(
            id=d.id or 0,
            plan_id=d.plan_id,
            due_at=d.due_at.astimezone(zone),
            local_date=d.local_date,
            local_time=d.local_time,
            day=d.day,
            amount=d.amount,
            unit=d.unit,
            kind=d.kind,
            phase=d.phase,
            label=d.label,
            status=d.status,
            late=d.late,
            taken_at=_in(zone, d.taken_at),
            confirmed_via=d.confirmed_via or None,
            window_closes_at=d.window_closes_at.astimezone(zone),
            earliest=d.earliest,
            latest=d.latest,
            source=d.source,
            note=d.note,
        )


class FlagPublic(BaseModel):
    id: int
    team_id: int
    patient_id: int
    plan_id: int | None
    rule: str
    title: str = Field(description="What the rule means, for a coordinator.")
    severity: str
    status: str
    occurrences: int
    first_at: Instant
    last_at: Instant
    details: dict[str, Any]
    notified_at: Instant | None
    acknowledged_by: str
    acknowledged_at: Instant | None
    resolved_by: str
    resolved_at: Instant | None
    note: str

    @classmethod
    def of(cls, f: Flag) -> FlagPublic:
        return cls(
            id=f.id or 0,
            team_id=f.team_id,
            patient_id=f.patient_id,
            plan_id=f.plan_id,
            rule=f.rule,
            title=FLAG_TITLES.get(f.rule, f.rule),
            severity=f.severity,
            status=f.status,
            occurrences=f.occurrences,
            first_at=f.first_at,
            last_at=f.last_at,
            details=f.details,
            notified_at=f.notified_at,
            acknowledged_by=f.acknowledged_by,
            acknowledged_at=f.acknowledged_at,
            resolved_by=f.resolved_by,
            resolved_at=f.resolved_at,
            note=f.note,
        )


def as_json(model: BaseModel) -> dict[str, Any]:
    """The model as the API's JSON would carry it (ISO dates and instants)."""
    return model.model_dump(mode="json")


def dose_json(d: Dose, zone: ZoneInfo) -> dict[str, Any]:
    """A dose for the CLI's ``--json``: the public model, plus ``at`` (the old name of
    ``due_at``), kept for one release."""
    out = as_json(DosePublic.of(d, zone))
    out["at"] = out["due_at"]
    return out
