"""Label rules acting on what really happened: each returns the events it recorded.

* shift_from_taken — later doses counted from the dose actually taken (Betaseron,
  Kesimpta, Plegridy's 7-day rule, Ocrevus/Briumvi, cladribine's extra cycle day, ...);
* restart_titration — back to Day 1 (Ponvory >= 4 consecutive missed, Mayzent's rules,
  Zeposia in the first two weeks);
* shift_titration — below a restart threshold of several consecutive misses (Ponvory's
  "fewer than 4"), the titration resumes with the first missed dose on the next dose day;
* repeat_first_dose_monitoring — Gilenya's interruption thresholds;
* stop_at_cap — mitoxantrone's lifetime cap ends the plan.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, col, select

from adherence.dosing.plans import expected_items, plan_times
from adherence.storage.models import DOSE_OPEN, Dose, DoseStatus, Patient, Plan, RuleEvent
from schedules import Catalog, Item, Regimen

# Not a label rule: the engine's record that a dose became missed, written by dispatch in
# the transaction that marks it, for the care step's missed-dose rule to consume (through
# ``notified``). The simulation's timeline, which shows the label rules that fired, leaves
# it out (the dose's status change is already there).
DOSE_MISSED = "dose_missed"


# ``Rule.params`` holds the catalog's values as written (``dict[str, object]``); the
# catalog schema checked their types, these helpers narrow them for the type checker.
def _rebase(session: Session, plan: Plan, occasion: int, day: date, now: datetime) -> None:
    """Occasion ``occasion`` happens (or happened) on ``day``; later ones follow it."""
    rebases = plan.rebases
    rebases[occasion] = day
    plan.set_rebases(rebases)
    plan.updated_at = now
    session.add(plan)


def record(
    session: Session,
    *,
    plan: Plan,
    type_: str,
    now: datetime,
    dose: Dose | None = None,
    **details: Any,
) -> RuleEvent:
    event = RuleEvent(
        plan_id=plan.id,
        patient_id=plan.patient_id,
        dose_id=dose.id if dose else None,
        type=type_,
        at=now,
        details_json=json.dumps(details, default=str, sort_keys=True),
    )
    session.add(event)
    return event


def _trailing_missed(session: Session, plan: Plan, dose: Dose) -> list[Dose]:
    """The run of consecutive missed doses (this epoch) that ends with ``dose``."""
    rows = session.exec(
        select(Dose)
        .where(
            Dose.plan_id == plan.id,
            Dose.epoch == plan.epoch,
            Dose.kind != "monitoring",
            Dose.due_at <= dose.due_at,
        )
        .order_by(col(Dose.due_at).desc())
        .limit(400)
    ).all()
    run: list[Dose] = []
    for row in rows:
        if row.status in (DoseStatus.MISSED, DoseStatus.CANCELLED):
            if row.status == DoseStatus.MISSED:
                run.append(row)
            continue
        break
    return run


def after_missed(
    session: Session, *, plan: Plan, patient: Patient, dose: Dose, regimen: Regimen, now: datetime
) -> list[RuleEvent]:
    events: list[RuleEvent] = []
    if dose.kind == "monitoring" or plan.status != "active" or dose.epoch != plan.epoch:
        return events
    run = _trailing_missed(session, plan, dose)
    missed_days = len({d.local_date for d in run})
    first = run[-1] if run else dose
    for rule in regimen.rules:
        p = rule.params
        if rule.type == "restart_titration":
            phases = rule.listed("phases")
            if phases and dose.phase not in phases:
                continue
            if "within_days" in p and dose.day > int(rule.number("within_days")):
                continue
            hit = False
            if "consecutive_missed" in p and len(run) >= int(rule.number("consecutive_missed")):
                hit = True
            if "consecutive_missed_days" in p and missed_days >= int(
                rule.number("consecutive_missed_days")
            ):
                hit = True
            if (
                "missed_hours_over" in p
                and "consecutive_missed" not in p
                and ("consecutive_missed_days" not in p)
            ):
                late = (dose.window_closes_at - dose.due_at).total_seconds() / 3600
                hit = late >= rule.number("missed_hours_over")
            if hit:
                events.append(
                    restart_titration(
                        session,
                        plan=plan,
                        patient=patient,
                        regimen=regimen,
                        now=now,
                        dose=dose,
                        reason=rule.text,
                        missed=len(run),
                    )
                )
                return events  # a restart supersedes the rest of this epoch
            if int(rule.number("consecutive_missed", 1)) > 1 and dose.phase == TITRATION:
                # Below the threshold the label says "resume where left off": the missed
                # titration step is offered again on the next dose day and the rest follows.
                events.append(
                    shift_titration(
                        session,
                        plan=plan,
                        patient=patient,
                        regimen=regimen,
                        now=now,
                        dose=dose,
                        missed=len(run),
                        threshold=int(rule.number("consecutive_missed")),
                    )
                )
        elif rule.type == "repeat_first_dose_monitoring":
            for period in rule.listed("periods"):
                lo, hi = period.get("from_day", 1), period.get("to_day")
                if first.day < lo or (hi is not None and first.day > hi):
                    continue
                need_at_least = period.get("interruption_days_at_least")
                need_over = period.get("interruption_days_over")
                due = (need_at_least is not None and missed_days >= need_at_least) or (
                    need_over is not None and missed_days > need_over
                )
                if due and not _already(session, plan, "repeat_first_dose_observation", first.id):
                    events.append(
                        record(
                            session,
                            plan=plan,
                            type_="repeat_first_dose_observation",
                            now=now,
                            dose=dose,
                            interruption_start=first.id,
                            interruption_days=missed_days,
                            first_missed_day=first.day,
                            rule=rule.text,
                        )
                    )
                break
    return events


def _already(session: Session, plan: Plan, type_: str, start_id: int | None) -> bool:
    rows = session.exec(
        select(RuleEvent.details_json).where(RuleEvent.plan_id == plan.id, RuleEvent.type == type_)
    ).all()
    return any(json.loads(raw).get("interruption_start") == start_id for raw in rows)


TITRATION = "titration"
SHIFTED = "~"  # a missed titration dose offered again later keeps its row as "<key>~<n>"


def _next_dose_day(plan: Plan, patient: Patient, regimen: Regimen, now: datetime) -> date:
    """Today if today's first dose time has not passed yet, else tomorrow."""
    local_now = now.astimezone(ZoneInfo(patient.tz))
    first_time = (plan_times(plan) or list(regimen.default_times))[0]
    if local_now.time() <= first_time:
        return local_now.date()
    return local_now.date() + timedelta(days=1)


