"""The ``visit_overdue`` flag: a neurology visit or MRI (a type of ``[visits] cadences``) not
attended within its window (``adherence.calendar.visits.due``: ``window_days`` after its due
date, with nothing attended since).

Patient-scoped (a visit belongs to the patient, not to a plan), normal severity, one open
flag per patient: each overdue due date is one occurrence (``TYPE:DUE-DATE``), raised once (an
occurrence whose flag was resolved is never raised again; the next due date, six months on,
is a new one). The flag resolves itself once a visit of each type it names has been recorded
as attended (the due date moved on), from the workspace or ``adherence visit done``; booking
one does not (the coordinator resolves it with a note, or the visit is recorded). Booked but
unattended visits whose time has passed count as not attended, as ``visit due`` shows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists
from sqlmodel import Session, col, select

from adherence.calendar.visits.due import OVERDUE, Due, due_for
from adherence.care.flags.store import raise_flag, resolve
from adherence.core.config import Settings
from adherence.storage.models import FLAG_OPEN, Flag, Patient
from adherence.storage.visits import Visit

log = logging.getLogger("adherence.flags")

RULE = "visit_overdue"
RESOLVED_BY = "system: visit recorded"
PATIENT_BATCH = 1_000  # patients read (with their visits) at a time on the hourly pass


def occurrence_of(d: Due) -> str:
    return f"{d.visit_type}:{d.due_on.isoformat()}"


def _active_patients(session: Session) -> Iterator[list[Patient]]:
    """Active patients in id order, a batch at a time (keyset: never the table at once)."""
    last = 0
    while True:
        batch = list(
            session.exec(
                select(Patient)
                .where(col(Patient.active), col(Patient.id) > last)
                .order_by(col(Patient.id))
                .limit(PATIENT_BATCH)
            )
        )
        if not batch:
            return
        last = batch[-1].id or 0
        yield batch


def overdue_visits(session: Session, *, now: datetime, settings: Settings) -> Iterator[Due]:
    for batch in _active_patients(session):
        for d in due_for(session, batch, settings=settings, now=now):
            if d.state == OVERDUE:
                yield d


def _flags_of(session: Session, patient_id: int) -> list[Flag]:
    return list(session.exec(select(Flag).where(Flag.patient_id == patient_id, Flag.rule == RULE)))


def visit_overdue_rule(session: Session, *, now: datetime, settings: Settings) -> list[Flag]:
    """Raise (or add to) each patient's flag for their newly overdue visits."""
    flags: list[Flag] = []
    by_patient: dict[int, list[Due]] = {}
    for d in overdue_visits(session, now=now, settings=settings):
        by_patient.setdefault(d.patient.id or 0, []).append(d)
    for patient_id, dues in by_patient.items():
        own = _flags_of(session, patient_id)
        open_flag = next((f for f in own if f.status in FLAG_OPEN), None)
        resolved = {o for f in own if f.status == "resolved" for o in f.details.get("visits", {})}
        visits: dict[str, Any] = dict(open_flag.details.get("visits", {})) if open_flag else {}
        for d in dues:
            occurrence = occurrence_of(d)
            if occurrence in visits or occurrence in resolved:
                continue
            today = now.astimezone(ZoneInfo(d.patient.tz)).date()
            visits[occurrence] = {
                "visit_type": d.visit_type,
                "due": d.due_on.isoformat(),
                "window_closed": d.closes.isoformat(),
                "days_overdue": (today - d.closes).days,
                "last_attended": d.last_done.isoformat() if d.last_done else None,
            }
            flags.append(
                raise_flag(
                    session,
                    team_id=d.patient.team_id,
                    patient_id=patient_id,
                    plan_id=None,
                    rule=RULE,
                    now=now,
                    details={"visits": visits, "window_days": settings.visits.window_days},
                    occurrence=occurrence,
                )
            )
    return flags


def resolve_attended(session: Session, *, now: datetime, settings: Settings) -> int:
    """Resolve each open ``visit_overdue`` flag all of whose visits have since been recorded
    as attended (commits each resolution, as a person's would be). Only flags of patients
    with a visit recorded since the flag opened are looked at, so an idle tick reads one
    statement."""
    candidates = session.exec(
        select(Flag).where(
            Flag.rule == RULE,
            col(Flag.status).in_(FLAG_OPEN),
            exists().where(
                col(Visit.patient_id) == col(Flag.patient_id),
                col(Visit.status) == "done",
                col(Visit.done_at) >= col(Flag.first_at),
            ),
        )
    ).all()
    resolved = 0
    for flag in candidates:
        patient = session.get(Patient, flag.patient_id)
        if patient is None or not patient.active:
            continue
        current = {d.visit_type: d for d in due_for(session, [patient], settings=settings, now=now)}
        named = flag.details.get("visits", {})
        pending = [
            o
            for o, v in named.items()
            if v.get("visit_type") in current
            and current[v["visit_type"]].due_on.isoformat() == v.get("due")
        ]
        if pending:
            continue
        note = ", ".join(
            f"{t} attended {current[t].last_done}"
            for t in sorted({v.get("visit_type") for v in named.values()})
            if t in current and current[t].last_done is not None
        )
        resolve(session, flag.id or 0, by=RESOLVED_BY, note=note or "visits recorded", now=now)
        resolved += 1
    if resolved:
        log.info("visit_overdue resolved flags=%d", resolved)
    return resolved


def visit_rules(session: Session, *, now: datetime, settings: Settings, full: bool) -> list[Flag]:
    """The care step's visit part: resolve on every tick, raise on the full (hourly) ones."""
    resolve_attended(session, now=now, settings=settings)
    return visit_overdue_rule(session, now=now, settings=settings) if full else []
