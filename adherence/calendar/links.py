"""Calendar feed links: the tokens in a feed URL (issuing, rotating, looking one up) and the
URLs made from them (https, webcal, "add to Google"), texted at enrollment when configured.

Tokens come from ``adherence.core.tokens`` (256 random bits, only their SHA-256 stored), so a feed
URL cannot be shown again after it was issued: rotating issues a new one and the old URL
answers exactly like a token that never existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from sqlmodel import Session, select

from adherence.core.config import Settings
from adherence.core.tokens import hash_token as token_hash
from adherence.core.tokens import new_token
from adherence.messaging.outbox import enqueue
from adherence.storage.models import CareTeam, Patient
from notifiers import texts

__all__ = [
    "MAX_TOKEN_LENGTH",
    "CalendarError",
    "FeedUrls",
    "feed_urls",
    "issue_patient_token",
    "issue_team_token",
    "offer_feed_link",
    "patient_by_token",
    "plausible",
    "rotate",
    "team_by_token",
    "token_hash",
]

MAX_TOKEN_LENGTH = 128  # longer "tokens" are not looked up at all (still the same 404)


class CalendarError(ValueError):
    """A refusal the CLI shows as one line."""


def rotate(session: Session, owner: Patient | CareTeam, *, now: datetime) -> str:
    """A new token for ``owner`` (a patient or a care team); the old one stops working at
    once. Commits. Returns the token: the only moment it exists outside the hash."""
    token = new_token()
    owner.calendar_token_hash = token_hash(token)
    if isinstance(owner, Patient):
        owner.calendar_token_at = now
    session.add(owner)
    session.commit()
    return token


def _issue_first(session: Session, owner: Patient | CareTeam, *, now: datetime) -> str:
    """``owner``'s first feed token; refused if one exists (it cannot be shown again)."""
    if owner.calendar_token_hash:
        what, cmd = (
            ("patient", "rotate") if isinstance(owner, Patient) else ("care team", "team-rotate")
        )
        raise CalendarError(
            f"{what} {owner.id} already has a calendar link, and only its hash is kept so it "
            f"cannot be shown again: `adherence calendar {cmd} {owner.id}` issues a new one "
            "(the old link then stops working)"
        )
    return rotate(session, owner, now=now)


def issue_patient_token(session: Session, patient: Patient, *, now: datetime) -> str:
    """The patient's first feed token; refused if one exists (it cannot be shown again)."""
    if not patient.active:
        raise CalendarError(f"patient {patient.id} was removed: no calendar feed")
    return _issue_first(session, patient, now=now)


def issue_team_token(session: Session, team: CareTeam, *, now: datetime) -> str:
    return _issue_first(session, team, now=now)


def plausible(token: str) -> bool:
    """Worth looking up at all (an implausible token answers like an unknown one)."""
    return 0 < len(token) <= MAX_TOKEN_LENGTH


def patient_by_token(session: Session, token: str) -> Patient | None:
    if not plausible(token):
        return None
    return session.exec(
        select(Patient).where(
            Patient.calendar_token_hash == token_hash(token),
            Patient.active == True,  # noqa: E712
        )
    ).first()


def team_by_token(session: Session, token: str) -> CareTeam | None:
    if not plausible(token):
        return None
    return session.exec(
        select(CareTeam).where(CareTeam.calendar_token_hash == token_hash(token))
    ).first()


@dataclass(frozen=True, slots=True)
class FeedUrls:
    url: str
    webcal_url: str
    google_url: str


def feed_urls(settings: Settings, token: str, *, team: bool = False) -> FeedUrls:
    base = settings.http.public_base_url.rstrip("/")
    url = f"{base}/calendar/{'team/' if team else ''}{token}.ics"
    rest = url.split("://", 1)[1]
    webcal = f"webcal://{rest}"
    # Google adds a subscription from ?cid=<webcal URL>, URL-encoded whole.
    google = "https://calendar.google.com/calendar/r?cid=" + quote(webcal, safe="")
    return FeedUrls(url=url, webcal_url=webcal, google_url=google)


def offer_feed_link(
    session: Session, patient: Patient, now: datetime, settings: Settings
) -> str | None:
    """At enrollment ([calendar] text_link_at_enrollment): issue the patient's feed token and
    text them the link (outbox purpose "calendar_link"). Does nothing (None) when the setting
    is off, the patient cannot be texted, or already has a feed (rotating it here would break
    a subscription that works). Returns the URL texted. Commits."""
    if not settings.calendar.text_link_at_enrollment:
        return None
    if not patient.active or patient.sms_status != "active" or patient.calendar_token_hash:
        return None
    team = session.get(CareTeam, patient.team_id)
    token = issue_patient_token(session, patient, now=now)
    url = feed_urls(settings, token).url
    enqueue(
        session,
        key=f"calendar_link:{patient.id}:{patient.calendar_token_hash}",
        to=patient.phone,
        body=texts.feed_link(team.name if team is not None else None, url, patient.language),
        purpose="calendar_link",
        now=now,
        valid_until=now + timedelta(days=1),
        patient_id=patient.id,
    )
    session.commit()
    return url
