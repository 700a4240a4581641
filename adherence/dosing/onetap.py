"""One-tap links in reminder texts: issue a link for a dose, look it up, confirm through it.

A link is ``{public_base_url}/c/{token}``: the URL carries the token and nothing else (no
dose, drug or patient). The token has 256 random bits (``adherence.core.tokens``) and only
its SHA-256 is stored, in ``ConfirmLink``; looking one up is an index hit on that hash, so
how long a lookup takes tells a guesser nothing. A link is good until the dose's late window
closes (``Dose.window_closes_at``) and for one answer: once the dose is answered through any
of its links, every link of that dose is spent.

Opening a link (a GET, a HEAD, a messenger's link preview, a mail scanner) never confirms
anything: only ``confirm_through`` does, which the page calls from its POST. The answer goes
through ``adherence.dosing.confirm.confirm`` with ``via="link"``, which, like an SMS reply,
never overwrites an answer already recorded.

Nothing of a token is logged; a link row is named by its id.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import update
from sqlmodel import Session, col, select

from adherence.core.tokens import hash_token, new_token
from adherence.dosing.confirm import ConfirmError, confirm
from adherence.storage.models import DOSE_OPEN, CareTeam, Dose, Patient, Plan
from adherence.storage.workspace import ConfirmLink
from notifiers import texts
from schedules import Catalog

log = logging.getLogger("adherence.onetap")

PATH = "/c/"
VIA = "link"
# A token is ``secrets.token_urlsafe(32)``: 43 characters. Anything longer, or with other
# characters, is not one of ours and is not even looked up.
TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
MAX_TOKEN_LENGTH = 64


def link_url(public_base_url: str, token: str) -> str:
    return public_base_url.rstrip("/") + PATH + token


def new_link_token() -> str:
    """A fresh token for a link (not yet stored: ``store`` keeps its hash once the text
    that carries it is known to fit)."""
    return new_token()


def store(session: Session, *, token: str, dose: Dose, now: datetime) -> ConfirmLink:
    """Keep the hash of ``token`` as a link to ``dose`` (part of the caller's transaction)."""
    assert dose.id is not None
    link = ConfirmLink(
        token_hash=hash_token(token),
        dose_id=dose.id,
        created_at=now,
        expires_at=dose.window_closes_at,
    )
    session.add(link)
    return link


def issue(session: Session, *, dose: Dose, now: datetime) -> str:
    """A new link token for ``dose``, stored hashed (the caller commits)."""
    token = new_link_token()
    store(session, token=token, dose=dose, now=now)
    return token


def form_key(token: str) -> str:
    """The hidden field the page's form carries: an HMAC keyed by the token itself. The page
    is reached without a session, so the form is bound to the link it came from."""
    return hmac.new(token.encode(), b"onetap-form", hashlib.sha256).hexdigest()


def form_key_ok(token: str, sent: str) -> bool:
    return hmac.compare_digest(form_key(token), sent)


def dose_info(dose: Dose, patient: Patient, team: CareTeam, brand: str) -> texts.DoseText:
    """What a text (or the one-tap page) may say about ``dose``: ``texts`` decides what is
    shown, discreet unless the patient opted in."""
    return texts.DoseText(
        team=team.name,
        language=patient.language,
        discreet=patient.discreet,
        what=f"{brand} {dose.amount:g} {dose.unit}" if dose.kind != "monitoring" else dose.label,
        kind=dose.kind,
        local_time=dose.local_time,
        local_date=dose.local_date.strftime("%a %d %b"),
    )


def brand_of(catalog: Catalog, plan: Plan) -> str:
    therapy = catalog.get(plan.regimen)
    return therapy.brands[0] if therapy.brands else therapy.name


@dataclass(frozen=True)
class Linked:
    """A live link and what it is about."""

    link: ConfirmLink
    dose: Dose
    patient: Patient
    team: CareTeam
    info: texts.DoseText

    @property
    def answered(self) -> bool:
        return self.dose.status not in DOSE_OPEN


def _well_formed(token: str) -> bool:
    return 0 < len(token) <= MAX_TOKEN_LENGTH and set(token) <= TOKEN_CHARS


Dead = Literal["unknown", "gone"]


def look_up(session: Session, token: str, *, now: datetime, catalog: Catalog) -> Linked | Dead:
    """The link ``token`` opens: ``Linked`` while it is live; ``"gone"`` for a link we issued
    that has expired or been used (or whose dose was cancelled); ``"unknown"`` for no link of
    ours. Reads only."""
    if not _well_formed(token):
        return "unknown"
    found = select(ConfirmLink).where(ConfirmLink.token_hash == hash_token(token))
    link = session.exec(found).first()
    if link is None:
        return "unknown"
    if link.used_at is not None or now >= link.expires_at:
        return "gone"
    dose = session.get(Dose, link.dose_id)
    if dose is None or dose.status == "cancelled":
        return "gone"
    patient = session.get(Patient, dose.patient_id)
    plan = session.get(Plan, dose.plan_id)
    assert patient is not None and plan is not None
    team = session.get(CareTeam, patient.team_id)
    assert team is not None
    info = dose_info(dose, patient, team, brand_of(catalog, plan))
    return Linked(link=link, dose=dose, patient=patient, team=team, info=info)


@dataclass(frozen=True)
class Outcome:
    """What a tap recorded: ``applied`` False when the dose already had an answer (given
    by text, by the clinic, or through another of its links), which is then ``status``."""

    status: str
    applied: bool
    taken_at: datetime | None


def confirm_through(
    session: Session,
    linked: Linked,
    status: str,
    *,
    now: datetime,
    catalog: Catalog,
    horizon_days: int,
) -> Outcome:
    """Record ``status`` (taken | skipped) for the link's dose, at ``now``; spend the dose's
    links. An answer already recorded is kept and reported (``applied`` False).
    Raises ``ConfirmError`` when the dose can no longer be answered (cancelled meanwhile)."""
    if status not in ("taken", "skipped"):
        raise ConfirmError(f"status must be taken or skipped, not {status!r}")
    result = confirm(
        session,
        catalog=catalog,
        dose=linked.dose,
        status=status,
        at=now,
        now=now,
        via=VIA,
        horizon_days=horizon_days,
    )
    # Every link of this dose is spent, whoever answered it: an old text's link now opens
    # the "no longer valid" page rather than a dose that cannot be changed.
    session.execute(
        update(ConfirmLink)
        .where(col(ConfirmLink.dose_id) == linked.dose.id, col(ConfirmLink.used_at).is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    dose = result.dose
    log.info("one-tap answer link=%s dose=%s applied=%s", linked.link.id, dose.id, result.applied)
    return Outcome(status=dose.status, applied=result.applied, taken_at=dose.taken_at)
