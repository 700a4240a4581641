"""What the patient page shows of one patient, read in a fixed, small number of queries
(one per table, never one per dose): plans, the calendar month's doses, the recent dose
timeline with its corrections, messages both ways, flags, calls and
each plan's home supply.

Message bodies are read because the care team reads them on this page; nothing here logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from adherence.care.chart.calendar import DoseDay, Month, PlanSpan, month_bounds, month_grid
from adherence.core.config import Settings
from adherence.storage.models import (
    FLAG_OPEN,
    Dose,
    DoseChange,
    Flag,
    InboundMessage,
    OutboxMessage,
    Patient,
    Plan,
    PlanStatus,
)
from adherence.storage.workspace import CallResult
from adherence.supply.onhand import Supply, supply_of
from schedules import Catalog

PAST_DAYS = 30  # the dose timeline: the last 30 days ...
AHEAD_DAYS = 7  # ... and the next 7
TIMELINE_LIMIT = 200  # rows at most (four doses a day for 37 days fit)
MESSAGE_LIMIT = 50  # newest texts each way
CALL_LIMIT = 50
SUPPLY_KINDS = ("oral", "injectable")  # home supply; infusions are given at the clinic


@dataclass(frozen=True)
class PlanLine:
    plan: Plan
    therapy: str  # the catalog's name and brands: the care team's own view
    kind: str
    phase: str  # of the plan's latest dose due by now (or its next one)
    supply: Supply | None


@dataclass(frozen=True)
class TimelineDose:
    dose: Dose
    therapy: str
    changes: list[DoseChange]
    site: str = ""  # the injection site's name ("left thigh"), "" when the reply named none


@dataclass(frozen=True)
class Message:
    """A text either way, for one list newest first."""

    at: datetime
    direction: str  # "sent" | "received"
    kind: str  # purpose (sent) or intent (received)
    status: str
    body: str


@dataclass
class Chart:
    patient: Patient
    zone: ZoneInfo
    today: date
    plans: list[PlanLine]
    month: Month
    doses: list[TimelineDose]
    messages: list[Message]
    flags: list[Flag]
    calls: list[CallResult]
    therapy_of: dict[int, str] = field(default_factory=dict)


def _therapy(catalog: Catalog, code: str) -> tuple[str, str]:
    try:
        t = catalog.get(code)
    except LookupError:
        return code, ""
    return t.display, t.kind


def _site_name(catalog: Catalog, code: str, site: str | None) -> str:
    """The English name of a recorded site for the care team; the code if unlisted."""
    if not site:
        return ""
    try:
        rotation = catalog.get(code).sites
    except LookupError:
        return site
    listed = rotation.site(site) if rotation else None
    return listed.en if listed else site


def _instant(zone: ZoneInfo, day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def read_chart(
    s: Session,
    patient: Patient,
    *,
    now: datetime,
    month: date | None,
    catalog: Catalog,
    settings: Settings,
) -> Chart:
    """Everything the page shows of ``patient`` as of ``now``; ``month`` (its 1st) is the
    calendar month, by default the current one in the patient's zone."""
    zone = ZoneInfo(patient.tz)
    today = now.astimezone(zone).date()
    pid = patient.id
    plans = list(s.exec(select(Plan).where(Plan.patient_id == pid).order_by(col(Plan.id))))
    names = {p.id or 0: _therapy(catalog, p.regimen) for p in plans}

    first, last = month_bounds(month or today)
    # By due time (the patient/due_at index), a day either side for the zone; then by date.
    month_rows = s.exec(
        select(col(Dose.local_date), col(Dose.due_at), col(Dose.status), col(Dose.late)).where(
            Dose.patient_id == pid,
            Dose.kind != "monitoring",  # labs are not adherence
            col(Dose.due_at) >= _instant(zone, first - timedelta(days=1)),
            col(Dose.due_at) < _instant(zone, last + timedelta(days=2)),
        )
    ).all()
    spans = [
        PlanSpan(start=p.start_date, enrolled=p.created_at.astimezone(zone).date()) for p in plans
    ]
    grid = month_grid([DoseDay(*r) for r in month_rows], month=first, now=now, spans=spans)

    recent = list(
        s.exec(
            select(Dose)
            .where(
                Dose.patient_id == pid,
                col(Dose.due_at) >= now - timedelta(days=PAST_DAYS),
                col(Dose.due_at) < now + timedelta(days=AHEAD_DAYS),
            )
            .order_by(col(Dose.due_at).desc(), col(Dose.id).desc())
            .limit(TIMELINE_LIMIT)
        )
    )
    changes: dict[int, list[DoseChange]] = {}
    if recent:
        for c in s.exec(
            select(DoseChange)
            .where(col(DoseChange.dose_id).in_([d.id for d in recent]))
            .order_by(col(DoseChange.changed_at), col(DoseChange.id))
        ):
            changes.setdefault(c.dose_id, []).append(c)
    regimens = {p.id: p.regimen for p in plans}
    timeline = [
        TimelineDose(
            d,
            names.get(d.plan_id, ("", ""))[0],
            changes.get(d.id or 0, []),
            _site_name(catalog, regimens.get(d.plan_id, ""), d.site),
        )
        for d in recent
    ]
    phase: dict[int, str] = {}
    for d in reversed(recent):  # oldest first: the last one due by now wins
        if d.due_at <= now or d.plan_id not in phase:
            phase[d.plan_id] = d.phase

    lines = []
    for p in plans:
        therapy, kind = names[p.id or 0]
        supply = None
        if kind in SUPPLY_KINDS and p.status in (PlanStatus.ACTIVE, PlanStatus.PAUSED):
            supply = supply_of(
                s, catalog=catalog, plan=p, patient=patient, now=now, settings=settings.supply
            )
        lines.append(PlanLine(p, therapy, kind, phase.get(p.id or 0, ""), supply))

    sent = s.exec(
        select(OutboxMessage)
        .where(OutboxMessage.patient_id == pid)
        .order_by(col(OutboxMessage.created_at).desc(), col(OutboxMessage.id).desc())
        .limit(MESSAGE_LIMIT)
    ).all()
    received = s.exec(
        select(InboundMessage)
        .where(InboundMessage.patient_id == pid)
        .order_by(col(InboundMessage.received_at).desc(), col(InboundMessage.id).desc())
        .limit(MESSAGE_LIMIT)
    ).all()
    messages = [
        Message(m.sent_at or m.created_at, "sent", m.purpose, m.status, m.body) for m in sent
    ] + [Message(m.received_at, "received", m.intent, "", m.body) for m in received]
    messages.sort(key=lambda m: m.at, reverse=True)

    flags = list(s.exec(select(Flag).where(Flag.patient_id == pid)))
    # Open (and acknowledged) first, then newest.
    flags.sort(key=lambda f: (f.status not in FLAG_OPEN, -f.last_at.timestamp()))
    calls = list(
        s.exec(
            select(CallResult)
            .where(CallResult.patient_id == pid)
            .order_by(col(CallResult.at).desc(), col(CallResult.id).desc())
            .limit(CALL_LIMIT)
        )
    )
    return Chart(
        patient=patient,
        zone=zone,
        today=today,
        plans=lines,
        month=grid,
        doses=timeline,
        messages=messages,
        flags=flags,
        calls=calls,
        therapy_of={k: v[0] for k, v in names.items()},
    )
