"""The ``monitoring_overdue`` flag: a label check (lab, exam) not recorded done inside its
window, ``[monitoring] overdue_days`` after its date.

Plan-scoped, normal severity, one open flag per plan: each overdue check is one occurrence
(``dose:ID``), raised once (a check whose flag was resolved is never raised again). The flag
resolves itself once none of the checks it names is still open: the clinic recorded it
(``adherence confirm --dose ID --taken``, or a clinic entry on the patient page), or a plan
change cancelled it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from adherence.care.flags.store import raise_flag, resolve
from adherence.core.selfcare_config import MonitoringSettings
from adherence.storage.models import DOSE_OPEN, FLAG_OPEN, Dose, Flag, Patient, Plan

log = logging.getLogger("adherence.flags")

RULE = "monitoring_overdue"
RESOLVED_BY = "system: check recorded"


def overdue_checks(
    session: Session, *, now: datetime, settings: MonitoringSettings, plan_id: int | None = None
) -> list[tuple[Dose, Plan, Patient]]:
    """Open checks of active plans whose window (date + ``overdue_days``) has passed, in the
    patient's local calendar: a check due on the 1st with 30 days is overdue on the 32nd."""
    # A coarse bound in SQL (a day of slack for zones), the exact one per patient below.
    bound = now.date() - timedelta(days=settings.overdue_days - 1)
    query = (
        select(Dose, Plan, Patient)
        .join(Plan, col(Plan.id) == Dose.plan_id)
        .join(Patient, col(Patient.id) == Dose.patient_id)
        .where(
            Dose.kind == "monitoring",
            col(Dose.status).in_(DOSE_OPEN),
            Dose.epoch == Plan.epoch,
            col(Dose.local_date) < bound,
            Plan.status == "active",
            Patient.active,
        )
        .order_by(col(Dose.due_at), col(Dose.id))
    )
    if plan_id is not None:
        query = query.where(Dose.plan_id == plan_id)
    out = []
    for dose, plan, patient in session.exec(query).all():
        today = now.astimezone(ZoneInfo(patient.tz)).date()
        if today > dose.local_date + timedelta(days=settings.overdue_days):
            out.append((dose, plan, patient))
    return out


def _already_resolved(session: Session, plan_id: int, occurrence: str) -> bool:
    rows = session.exec(
        select(Flag).where(Flag.plan_id == plan_id, Flag.rule == RULE, Flag.status == "resolved")
    ).all()
    return any(occurrence in f.details.get("checks", {}) for f in rows)


def monitoring_overdue_rule(
    session: Session, *, now: datetime, settings: MonitoringSettings
) -> list[Flag]:
    """Raise (or add to) each plan's flag for its newly overdue checks."""
    flags: list[Flag] = []
    by_plan: dict[int, list[tuple[Dose, Plan, Patient]]] = {}
    for dose, plan, patient in overdue_checks(session, now=now, settings=settings):
        by_plan.setdefault(plan.id or 0, []).append((dose, plan, patient))
    for plan_id, rows in by_plan.items():
        open_flag = session.exec(
            select(Flag).where(
                Flag.plan_id == plan_id, Flag.rule == RULE, col(Flag.status).in_(FLAG_OPEN)
            )
        ).first()
        checks: dict[str, Any] = dict(open_flag.details.get("checks", {})) if open_flag else {}
        for dose, plan, patient in rows:
            occurrence = f"dose:{dose.id}"
            if occurrence in checks or _already_resolved(session, plan_id, occurrence):
                continue
            today = now.astimezone(ZoneInfo(patient.tz)).date()
            checks[occurrence] = {
                "dose_id": dose.id,
                "check": dose.label,
                "due": dose.local_date.isoformat(),
                "days_overdue": (today - dose.local_date).days - settings.overdue_days,
            }
            flags.append(
                raise_flag(
                    session,
                    team_id=patient.team_id,
                    patient_id=patient.id or 0,
                    plan_id=plan.id,
                    rule=RULE,
                    now=now,
                    details={"checks": checks, "overdue_days": settings.overdue_days},
                    occurrence=occurrence,
                )
            )
    return flags


def resolve_recorded(session: Session, *, now: datetime) -> int:
    """Resolve each open ``monitoring_overdue`` flag none of whose checks is still open
    (commits each resolution, as a person's would be)."""
    resolved = 0
    flags = session.exec(select(Flag).where(Flag.rule == RULE, col(Flag.status).in_(FLAG_OPEN)))
    for flag in flags.all():
        checks = flag.details.get("checks", {})
        ids = [int(c["dose_id"]) for c in checks.values() if c.get("dose_id") is not None]
        doses = session.exec(select(Dose).where(col(Dose.id).in_(ids))).all() if ids else []
        if any(d.status in DOSE_OPEN for d in doses):
            continue
        done = ", ".join(f"dose {d.id} {d.status}" for d in sorted(doses, key=lambda d: d.id or 0))
        resolve(session, flag.id or 0, by=RESOLVED_BY, note=done or "checks gone", now=now)
        resolved += 1
    if resolved:
        log.info("monitoring_overdue resolved flags=%d", resolved)
    return resolved
