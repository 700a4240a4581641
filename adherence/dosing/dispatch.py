"""The reminder step: act on every dose whose ``next_action_at`` has come.

For each due dose: the reminder at its time (a day ahead for appointments; label checks
have theirs in ``checks``), nudges while there is no answer (held back by quiet hours, never the
dose-time reminder itself), a snoozed reminder, and ``missed`` once the label's late
window closes, which hands over to the label rules. Rows are claimed with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL so two workers never act on the same dose.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from adherence.core.selfcare_config import MonitoringSettings
from adherence.dosing import codes, onetap
from adherence.dosing.checks import act_on_check
from adherence.dosing.materialize import materialize
from adherence.dosing.plans import regimen_for
from adherence.dosing.rules import DOSE_MISSED, after_missed, record
from adherence.dosing.sites import suggestion
from adherence.messaging.outbox import enqueue, flush_deferred
from adherence.storage.models import DOSE_OPEN, CareTeam, Dose, DoseStatus, Patient, Plan, RuleEvent
from notifiers import texts
from schedules import Catalog
from schedules.localtime import local_instant, parse_hhmm

log = logging.getLogger("adherence.dispatch")

SCHEDULE_CHANGES = ("titration_restart", "schedule_shift")


@dataclass(frozen=True)
class DispatchPolicy:
    nudges: int = 2
    nudge_every: timedelta = timedelta(minutes=60)
    # How far ahead a plan is rematerialised at once when a rule moved its schedule.
    horizon_days: int = 35
    # A one-tap Taken/Skip link in home-dose reminders and nudges (``[sms] confirm_links``),
    # at ``public_base_url``; a text with its link must fit ``max_length`` characters.
    confirm_links: bool = False
    public_base_url: str = ""
    max_length: int = 160
    # Label checks: their reminder days and time (``[monitoring]``).
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)


@dataclass
class DispatchResult:
    more: bool = False  # stopped at max_batches with due doses left
    acted: int = 0
    reminders: int = 0
    nudges: int = 0
    missed: int = 0
    events: list[RuleEvent] = field(default_factory=list)


def in_quiet_hours(patient: Patient, when: datetime) -> datetime | None:
    """If ``when`` falls in the patient's quiet hours, the instant they end; else None."""
    if not patient.quiet_start or not patient.quiet_end:
        return None
    zone = ZoneInfo(patient.tz)
    local = when.astimezone(zone)
    start, end = parse_hhmm(patient.quiet_start), parse_hhmm(patient.quiet_end)
    t = local.time()
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return None
    end_day = local.date() if t < end else local.date() + timedelta(days=1)
    return local_instant(end_day, end, zone)


def dose_text(
    dose: Dose,
    patient: Patient,
    team: CareTeam,
    brand: str,
    purpose: str,
    info: texts.DoseText | None = None,
) -> str:
    info = info or onetap.dose_info(dose, patient, team, brand)
    return texts.nudge(info) if purpose == "nudge" else texts.reminder(info)


def _linked_text(
    session: Session,
    dose: Dose,
    patient: Patient,
    team: CareTeam,
    brand: str,
    purpose: str,
    now: datetime,
    policy: DispatchPolicy,
    info: texts.DoseText | None = None,
) -> str | None:
    """The text with a new one-tap link for a home dose (its link stored hashed), or None
    when links are off, the dose is not a home dose, or no wording fits with the link."""
    if not policy.confirm_links or dose.kind != "dose" or not policy.public_base_url:
        return None
    token = onetap.new_link_token()
    body = texts.with_link(
        info or onetap.dose_info(dose, patient, team, brand),
        onetap.link_url(policy.public_base_url, token),
        nudge=purpose == "nudge",
        max_length=policy.max_length,
    )
    if body is None:
        log.info("reminder without its link (too long) dose=%s", dose.id)
        return None
    onetap.store(session, token=token, dose=dose, now=now)
    return body


def next_due(session: Session) -> datetime | None:
    return session.exec(select(func.min(Dose.next_action_at))).one()