def _free_key(session: Session, plan: Plan, epoch: int, base: str) -> str:
    """``<base>~<n>``, the first one not used in this plan and epoch."""
    used = set(
        session.exec(
            select(Dose.key).where(
                Dose.plan_id == plan.id,
                Dose.epoch == epoch,
                Dose.key.startswith(f"{base}{SHIFTED}"),
            )
        ).all()
    )
    n = 1
    while f"{base}{SHIFTED}{n}" in used:
        n += 1
    return f"{base}{SHIFTED}{n}"


def shift_titration(
    session: Session,
    *,
    plan: Plan,
    patient: Patient,
    regimen: Regimen,
    now: datetime,
    dose: Dose,
    missed: int,
    threshold: int,
) -> RuleEvent:
    """Offer the missed titration step again on the next dose day; every later step follows.

    The missed row stays (as ``<key>~<n>``, status missed) so adherence and the consecutive
    count see it; materialising then writes the step again under its own key on the new day.
    """
    resume = _next_dose_day(plan, patient, regimen, now)
    label = regimen.rule("missed")
    base = dose.key.split(SHIFTED)[0]
    dose.key = _free_key(session, plan, dose.epoch, base)
    dose.updated_at = now
    session.add(dose)
    _rebase(session, plan, dose.occasion, resume, now)
    session.flush()
    return record(
        session,
        plan=plan,
        type_="schedule_shift",
        now=now,
        dose=dose,
        occasion=dose.occasion,
        planned=dose.local_date.isoformat(),
        resumes=resume.isoformat(),
        missed=missed,
        restart_at=threshold,
        rule=label.text if label else f"fewer than {threshold} consecutive doses missed",
    )


def _undo_titration_shift(
    session: Session, *, plan: Plan, dose: Dose, taken_day: date, now: datetime
) -> RuleEvent | None:
    """A missed titration step that was offered again turns out to have been taken (a late
    reply, a clinic entry): the step is done, so its second offer is withdrawn and the
    titration continues from the day it was really taken."""
    base = dose.key.split(SHIFTED)[0]
    offer = session.exec(
        select(Dose).where(Dose.plan_id == plan.id, Dose.epoch == dose.epoch, Dose.key == base)
    ).first()
    if offer is not None and offer.status not in DOSE_OPEN:
        return None  # the step was given again already: history only, nothing to move
    if offer is not None:
        offer.key = _free_key(session, plan, dose.epoch, base)
        offer.status = "cancelled"
        offer.next_action_at = None
        offer.updated_at = now
        session.add(offer)
        session.flush()
    dose.key = base
    session.add(dose)
    # Not dropped even when taken on the day it was offered: that day may itself be the
    # result of an earlier shift (missed twice, then taken late the second evening).
    _rebase(session, plan, dose.occasion, taken_day, now)
    session.flush()
    return record(
        session,
        plan=plan,
        type_="schedule_shift",
        now=now,
        dose=dose,
        occasion=dose.occasion,
        planned=dose.local_date.isoformat(),
        taken=taken_day.isoformat(),
        rule="a missed titration dose was taken after all: its second offer is withdrawn",
    )


