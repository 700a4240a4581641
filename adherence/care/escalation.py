"""Telling people about flags: urgent ones at once, the rest in each coordinator's daily digest.

Every message is an outbox row with a key that names what it is about, written in the same
transaction that records it was told, so a restart never sends one twice:
``flag:<flag>:<occurrence>:<recipient>`` for an urgent flag, ``digest:<coordinator>:<local
date>:<channel>`` for a digest.

Which digest is next is a row, not process memory: ``Coordinator.next_digest_at``, the
next local digest time, which a worker claims with a conditional update before it sends
(see ``send_digests``), so two daemons on one database send one digest and a restarted
one does not send it again.

What each reader gets (texts are unencrypted and shown on lock screens):
* coordinator SMS: the care team's name, how many flags and their ids. No patient, no rule;
* coordinator e-mail (to the care team's own address): the patient's name and external id,
  the rule and its figures, never the drug;
* family caregiver (only with the patient's recorded consent, urgent flags only): a discreet
  text and/or e-mail naming the clinic and the patient's first name, never the rule, the
  diagnosis or the drug.

An urgent flag for a team that no coordinator alert can reach (``storage.reach``) is not
marked notified: its details carry ``not_told`` (logged once as a warning), and the first
pass after a reachable coordinator is added tells them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from adherence.care.flags import RULES
from adherence.core.config import Settings
from adherence.messaging.mail import enqueue_email
from adherence.messaging.outbox import enqueue
from adherence.storage.models import FLAG_OPEN, CareTeam, Coordinator, Flag, OutboxMessage, Patient
from adherence.storage.reach import team_reachable, unreachable_teams
from adherence.storage.utc import from_storage
from schedules import local_instant
from schedules.localtime import parse_hhmm

log = logging.getLogger("adherence.escalation")

URGENT_SMS_VALID = timedelta(hours=12)
DIGEST_SMS_VALID = timedelta(hours=12)
DIGEST_LATE = timedelta(hours=12)  # a digest this late is skipped; the next one covers it
DIGEST_LOOKBACK_DAYS = 7  # how far back to look for the previous digest sent
# An urgent flag nobody could be told about keeps ``notified_at`` empty and says why here.
NOT_TOLD = "not_told"
NO_COORDINATOR = "no coordinator can be alerted (none active with a phone or e-mail switched on)"


def active_coordinators(session: Session, team_id: int | None = None) -> list[Coordinator]:
    query = select(Coordinator).where(
        col(Coordinator.active).is_(True), col(Coordinator.revoked_at).is_(None)
    )
    if team_id is not None:
        query = query.where(Coordinator.team_id == team_id)
    return list(session.exec(query.order_by(col(Coordinator.id))).all())


def _channels(c: Coordinator) -> list[tuple[str, str]]:
    out = []
    if c.notify_sms and c.phone:
        out.append(("sms", c.phone))
    if c.notify_email and c.email:
        out.append(("email", c.email))
    return out


def _local(at: datetime | None, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if at else "-"


def _flag_lines(flags: Iterable[Flag], patients: dict[int, Patient], zone: ZoneInfo) -> list[str]:
    lines = []
    for f in flags:
        p = patients.get(f.patient_id)
        who = p.name if p else f"patient {f.patient_id}"
        if p is not None and p.external_id:
            who += f" ({p.external_id})"
        facts = ", ".join(
            f"{k.replace('_', ' ')} {v}"
            for k, v in f.details.items()
            if k not in ("occurrence", "event_id", "at", "dose_id") and v is not None
        )
        lines.append(
            f"#{f.id} [{f.severity}] {RULES.get(f.rule, f.rule)} - {who}"
            + (f" - plan {f.plan_id}" if f.plan_id else "")
        )
        lines.append(
            f"    {f.status}; {f.occurrences} time(s); last {_local(f.last_at, zone)}"
            + (f"; {facts}" if facts else "")
        )
    return lines


def _first_name(p: Patient) -> str:
    return p.name.split()[0] if p.name.strip() else "your family member"


def _caregiver_text(flag: Flag, patient: Patient, team: CareTeam) -> str:
    contact = team.phone or team.email or "the clinic"
    first = _first_name(patient)
    if flag.rule == "repeat_first_dose_observation":
        return (
            f"{team.name}: {first} needs a clinic visit before their next dose. "
            f"The team will call to arrange it. Questions: {contact}."
        )
    return (
        f"{team.name}: {first} asked their care team for help today. "
        f"The team will follow up. If it is urgent, call {contact}."
    )


def _team_zone(team: CareTeam, c: Coordinator | None = None) -> ZoneInfo:
    for name in ((c.tz if c else ""), team.tz, "UTC"):
        if name:
            try:
                return ZoneInfo(name)
            except Exception:
                log.warning("unknown time zone for coordinator=%s", c.id if c else None)
    return ZoneInfo("UTC")


# --- urgent flags: at once ------------------------------------------------------------------


def escalate_urgent(session: Session, *, now: datetime) -> int:
    """Queue a message for every urgent flag (or recurrence) nobody was told about yet.
    Returns the messages queued. Part of the caller's transaction."""
    flags = session.exec(
        select(Flag)
        .where(Flag.severity == "urgent", col(Flag.status).in_(FLAG_OPEN))
        .order_by(col(Flag.id))
    ).all()
    queued = 0
    for flag in flags:
        if flag.notified_at is not None and flag.notified_at >= flag.last_at:
            continue
        team = session.get(CareTeam, flag.team_id)
        patient = session.get(Patient, flag.patient_id)
        if team is None or patient is None:
            continue
        queued += _tell_urgent(session, flag, team, patient, now=now)
        if team_reachable(session, team.id or 0):
            flag.notified_at = now
            if NOT_TOLD in flag.details:  # a coordinator came since: told now
                flag.details_json = json.dumps(
                    {k: v for k, v in flag.details.items() if k != NOT_TOLD}
                )
        elif NOT_TOLD not in flag.details:
            # Nobody was alerted: the flag stays un-notified (a coordinator added later is
            # told on the next pass) and says why, once.
            log.warning(
                "urgent flag id=%s: team=%s has no coordinator an alert can reach; nobody was told",
                flag.id,
                team.id,
            )
            flag.details_json = json.dumps({**flag.details, NOT_TOLD: NO_COORDINATOR})
        session.add(flag)
    return queued


