"""The rules that raise care-team flags (``evaluate``), from what the engine recorded.

Each raise names an *occurrence* (a run of missed doses, an overdue infusion, a rule event,
a silent spell): the same occurrence seen again only refreshes the flag's details, a new one
while the flag is open adds to ``occurrences``, and an occurrence whose flag was resolved is
never raised again.

Nothing a rule needs from one tick to the next is kept in memory, so a restart or a second
daemon sees the same state: newly missed doses are ``dose_missed`` rule events (written by
dispatch, consumed through ``notified`` in the commit that raises the flag, like the label
rules' events), the texting status is read from the patients and their flags, and each
plan's ``pdc_checked_on`` says the day its PDC was last measured.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_
from sqlmodel import Session, col, select

from adherence.care.flags.marks import changed_plans, move_mark, read_mark
from adherence.care.flags.monitoring import monitoring_overdue_rule, resolve_recorded
from adherence.care.flags.pdc import pdc_rule
from adherence.care.flags.store import raise_flag
from adherence.core.config import Settings
from adherence.dosing.rules import DOSE_MISSED
from adherence.storage.models import (
    DOSE_OPEN,
    Dose,
    DoseStatus,
    Flag,
    InboundMessage,
    OutboxMessage,
    Patient,
    Plan,
    RuleEvent,
)
from adherence.storage.public import FLAG_TITLES
from adherence.storage.utc import from_storage
from schedules import Catalog

# rule -> what a coordinator reads (the titles live with the public flag model).
RULES = FLAG_TITLES
# A flare needs a call today; a repeat first-dose observation must be arranged before the
# next dose (usually the next day), so waiting for tomorrow's digest would be too late.
URGENT_RULES = frozenset({"flare_reported", "repeat_first_dose_observation"})
# RuleEvent types turned into flags (consumed once: ``notified`` is set in the same commit).
EVENT_RULES = {
    "titration_restart": "titration_restart",
    "repeat_first_dose_observation": "repeat_first_dose_observation",
    "opted_out": "opted_out",
    "flare_reported": "flare_reported",
}


def _resolved_has(session: Session, *, scope: tuple[str, int], rule: str, occurrence: str) -> bool:
    column = Flag.plan_id if scope[0] == "plan" else Flag.patient_id
    rows = session.exec(
        select(Flag.details_json).where(
            column == scope[1], Flag.rule == rule, Flag.status == "resolved"
        )
    ).all()
    return any(json.loads(raw).get("occurrence") == occurrence for raw in rows)


def missed_threshold(kind: str, settings: Settings) -> int:
    care = settings.care
    if kind == "oral":
        return care.missed_in_a_row_oral
    if kind == "relapse":
        return care.missed_in_a_row_relapse
    return care.missed_in_a_row_injectable  # injectable; infusion plans' own "dose" items


def _therapy_kind(catalog: Catalog, regimen: str) -> str:
    try:
        return catalog.get(regimen).kind
    except Exception:  # a regimen removed from the catalog: treat it as the strictest
        return "injectable"


def _active(session: Session, plan_ids: set[int]) -> list[tuple[Plan, Patient]]:
    if not plan_ids:
        return []
    rows = session.exec(
        select(Plan, Patient)
        .join(Patient, col(Patient.id) == Plan.patient_id)
        .where(col(Plan.id).in_(plan_ids), Plan.status == "active", Patient.active)
    ).all()
    return [(plan, patient) for plan, patient in rows]


def check_missed_run(
    session: Session, plan: Plan, patient: Patient, *, now: datetime, threshold: int
) -> Flag | None:
    """N missed doses in a row, counted back from now; a taken dose ends the run, a skipped
    or cancelled one neither counts nor ends it."""
    last_taken = session.exec(
        select(Dose.id, Dose.due_at)
        .where(
            Dose.plan_id == plan.id,
            Dose.kind == "dose",
            Dose.status == "taken",
            Dose.due_at <= now,
        )
        .order_by(col(Dose.due_at).desc())
        .limit(1)
    ).first()
    query = select(func.count(), func.min(Dose.due_at), func.max(Dose.due_at)).where(
        Dose.plan_id == plan.id, Dose.kind == "dose", Dose.status == "missed", Dose.due_at <= now
    )
    if last_taken is not None:
        query = query.where(Dose.due_at > last_taken[1])
    count, first_due, last_due = session.exec(query).one()
    if count < threshold:
        return None
    # The run is named by the taken dose before it: stable while the run grows.
    occurrence = f"after:{last_taken[0] if last_taken else 'start'}"
    assert plan.id is not None and patient.id is not None
    if _resolved_has(session, scope=("plan", plan.id), rule="missed_doses", occurrence=occurrence):
        return None
    return raise_flag(
        session,
        team_id=patient.team_id,
        patient_id=patient.id,
        plan_id=plan.id,
        rule="missed_doses",
        now=now,
        details={
            "missed_in_a_row": count,
            "threshold": threshold,
            "first_missed_at": first_due,
            "last_missed_at": last_due,
        },
        occurrence=occurrence,
    )


def missed_doses_rule(
    session: Session,
    *,
    now: datetime,
    catalog: Catalog,
    settings: Settings,
    full: bool,
) -> list[Flag]:
    """Plans with a newly missed dose, then each plan's trailing run.

    Newly missed: the ``dose_missed`` events dispatch wrote when it marked the doses, each
    consumed once (``notified`` is set in the commit that raises the flag; rows another
    worker is consuming are skipped). Full ticks also look at every plan with a dose missed
    within [care] pdc_days, whatever its events say: a threshold lowered in the config, or
    misses recorded before there were such events. That look reads only the doses changed
    since the last full tick (the ``missed_doses`` watermark): the whole window once, then
    again only when the thresholds change."""
    events = session.exec(
        select(RuleEvent)
        .where(RuleEvent.type == DOSE_MISSED, col(RuleEvent.notified).is_(False))
        .order_by(col(RuleEvent.id))
        .with_for_update(skip_locked=True)
    ).all()
    plan_ids: set[int] = set()
    for event in events:
        event.notified = True
        session.add(event)
        # Only doses count towards a run (an infusion has its own rule).
        if event.plan_id is not None and event.details.get("kind") == "dose":
            plan_ids.add(event.plan_id)
    if full:
        plan_ids.update(_missed_since_mark(session, now=now, settings=settings))
    flags = []
    for plan, patient in _active(session, plan_ids):
        threshold = missed_threshold(_therapy_kind(catalog, plan.regimen), settings)
        flag = check_missed_run(session, plan, patient, now=now, threshold=threshold)
        if flag is not None:
            flags.append(flag)
    return flags


MISSED_MARK = "missed_doses"


def _missed_since_mark(session: Session, *, now: datetime, settings: Settings) -> set[int]:
    care = settings.care
    basis = (
        f"oral={care.missed_in_a_row_oral} injectable={care.missed_in_a_row_injectable} "
        f"relapse={care.missed_in_a_row_relapse} days={care.pdc_days}"
    )
    mark = read_mark(session, MISSED_MARK, basis=basis)
    if mark is not None:
        found = changed_plans(session, mark, missed_only=True)
    else:
        since = now - timedelta(days=care.pdc_days)
        found = set(
            session.exec(
                select(Dose.plan_id).where(
                    Dose.status == "missed", Dose.kind == "dose", Dose.due_at >= since
                )
            ).all()
        )
    move_mark(session, MISSED_MARK, basis=basis, now=now)
    return found


def infusion_rule(session: Session, *, now: datetime) -> list[Flag]:
    """An infusion still open, or missed, after the last day of its window."""
    rows = session.exec(
        select(Dose, Plan, Patient)
        .join(Plan, col(Plan.id) == Dose.plan_id)
        .join(Patient, col(Patient.id) == Dose.patient_id)
        .where(
            Dose.kind == "infusion",
            col(Dose.status).in_((*DOSE_OPEN, DoseStatus.MISSED)),
            col(Dose.latest).is_not(None),
            col(Dose.latest) < now.date() + timedelta(days=1),
            Plan.status == "active",
            Patient.active,
        )
    ).all()
    flags = []
    for dose, plan, patient in rows:
        assert dose.latest is not None and plan.id is not None and patient.id is not None
        today = now.astimezone(ZoneInfo(patient.tz)).date()
        if dose.latest >= today:
            continue
        occurrence = f"dose:{dose.id}"
        if _resolved_has(
            session, scope=("plan", plan.id), rule="infusion_overdue", occurrence=occurrence
        ):
            continue
        flags.append(
            raise_flag(
                session,
                team_id=patient.team_id,
                patient_id=patient.id,
                plan_id=plan.id,
                rule="infusion_overdue",
                now=now,
                details={
                    "dose_id": dose.id,
                    "due": dose.local_date,
                    "latest": dose.latest,
                    "days_late": (today - dose.latest).days,
                    "dose_status": dose.status,
                },
                occurrence=occurrence,
            )
        )
    return flags


def event_rules(session: Session, *, now: datetime) -> list[Flag]:
    """Rule events the engine recorded (restarts, observations, STOP, flares), each once."""
    rows = session.exec(
        select(RuleEvent, Patient)
        .join(Patient, col(Patient.id) == RuleEvent.patient_id)
        .where(col(RuleEvent.notified).is_(False), col(RuleEvent.type).in_(list(EVENT_RULES)))
        .order_by(col(RuleEvent.id))
        .with_for_update(skip_locked=True, of=RuleEvent)
    ).all()
    flags = []
    for event, patient in rows:
        rule = EVENT_RULES[event.type]
        event.notified = True
        session.add(event)
        assert patient.id is not None
        patient_level = rule in ("opted_out", "flare_reported")
        details: dict[str, Any] = {"event_id": event.id, "at": event.at}
        for key in ("missed", "new_start", "interruption_days", "first_missed_day"):
            if key in event.details:
                details[key] = event.details[key]
        flags.append(
            raise_flag(
                session,
                team_id=patient.team_id,
                patient_id=patient.id,
                plan_id=event.plan_id,
                rule=rule,
                now=now,
                severity="urgent" if rule in URGENT_RULES else "normal",
                details=details,
                occurrence=f"event:{event.id}",
                patient_scope=patient_level,
            )
        )
    return flags


def sms_status_rule(session: Session, *, now: datetime) -> list[Flag]:
    """A patient who cannot be texted (opted out, phone undeliverable). Raised once per spell:
    after a resolution it comes back only if a text got through in between.

    Read from the rows alone, in one statement on every tick: the patients in such a status
    with no flag of that rule that still stands (one not resolved, or resolved with no text
    through since its last occurrence). The status is the fact, whoever changed it (a STOP,
    the carrier, a status callback, an edit), so nothing has to remember a change."""
    texted_since = (
        select(OutboxMessage.id)
        .where(
            # The flag's own columns: a subquery correlates with the one just around it.
            OutboxMessage.patient_id == Flag.patient_id,
            OutboxMessage.channel == "sms",
            col(OutboxMessage.sent_at).is_not(None),
            col(OutboxMessage.sent_at) > Flag.last_at,
        )
        .exists()
    )
    standing = (
        select(Flag.id)
        .where(
            Flag.patient_id == Patient.id,
            Flag.rule == Patient.sms_status,
            or_(col(Flag.status) != "resolved", ~texted_since),
        )
        .exists()
    )
    patients = session.exec(
        select(Patient)
        .where(
            col(Patient.sms_status).in_(("opted_out", "undeliverable")),
            Patient.active,
            ~standing,
        )
        .order_by(col(Patient.id))
    ).all()
    flags = []
    for patient in patients:
        assert patient.id is not None
        rule = patient.sms_status
        flags.append(
            raise_flag(
                session,
                team_id=patient.team_id,
                patient_id=patient.id,
                plan_id=None,
                rule=rule,
                now=now,
                details={"sms_status": rule},
                occurrence=f"status:{now.isoformat()}",
            )
        )
    return flags


def silence_rule(session: Session, *, now: datetime, settings: Settings) -> list[Flag]:
    """Texts went out for [care] silence_days and the patient answered none of them (the
    first unanswered text is that old, and one was sent within the period)."""
    cut = now - timedelta(days=settings.care.silence_days)
    answers = (
        select(
            col(InboundMessage.patient_id).label("pid"),
            func.max(InboundMessage.received_at).label("last"),
        )
        .where(col(InboundMessage.patient_id).is_not(None))
        .group_by(col(InboundMessage.patient_id))
        .subquery()
    )
    rows = session.exec(
        select(
            OutboxMessage.patient_id,
            func.min(OutboxMessage.sent_at),
            func.count(),
            answers.c.last,
        )
        .join(answers, answers.c.pid == OutboxMessage.patient_id, isouter=True)
        .where(
            col(OutboxMessage.patient_id).is_not(None),
            OutboxMessage.channel == "sms",
            col(OutboxMessage.sent_at).is_not(None),
            or_(answers.c.last.is_(None), and_(col(OutboxMessage.sent_at) > answers.c.last)),
        )
        .group_by(col(OutboxMessage.patient_id), answers.c.last)
        .having(func.min(OutboxMessage.sent_at) <= cut, func.max(OutboxMessage.sent_at) >= cut)
    ).all()
    flags = []
    for patient_id, first_unanswered, texts, last_answer in rows:
        assert patient_id is not None  # the query keeps texts sent to a patient only
        patient = session.get(Patient, patient_id)
        if patient is None or not patient.active or patient.sms_status != "active":
            continue
        occurrence = f"since:{last_answer.isoformat() if last_answer else 'never'}"
        scope = ("patient", patient_id)
        if _resolved_has(session, scope=scope, rule="silence", occurrence=occurrence):
            continue
        first = from_storage(first_unanswered) or now  # an aggregate: raw from the driver
        flags.append(
            raise_flag(
                session,
                team_id=patient.team_id,
                patient_id=patient_id,
                plan_id=None,
                rule="silence",
                now=now,
                details={
                    "unanswered_texts": texts,
                    "first_unanswered_at": first,
                    "last_answer_at": last_answer,
                    "days": (now - first).days,
                },
                occurrence=occurrence,
            )
        )
    return flags


def evaluate(
    session: Session,
    *,
    now: datetime,
    catalog: Catalog,
    settings: Settings,
    full: bool,
) -> list[Flag]:
    """Run the rules (the slow ones on full ticks only). The caller commits: the flags, the
    events they consumed and the plans' PDC check days together."""
    flags = event_rules(session, now=now)
    flags += missed_doses_rule(session, now=now, catalog=catalog, settings=settings, full=full)
    flags += sms_status_rule(session, now=now)
    resolve_recorded(session, now=now)  # a check recorded since: its flag resolves now
    if full:
        flags += infusion_rule(session, now=now)
        flags += monitoring_overdue_rule(session, now=now, settings=settings.monitoring)
        flags += silence_rule(session, now=now, settings=settings)
        flags += pdc_rule(session, now=now, catalog=catalog, settings=settings)
    return flags
