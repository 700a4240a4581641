"""Workspace sign-in: a coordinator's token opens a session; the session cookie is its key.

The cookie holds a fresh 256-bit token (never the coordinator's API token, which stays in the
coordinator's hands); only its hash is stored. A session ends at sign-out, after
``idle_minutes`` without a page view, at ``session_hours`` after sign-in whatever the
activity, and as soon as the coordinator is revoked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select, update

from adherence.care.coordinators import authenticate
from adherence.core.config import WorkspaceSettings
from adherence.core.tokens import hash_token, new_token
from adherence.storage.models import Coordinator, WorkspaceSession

SESSION_PREFIX = "mss_"
# A page view within this long of the last one does not rewrite last_seen_at (one write a
# minute per coordinator at most, however many pages they open).
SEEN_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class SignedIn:
    session: WorkspaceSession
    coordinator: Coordinator


def sign_in(
    session: Session, api_token: str, *, now: datetime, settings: WorkspaceSettings
) -> tuple[SignedIn, str] | None:
    """A new session for the coordinator whose token this is, and the cookie's token."""
    coordinator = authenticate(session, api_token.strip(), now)
    if coordinator is None or coordinator.id is None:
        return None
    raw = new_token(SESSION_PREFIX)
    row = WorkspaceSession(
        token_hash=hash_token(raw),
        coordinator_id=coordinator.id,
        team_id=coordinator.team_id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=settings.session_hours),
    )
    session.add(row)
    session.commit()
    return SignedIn(row, coordinator), raw


def signed_in(
    session: Session, raw: str, *, now: datetime, settings: WorkspaceSettings
) -> SignedIn | None:
    """The live session this cookie opens (touching it), or None."""
    if not raw.startswith(SESSION_PREFIX) or len(raw) > 100:
        return None
    row = session.exec(
        select(WorkspaceSession, Coordinator)
        .join(Coordinator, col(Coordinator.id) == col(WorkspaceSession.coordinator_id))
        .where(WorkspaceSession.token_hash == hash_token(raw))
    ).first()
    if row is None:
        return None
    ws, coordinator = row
    idle_end = ws.last_seen_at + timedelta(minutes=settings.idle_minutes)
    if ws.ended_at is not None or now >= ws.expires_at or now >= idle_end:
        return None
    if not coordinator.active or coordinator.team_id != ws.team_id:
        return None
    if now - ws.last_seen_at >= SEEN_EVERY:
        session.exec(
            update(WorkspaceSession)
            .where(col(WorkspaceSession.id) == ws.id)
            .values(last_seen_at=now)
        )
        session.commit()
        ws.last_seen_at = now
    return SignedIn(ws, coordinator)


def sign_out(session: Session, raw: str, *, now: datetime) -> bool:
    """End the session this cookie opens; False when there was none still open."""
    result = session.exec(
        update(WorkspaceSession)
        .where(
            col(WorkspaceSession.token_hash) == hash_token(raw),
            col(WorkspaceSession.ended_at).is_(None),
        )
        .values(ended_at=now)
    )
    session.commit()
    return bool(result.rowcount)