def _tell_urgent(
    session: Session, flag: Flag, team: CareTeam, patient: Patient, *, now: datetime
) -> int:
    base = f"flag:{flag.id}:{flag.occurrences}"
    title = RULES.get(flag.rule, flag.rule)
    queued = 0
    coordinators = active_coordinators(session, team.id)
    for c in coordinators:
        zone = _team_zone(team, c)
        for channel, to in _channels(c):
            key = f"{base}:coordinator:{c.id}:{channel}"
            if channel == "sms":
                body = (
                    f"{team.name}: 1 new urgent flag (#{flag.id}) - see the dashboard "
                    "or `adherence flags`."
                )
                queued += enqueue(
                    session,
                    key=key,
                    to=to,
                    body=body,
                    purpose="flag",
                    now=now,
                    valid_until=now + URGENT_SMS_VALID,
                )
            else:
                text = "\n".join(
                    [
                        f"Urgent flag for {team.name}:",
                        "",
                        *_flag_lines([flag], {patient.id or 0: patient}, zone),
                        "",
                        f"Acknowledge: adherence flag ack {flag.id}",
                        f'Resolve:     adherence flag resolve {flag.id} --note "..."',
                    ]
                )
                queued += enqueue_email(
                    session,
                    key=key,
                    to=to,
                    subject=f"[{team.name}] Urgent flag #{flag.id}: {title}",
                    text=text,
                    purpose="flag",
                    now=now,
                )
    if patient.caregiver_consent_at is not None:
        text = _caregiver_text(flag, patient, team)
        who = f"{base}:caregiver:{patient.id}"
        if patient.caregiver_phone:
            queued += enqueue(
                session,
                key=f"{who}:sms",
                to=patient.caregiver_phone,
                body=text,
                purpose="flag",
                now=now,
                valid_until=now + URGENT_SMS_VALID,
            )
        if patient.caregiver_email:
            queued += enqueue_email(
                session,
                key=f"{who}:email",
                to=patient.caregiver_email,
                subject=f"{team.name}: please get in touch",
                text=text,
                purpose="flag",
                now=now,
            )
    log.info("urgent flag id=%s escalated messages=%d", flag.id, queued)
    return queued


