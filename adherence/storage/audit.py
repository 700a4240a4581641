"""The audit trail: every read or export of patient data leaves one row (who, what, when).

``record`` only adds the row to the session: the caller commits it together with the read,
so a read that fails leaves no row and a row is never lost for a read that was answered.
Details are for context (a date range, a format, a count); anything that looks like a
secret or a message is dropped before it is written. Every audit row is written here, so
that rule (and the column limits) hold for all of them.
"""

from __future__ import annotations

import getpass
import json
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from adherence.storage.models import AuditEvent, Coordinator

# Keys never written into details, whatever a caller passes: tokens and message bodies.
_SECRET_HINTS = ("token", "body", "password", "secret", "authorization", "message", "text")


def coordinator_actor(coordinator: Coordinator) -> str:
    return f"coordinator:{coordinator.id}"


def cli_actor() -> str:
    """Who ran a CLI command: the operating-system user (the best the CLI can know)."""
    try:
        user = getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry)
        user = "unknown"
    return f"cli:{user}"


def clean_details(details: dict[str, Any] | None) -> dict[str, Any]:
    """``details`` without what may hold a secret or a message: a key that names one is
    dropped unless its value is a number or a flag (a count of withdrawn texts is context,
    and no token or body fits in one)."""
    return {
        k: v
        for k, v in (details or {}).items()
        if isinstance(v, int | float)  # bool is an int
        or not any(hint in k.lower() for hint in _SECRET_HINTS)
    }


def record(
    session: Session,
    *,
    actor: str,
    team_id: int | None,
    action: str,
    resource: str,
    now: datetime,
    patient_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one audit row to ``session`` (committed by the caller, with the read)."""
    event = AuditEvent(
        at=now,
        actor=actor[:200],
        team_id=team_id,
        action=action[:48],
        resource=resource[:200],
        patient_id=patient_id,
        details_json=json.dumps(clean_details(details), sort_keys=True, default=str),
    )
    session.add(event)
    return event


def list_audit(
    session: Session,
    *,
    team_id: int | None = None,
    patient_id: int | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[AuditEvent]:
    """Newest first."""
    query = select(AuditEvent)
    if team_id is not None:
        query = query.where(AuditEvent.team_id == team_id)
    if patient_id is not None:
        query = query.where(AuditEvent.patient_id == patient_id)
    if actor is not None:
        query = query.where(AuditEvent.actor == actor)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    query = query.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc()).limit(limit)
    return list(session.exec(query).all())


def audit_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "actor": event.actor,
        "team_id": event.team_id,
        "action": event.action,
        "resource": event.resource,
        "patient_id": event.patient_id,
        "details": json.loads(event.details_json or "{}"),
    }