def restart_titration(
    session: Session,
    *,
    plan: Plan,
    patient: Patient,
    regimen: Regimen,
    now: datetime,
    dose: Dose | None,
    reason: str,
    missed: int,
) -> RuleEvent:
    """Back to Day 1: a new epoch starting on the next dose day (today if today's first
    dose time has not passed, else tomorrow). Open doses of the old epoch from now on are
    cancelled: a miss found at the next dose's own time (Mayzent's 24 hours) restarts at
    that time, rather than reminding the patient of a step of the abandoned titration."""
    restart = _next_dose_day(plan, patient, regimen, now)
    old_epoch, old_start = plan.epoch, plan.epoch_start
    session.execute(
        update(Dose)
        .where(
            col(Dose.plan_id) == plan.id,
            col(Dose.epoch) == old_epoch,
            col(Dose.status).in_(DOSE_OPEN),
            col(Dose.due_at) >= now,
        )
        .values(status="cancelled", next_action_at=None, updated_at=now)
    )
    plan.epoch += 1
    plan.epoch_start = restart
    plan.set_rebases({})
    plan.updated_at = now
    session.add(plan)
    return record(
        session,
        plan=plan,
        type_="titration_restart",
        now=now,
        dose=dose,
        missed=missed,
        old_epoch=old_epoch,
        old_start=old_start.isoformat(),
        new_start=restart.isoformat(),
        rule=reason,
    )


def after_taken(
    session: Session,
    *,
    catalog: Catalog,
    plan: Plan,
    patient: Patient,
    dose: Dose,
    regimen: Regimen,
    taken_at: datetime,
    now: datetime,
) -> list[RuleEvent]:
    events: list[RuleEvent] = []
    if dose.epoch != plan.epoch:
        return events
    zone = ZoneInfo(patient.tz)
    taken_day = taken_at.astimezone(zone).date()
    if SHIFTED in dose.key and dose.occasion in plan.rebases:
        undone = _undo_titration_shift(session, plan=plan, dose=dose, taken_day=taken_day, now=now)
        if undone is not None:
            events.append(undone)
    shift = regimen.rule("shift_from_taken")
    if shift is not None and dose.kind != "monitoring" and taken_day != dose.local_date:
        keep_days = shift.params.get("keep_if_days_before_next")
        following = _next_item(catalog, plan, patient, dose)
        next_day = following.local_date if following is not None else None
        keep = (
            keep_days is not None
            and next_day is not None
            and (next_day - taken_day).days >= int(shift.number("keep_if_days_before_next"))
        )
        if not keep:
            _rebase(session, plan, dose.occasion, taken_day, now)
            events.append(
                record(
                    session,
                    plan=plan,
                    type_="schedule_shift",
                    now=now,
                    dose=dose,
                    occasion=dose.occasion,
                    planned=dose.local_date.isoformat(),
                    taken=taken_day.isoformat(),
                    rule=shift.text,
                )
            )
    if regimen.rule("stop_at_cap") is not None and regimen.cap is not None:
        taken_total = sum(
            d
            for (d,) in session.execute(
                select(Dose.amount).where(
                    Dose.plan_id == plan.id,
                    Dose.status == "taken",
                    Dose.kind != "monitoring",
                )
            )
        )
        following = _next_item(catalog, plan, patient, dose)
        next_amount = following.amount if following is not None else float("inf")
        if taken_total + next_amount > regimen.cap + 1e-9:
            plan.status = "completed"
            plan.stop_reason = f"cumulative cap {regimen.cap:g} {regimen.unit} reached"
            plan.updated_at = now
            session.add(plan)
            session.execute(
                update(Dose)
                .where(
                    col(Dose.plan_id) == plan.id,
                    col(Dose.status).in_(DOSE_OPEN),
                    col(Dose.id) != dose.id,
                )
                .values(status="cancelled", next_action_at=None, updated_at=now)
            )
            events.append(
                record(
                    session,
                    plan=plan,
                    type_="cap_reached",
                    now=now,
                    dose=dose,
                    cumulative=taken_total,
                    cap=regimen.cap,
                    unit=regimen.unit,
                )
            )
    return events


def _next_item(catalog: Catalog, plan: Plan, patient: Patient, dose: Dose) -> Item | None:
    """The plan's next dose or infusion after ``dose`` (as the plan stands now)."""
    _, items = expected_items(
        catalog, plan, patient, until=dose.local_date + timedelta(days=400), since=dose.local_date
    )
    return next((i for i in items if i.kind != "monitoring" and i.occasion > dose.occasion), None)