# --- the daily digest ------------------------------------------------------------------------


def digest_clock(c: Coordinator, settings: Settings) -> time:
    try:
        return parse_hhmm(c.digest_time or settings.care.digest_time)
    except ValueError:
        log.warning("coordinator=%s has a bad digest_time; using the default", c.id)
        return parse_hhmm(settings.care.digest_time)


def _instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    return local_instant(day, at, zone)


def _digest_exists(session: Session, c: Coordinator, day: date) -> bool:
    keys = [f"digest:{c.id}:{day.isoformat()}:{ch}" for ch in ("sms", "email")]
    found = session.exec(
        select(OutboxMessage.id).where(col(OutboxMessage.key).in_(keys)).limit(1)
    ).first()
    return found is not None


def _window_start(
    session: Session, c: Coordinator, day: date, at: time, zone: ZoneInfo
) -> datetime:
    """The previous digest this coordinator was sent (up to a week back), else a day ago."""
    for back in range(1, DIGEST_LOOKBACK_DAYS + 1):
        earlier = day - timedelta(days=back)
        if _digest_exists(session, c, earlier):
            return _instant(earlier, at, zone)
    return _instant(day - timedelta(days=1), at, zone)


def _digest_due(session: Session, now: datetime) -> list[Coordinator]:
    """Active coordinators whose next digest time has come, or not computed yet (NULL)."""
    return list(
        session.exec(
            select(Coordinator)
            .where(
                col(Coordinator.active).is_(True),
                col(Coordinator.revoked_at).is_(None),
                or_(
                    col(Coordinator.next_digest_at).is_(None),
                    col(Coordinator.next_digest_at) <= now,
                ),
            )
            .order_by(col(Coordinator.id))
            # The value read is what the claim compares with: never a stale copy held by a
            # long-lived session.
            .execution_options(populate_existing=True)
        ).all()
    )


def _claim(session: Session, c: Coordinator, upcoming: datetime) -> bool:
    """Move the coordinator's next digest on to ``upcoming`` if it still holds what this
    worker read. True if it did: the digest due now is this worker's to send. Part of the
    caller's transaction, so a failed send gives the claim back."""
    seen = c.next_digest_at
    unchanged = (
        col(Coordinator.next_digest_at).is_(None)
        if seen is None
        else col(Coordinator.next_digest_at) == seen
    )
    claimed = session.connection().execute(
        update(Coordinator)
        .where(col(Coordinator.id) == c.id, unchanged)
        .values(next_digest_at=upcoming)
    )
    if claimed.rowcount != 1:
        return False  # another worker claimed it first
    set_committed_value(c, "next_digest_at", upcoming)
    return True


