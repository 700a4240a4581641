"""Whether a care team can be alerted: one truth for the escalation that alerts it, the reply
that tells the patient it was alerted, ``/healthz`` and the workspace.

A coordinator can be alerted when active, not revoked, and with a channel switched on that has
an address (``notify_sms`` with a phone, ``notify_email`` with an e-mail).
"""

from __future__ import annotations

from sqlalchemy import and_, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from adherence.storage.models import CareTeam, Coordinator


def reachable(c: Coordinator) -> bool:
    return bool(
        c.active
        and c.revoked_at is None
        and ((c.notify_sms and c.phone) or (c.notify_email and c.email))
    )


def _reachable_clause() -> ColumnElement[bool]:
    return and_(
        col(Coordinator.active).is_(True),
        col(Coordinator.revoked_at).is_(None),
        or_(
            and_(col(Coordinator.notify_sms).is_(True), col(Coordinator.phone) != ""),
            and_(col(Coordinator.notify_email).is_(True), col(Coordinator.email) != ""),
        ),
    )


def team_reachable(session: Session, team_id: int) -> bool:
    """True when at least one of the team's coordinators can be alerted."""
    found = session.exec(
        select(Coordinator.id).where(Coordinator.team_id == team_id, _reachable_clause()).limit(1)
    ).first()
    return found is not None


def unreachable_teams(session: Session) -> list[CareTeam]:
    """The care teams no alert can reach (no coordinator that can be alerted), by id."""
    reached = select(Coordinator.team_id).where(_reachable_clause())
    return list(
        session.exec(
            select(CareTeam).where(col(CareTeam.id).not_in(reached)).order_by(col(CareTeam.id))
        ).all()
    )
