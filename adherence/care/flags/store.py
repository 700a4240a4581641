"""The care-team flag store: one open flag per plan (or patient) and rule.

``raise_flag``, ``list_flags``, ``get_flag``, ``acknowledge``, ``resolve`` and ``flag_json``
are what the rules (``adherence.care.flags.rules``), the CLI and the coordinator API use.
``open_key`` ("plan:12:missed_doses") is set while a flag is open or acknowledged and cleared
on resolution; its unique index is what makes "one open flag per scope and rule" hold when
two workers race.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from adherence.storage.db import insert_ignoring_existing
from adherence.storage.models import FLAG_OPEN, Flag, FlagStatus
from adherence.storage.public import FlagPublic, as_json

log = logging.getLogger("adherence.flags")

STATUSES = tuple(FlagStatus)


class FlagNotFound(LookupError):
    """No such flag (or it belongs to another care team)."""


class FlagError(ValueError):
    """A flag cannot change that way; the message says why."""


def open_key(*, patient_id: int, plan_id: int | None, rule: str) -> str:
    return f"plan:{plan_id}:{rule}" if plan_id is not None else f"patient:{patient_id}:{rule}"


def raise_flag(
    session: Session,
    *,
    team_id: int,
    patient_id: int,
    plan_id: int | None,
    rule: str,
    now: datetime,
    severity: str = "normal",
    details: dict[str, Any] | None = None,
    occurrence: str | None = None,
    patient_scope: bool = False,
) -> Flag:
    """Open a flag, or add a recurrence to the open one (insert-or-update on ``open_key``).

    ``occurrence`` names what happened; the open flag already carrying it is only refreshed.
    ``patient_scope`` keys the flag on the patient even when a plan is given (texts and
    flares concern the patient, not one plan). Part of the caller's transaction."""
    if severity not in ("normal", "urgent"):
        raise FlagError(f"severity {severity!r} is not normal or urgent")
    key = open_key(patient_id=patient_id, plan_id=None if patient_scope else plan_id, rule=rule)
    info = dict(details or {})
    if occurrence is not None:
        info["occurrence"] = occurrence
    row = {
        "open_key": key,
        "team_id": team_id,
        "patient_id": patient_id,
        "plan_id": plan_id,
        "rule": rule,
        "severity": severity,
        "status": "open",
        "occurrences": 1,
        "first_at": now,
        "last_at": now,
        "details_json": json.dumps(info, sort_keys=True, default=str),
        "acknowledged_by": "",
        "resolved_by": "",
        "note": "",
    }
    dialect = session.get_bind().dialect.name
    stmt = insert_ignoring_existing(dialect, Flag, ["open_key"]).returning(Flag.id)
    inserted = session.connection().execute(stmt, row).first()
    if inserted is not None:
        flag = session.get(Flag, inserted[0])
        assert flag is not None
        log.info("flag raised id=%s rule=%s severity=%s", flag.id, rule, severity)
        return flag
    # Somebody (maybe another worker, a moment ago) holds the open flag: add to it under
    # a row lock so that two recurrences are both counted.
    flag = session.exec(select(Flag).where(Flag.open_key == key).with_for_update()).one()
    session.refresh(flag)
    same = occurrence is not None and flag.details.get("occurrence") == occurrence
    if not same:
        flag.occurrences += 1
        flag.last_at = now
        log.info("flag recurred id=%s rule=%s occurrences=%d", flag.id, rule, flag.occurrences)
    if severity == "urgent":
        flag.severity = "urgent"  # never downgraded by a later, milder recurrence
    flag.details_json = json.dumps(info, sort_keys=True, default=str)
    session.add(flag)
    return flag


def list_flags(
    session: Session,
    *,
    team_id: int | None = None,
    status: str | None = None,
    patient_id: int | None = None,
) -> list[Flag]:
    """Flags, urgent first then most recent. ``status`` None = open and acknowledged;
    "all" = every flag, including resolved ones."""
    query = select(Flag)
    if status is None:
        query = query.where(col(Flag.status).in_(FLAG_OPEN))
    elif status != "all":
        if status not in STATUSES:
            raise FlagError(f"status {status!r} is not one of {', '.join(STATUSES)} or all")
        query = query.where(Flag.status == status)
    if team_id is not None:
        query = query.where(Flag.team_id == team_id)
    if patient_id is not None:
        query = query.where(Flag.patient_id == patient_id)
    rows = session.exec(query.order_by(col(Flag.last_at).desc(), col(Flag.id).desc())).all()
    return sorted(rows, key=lambda f: f.severity != "urgent")  # stable: keeps recency


def get_flag(session: Session, flag_id: int, *, team_id: int | None = None) -> Flag:
    flag = session.get(Flag, flag_id)
    if flag is None or (team_id is not None and flag.team_id != team_id):
        raise FlagNotFound(f"no flag {flag_id}")
    return flag


def _note_line(kind: str, by: str, now: datetime, text: str) -> str:
    return f"{kind} by {by} at {now.isoformat(timespec='seconds')}: {text}"


def _append_note(flag: Flag, line: str) -> None:
    flag.note = f"{flag.note}\n{line}" if flag.note else line


def _check_by(by: str) -> str:
    by = by.strip()
    if not by:
        raise FlagError("by: say who is acting (a name or coordinator id)")
    return by


def acknowledge(
    session: Session,
    flag_id: int,
    *,
    by: str,
    now: datetime,
    team_id: int | None = None,
    note: str = "",
) -> Flag:
    """Someone is looking at it: the flag stays open (recurrences still add to it)."""
    by = _check_by(by)
    flag = get_flag(session, flag_id, team_id=team_id)
    if flag.status == "resolved":
        raise FlagError(f"flag {flag_id} is already resolved; it cannot be acknowledged")
    flag.status = "acknowledged"
    flag.acknowledged_by = by
    flag.acknowledged_at = now
    if note.strip():
        _append_note(flag, _note_line("acknowledged", by, now, note.strip()))
    session.add(flag)
    session.commit()
    log.info("flag acknowledged id=%s", flag.id)
    return flag


def resolve(
    session: Session,
    flag_id: int,
    *,
    by: str,
    note: str,
    now: datetime,
    team_id: int | None = None,
) -> Flag:
    """Done with it: who, when and the note are kept; the next occurrence opens a new flag."""
    by = _check_by(by)
    if not note.strip():
        raise FlagError("note: say what was done (a note is required to resolve a flag)")
    flag = get_flag(session, flag_id, team_id=team_id)
    if flag.status == "resolved":
        raise FlagError(f"flag {flag_id} is already resolved")
    flag.status = "resolved"
    flag.open_key = None
    flag.resolved_by = by
    flag.resolved_at = now
    _append_note(flag, _note_line("resolved", by, now, note.strip()))
    session.add(flag)
    session.commit()
    log.info("flag resolved id=%s", flag.id)
    return flag


def flag_json(flag: Flag) -> dict[str, Any]:
    return as_json(FlagPublic.of(flag))
