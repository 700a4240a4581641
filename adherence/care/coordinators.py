"""Care coordinators and their API bearer tokens.

A token is shown once, when it is issued; only its hash is stored (made and hashed by
``adherence.core.tokens``, like the calendar feed tokens). The ``msa_`` prefix lets secret
scanners and people recognise a leaked token.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from adherence.core.tokens import hash_token
from adherence.core.tokens import new_token as _new_token

# valid_email is enrollment's (patients' and caregivers' addresses): one rule for every
# address the daemon writes to. It is imported here for callers of this module too.
from adherence.patients.enrollment import (
    EnrollmentError,
    NotFound,
    valid_email,
    valid_phone,
    valid_zone,
)
from adherence.storage.models import CareTeam, Coordinator
from schedules.localtime import parse_hhmm

TOKEN_PREFIX = "msa_"
DEFAULT_DIGEST_TIME = "08:00"


class CoordinatorError(ValueError):
    """Bad input for a coordinator; the message names the field."""


def new_token() -> str:
    return _new_token(TOKEN_PREFIX)


def valid_digest_time(raw: str, field: str = "digest time") -> str:
    try:
        return parse_hhmm(raw).strftime("%H:%M")
    except ValueError as exc:
        raise CoordinatorError(f"{field}: {exc}") from None


def add_coordinator(
    session: Session,
    *,
    team: CareTeam,
    name: str,
    email: str,
    now: datetime,
    phone: str | None = None,
    notify_sms: bool = False,
    notify_email: bool = True,
    digest_time: str | None = None,
    tz: str | None = None,
) -> tuple[Coordinator, str]:
    """Create a coordinator of ``team``; returns it and its token, which is never shown again."""
    if not name.strip():
        raise CoordinatorError("name is empty")
    if not email.strip():  # valid_email lets "" through (optional for a patient): not here
        raise CoordinatorError("email is empty: flags and digests need an e-mail address")
    try:
        address = valid_email(email)
        number = valid_phone(phone) if phone else ""
        zone = valid_zone(tz) if tz else ""
    except EnrollmentError as exc:
        raise CoordinatorError(str(exc)) from None
    if notify_sms and not number:
        raise CoordinatorError("sms notifications need a phone number (give --phone)")
    token = new_token()
    assert team.id is not None  # a stored team
    coordinator = Coordinator(
        team_id=team.id,
        name=name.strip(),
        email=address,
        phone=number,
        token_hash=hash_token(token),
        notify_sms=notify_sms,
        notify_email=notify_email,
        digest_time=valid_digest_time(digest_time or DEFAULT_DIGEST_TIME),
        tz=zone,
        created_at=now,
    )
    session.add(coordinator)
    session.commit()
    session.refresh(coordinator)
    return coordinator, token


def authenticate(session: Session, token: str, now: datetime) -> Coordinator | None:
    """The active coordinator this token belongs to, or None (unknown, revoked, malformed).

    ``now`` is taken so an expiry rule can be added without changing callers.
    """
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    coordinator = session.exec(
        select(Coordinator).where(Coordinator.token_hash == hash_token(token))
    ).first()
    if coordinator is None or not coordinator.active or coordinator.revoked_at is not None:
        return None
    return coordinator


def get_coordinator(session: Session, coordinator_id: int) -> Coordinator:
    coordinator = session.get(Coordinator, coordinator_id)
    if coordinator is None:
        raise NotFound(f"no coordinator {coordinator_id}")
    return coordinator


def revoke(session: Session, coordinator_id: int, now: datetime) -> Coordinator:
    """The token stops working at once; the coordinator row (and its audit trail) stays."""
    coordinator = get_coordinator(session, coordinator_id)
    if not coordinator.active:
        raise CoordinatorError(f"coordinator {coordinator_id} is already revoked")
    coordinator.active = False
    coordinator.revoked_at = now
    coordinator.token_hash = None  # nothing left that a leaked token could match
    session.add(coordinator)
    session.commit()
    return coordinator


def rotate_token(session: Session, coordinator_id: int, now: datetime) -> tuple[Coordinator, str]:
    """A new token for an active coordinator; the old one stops working at once."""
    coordinator = get_coordinator(session, coordinator_id)
    if not coordinator.active:
        raise CoordinatorError(
            f"coordinator {coordinator_id} is revoked: add them again to issue a token"
        )
    token = new_token()
    coordinator.token_hash = hash_token(token)
    session.add(coordinator)
    session.commit()
    return coordinator, token


def list_coordinators(session: Session, *, team_id: int | None = None) -> list[Coordinator]:
    query = select(Coordinator).order_by(col(Coordinator.id))
    if team_id is not None:
        query = query.where(Coordinator.team_id == team_id)
    return list(session.exec(query).all())


def coordinator_json(c: Coordinator) -> dict[str, object]:
    """Everything about a coordinator except the token hash."""
    return {
        "id": c.id,
        "team_id": c.team_id,
        "name": c.name,
        "email": c.email,
        "phone": c.phone or None,
        "notify_sms": c.notify_sms,
        "notify_email": c.notify_email,
        "digest_time": c.digest_time,
        "tz": c.tz or None,
        "active": c.active,
        "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None,
        "created_at": c.created_at.isoformat(),
    }