def dispatch_due(
    session: Session,
    *,
    now: datetime,
    catalog: Catalog,
    policy: DispatchPolicy,
    batch: int = 500,
    max_batches: int | None = None,
) -> DispatchResult:
    """Act on due doses in batches until none is due (or ``max_batches`` were done, so a
    caller can send the first texts of a morning peak while the rest are prepared).
    Commits per batch. ``result.more`` says whether due doses were left.

    A label rule that moved a plan's schedule (a restart, a shift) has its plan
    rematerialised at once, before the next batch: the dose it put at this very minute
    (Mayzent's Day 1 at the time the miss was found) is reminded in this same call, and a
    dose it moved away is never reminded at its old time."""
    result = DispatchResult()
    batches = 0
    while True:
        if max_batches is not None and batches >= max_batches:
            result.more = True
            break
        rows = session.exec(
            select(Dose)
            .where(col(Dose.next_action_at) <= now)
            # The older dose first when two are due at once: its miss may change the other.
            .order_by(col(Dose.next_action_at), col(Dose.due_at), col(Dose.id))
            .limit(batch)
            .with_for_update(skip_locked=True)
        ).all()
        if not rows:
            break
        seen = len(result.events)
        batches += 1
        # One query each for the batch's plans, patients and teams (not three per dose).
        plans = {
            p.id: p
            for p in session.exec(select(Plan).where(col(Plan.id).in_({d.plan_id for d in rows})))
        }
        patients = {
            p.id: p
            for p in session.exec(
                select(Patient).where(col(Patient.id).in_({d.patient_id for d in rows}))
            )
        }
        teams = {
            t.id: t
            for t in session.exec(
                select(CareTeam).where(col(CareTeam.id).in_({p.team_id for p in patients.values()}))
            )
        }
        for dose in rows:
            patient = patients[dose.patient_id]
            ctx = (plans[dose.plan_id], patient, teams[patient.team_id])
            _act(session, dose, *ctx, now=now, catalog=catalog, policy=policy, result=result)
            result.acted += 1
        flush_deferred(session)
        session.commit()
        moved = sorted(
            {
                e.plan_id
                for e in result.events[seen:]
                if e.plan_id is not None and e.type in SCHEDULE_CHANGES
            }
        )
        if moved:
            materialize(
                session,
                now=now,
                catalog=catalog,
                horizon_days=policy.horizon_days,
                plan_ids=moved,
            )
            continue
        if len(rows) < batch:
            break
    return result