def send_digests(session: Session, *, now: datetime, settings: Settings) -> datetime | None:
    """Queue each coordinator's digest once its local digest time has come (today's, or
    yesterday's if less than DIGEST_LATE late). Returns the next digest instant.

    A coordinator whose ``next_digest_at`` has come (or is NULL: new, or never seen) gets
    it moved on to the next local digest time by a conditional update; only the worker
    whose update matched queues the digest, in the same transaction. A digest with nothing
    to report sends nothing and is not tried again that day."""
    teams: dict[int, CareTeam] = {}
    for c in _digest_due(session, now):
        assert c.id is not None
        team = teams.get(c.team_id) or session.get(CareTeam, c.team_id)
        if team is None:
            continue
        teams[c.team_id] = team
        zone = _team_zone(team, c)
        at = digest_clock(c, settings)
        today = now.astimezone(zone).date()
        due = _instant(today, at, zone)
        day = today
        if due > now:
            day = today - timedelta(days=1)
            due = _instant(day, at, zone)
        if not _claim(session, c, _instant(day + timedelta(days=1), at, zone)):
            continue
        if now - due > DIGEST_LATE:
            continue
        _digest(session, c, team, day=day, due=due, at=at, zone=zone, now=now)
    nxt = session.exec(
        select(func.min(Coordinator.next_digest_at)).where(
            col(Coordinator.active).is_(True), col(Coordinator.revoked_at).is_(None)
        )
    ).one()
    return from_storage(nxt)  # an aggregate: raw from the driver on SQLite


def _digest(
    session: Session,
    c: Coordinator,
    team: CareTeam,
    *,
    day: date,
    due: datetime,
    at: time,
    zone: ZoneInfo,
    now: datetime,
) -> int:
    if _digest_exists(session, c, day):
        return 0
    since = _window_start(session, c, day, at, zone)
    flags = list(
        session.exec(
            select(Flag)
            .where(Flag.team_id == team.id, Flag.last_at > since, Flag.last_at <= due)
            .order_by(col(Flag.severity).desc(), col(Flag.id))
        ).all()
    )
    if not flags:
        return 0  # nothing new: no message (an empty digest every day is noise)
    ids = {f.patient_id for f in flags}
    patients = {
        p.id or 0: p for p in session.exec(select(Patient).where(col(Patient.id).in_(ids))).all()
    }
    queued = 0
    n = len(flags)
    plural = "flag" if n == 1 else "flags"
    for channel, to in _channels(c):
        key = f"digest:{c.id}:{day.isoformat()}:{channel}"
        if channel == "sms":
            shown = ", ".join(f"#{f.id}" for f in flags[:8]) + (" ..." if n > 8 else "")
            queued += enqueue(
                session,
                key=key,
                to=to,
                body=f"{team.name}: {n} {plural} since the last digest ({shown}) - see the "
                "dashboard or `adherence flags`.",
                purpose="digest",
                now=now,
                valid_until=now + DIGEST_SMS_VALID,
            )
        else:
            text = "\n".join(
                [
                    f"{team.name}: {n} {plural} opened or recurred between "
                    f"{_local(since, zone)} and {_local(due, zone)} ({zone.key}).",
                    "",
                    *_flag_lines(flags, patients, zone),
                    "",
                    "List them: adherence flags --team " + str(team.id),
                ]
            )
            queued += enqueue_email(
                session,
                key=key,
                to=to,
                subject=f"[{team.name}] Daily flag digest {day.isoformat()}: {n} {plural}",
                text=text,
                purpose="digest",
                now=now,
            )
    for f in flags:
        if f.notified_at is None or f.notified_at < f.last_at:
            f.notified_at = now
            session.add(f)
    log.info("digest coordinator=%s flags=%d messages=%d", c.id, n, queued)
    return queued


# --- teams no alert can reach -------------------------------------------------------------


def warn_unreachable_teams(session: Session) -> list[CareTeam]:
    """Log a warning for each care team no coordinator alert can reach (at start-up)."""
    teams = unreachable_teams(session)
    for team in teams:
        log.warning(
            "care team id=%s (%s) has no coordinator an alert can reach: urgent flags such "
            "as a FLARE reply reach nobody; add one with `adherence coordinator add`",
            team.id,
            team.name,
        )
    return teams