def _act(
    session: Session,
    dose: Dose,
    plan: Plan,
    patient: Patient,
    team: CareTeam,
    *,
    now: datetime,
    catalog: Catalog,
    policy: DispatchPolicy,
    result: DispatchResult,
) -> None:
    dose.updated_at = now
    if dose.status not in DOSE_OPEN or plan.status != "active" or not patient.active:
        dose.next_action_at = None
        return
    if dose.kind == "monitoring":
        # A lab or exam: its reminders (``checks``); recorded by the clinic, never "missed".
        result.reminders += act_on_check(
            session,
            dose,
            patient,
            team,
            now=now,
            settings=policy.monitoring,
            quiet_end=in_quiet_hours(patient, now),
        )
        return
    therapy = catalog.get(plan.regimen)
    brand = therapy.brands[0] if therapy.brands else therapy.name
    closes = dose.window_closes_at
    if now >= closes:
        if dose.status == "scheduled" and dose.kind == "dose" and patient.sms_status == "active":
            # Its time came and went while nothing ran (the daemon was down): a reminder
            # this late is worse than none, so it is recorded as not sent, never sent.
            enqueue(
                session,
                key=f"dose:{dose.id}:reminder:0",
                to=patient.phone,
                body="",
                purpose="reminder",
                now=now,
                valid_until=closes,
                patient_id=patient.id,
                dose_id=dose.id,
                defer=True,
                not_sent="window closed before it could be sent",
            )
            log.info("reminder not sent (window closed) dose=%s", dose.id)
        dose.status = DoseStatus.MISSED
        dose.next_action_at = None
        result.missed += 1
        log.info("dose missed dose=%s plan=%s", dose.id, plan.id)
        session.add(dose)
        session.flush()
        # In the transaction that marks the dose: the care step's missed-dose rule finds
        # newly missed doses by these events (not by what a process remembers seeing).
        record(
            session,
            plan=plan,
            type_=DOSE_MISSED,
            now=now,
            dose=dose,
            kind=dose.kind,
            due_at=dose.due_at.isoformat(),
        )
        result.events.extend(
            after_missed(
                session,
                plan=plan,
                patient=patient,
                dose=dose,
                regimen=regimen_for(catalog, plan),
                now=now,
            )
        )
        return
    can_text = patient.sms_status == "active"
    if dose.status == "scheduled":
        if dose.kind != "dose" and now < dose.due_at:
            # An appointment: the day-before reminder; then wait for the clinic.
            if can_text:
                _send(
                    session,
                    dose,
                    patient,
                    team,
                    brand,
                    "reminder",
                    now,
                    valid=dose.due_at,
                    policy=policy,
                )
                result.reminders += 1
            dose.next_action_at = closes
            return
        if dose.kind != "dose":
            dose.next_action_at = closes
            return
        if can_text:
            site = suggestion(session, catalog, dose)
            _send(
                session,
                dose,
                patient,
                team,
                brand,
                "reminder",
                now,
                valid=closes,
                policy=policy,
                site=(site.es if patient.language == "es" else site.en) if site else "",
            )
            result.reminders += 1
        dose.status = "reminded"
        dose.next_action_at = _next_nudge(dose, patient, now, policy)
        return
    # reminded: a snooze that has come, or a nudge
    if dose.snoozed_until is not None and now >= dose.snoozed_until:
        if can_text:
            _send(
                session,
                dose,
                patient,
                team,
                brand,
                "snooze",
                now,
                valid=closes,
                policy=policy,
                n=int(dose.snoozed_until.timestamp()),
            )
            result.reminders += 1
        dose.snoozed_until = None
        dose.next_action_at = _next_nudge(dose, patient, now, policy)
        return
    if dose.nudges_sent < policy.nudges:
        quiet_end = in_quiet_hours(patient, now)
        if quiet_end is not None:
            dose.next_action_at = min(quiet_end, closes)
            return
        if can_text:
            _send(
                session,
                dose,
                patient,
                team,
                brand,
                "nudge",
                now,
                valid=closes,
                policy=policy,
                n=dose.nudges_sent,
            )
            result.nudges += 1
        dose.nudges_sent += 1
    dose.next_action_at = _next_nudge(dose, patient, now, policy)


def _next_nudge(dose: Dose, patient: Patient, now: datetime, policy: DispatchPolicy) -> datetime:
    if dose.nudges_sent >= policy.nudges:
        return dose.window_closes_at
    return min(now + policy.nudge_every, dose.window_closes_at)


def _send(
    session: Session,
    dose: Dose,
    patient: Patient,
    team: CareTeam,
    brand: str,
    purpose: str,
    now: datetime,
    *,
    valid: datetime,
    policy: DispatchPolicy,
    n: int = 0,
    site: str = "",
) -> None:
    """Queue the text; ``site``: the injection site to suggest, added only where it fits
    ``policy.max_length`` (as the one-tap link's wording is chosen to fit)."""
    # With its reply code when a reply could mean another dose (``codes``).
    info = codes.labelled(session, onetap.dose_info(dose, patient, team, brand), dose, patient, now)
    body = _linked_text(session, dose, patient, team, brand, purpose, now, policy, info)
    body = body or dose_text(dose, patient, team, brand, purpose, info)
    if site:
        body = texts.with_site(body, site, patient.language, max_length=policy.max_length)
    enqueue(
        session,
        key=f"dose:{dose.id}:{purpose}:{n}",
        to=patient.phone,
        body=body,
        purpose=purpose,
        now=now,
        valid_until=valid,
        patient_id=patient.id,
        dose_id=dose.id,
        defer=True,
    )
    log.info("%s queued dose=%s patient=%s", purpose, dose.id, patient.id)
