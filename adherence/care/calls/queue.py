"""Today's call list: the team's patients who need a person today, ranked by risk.

Built from a fixed handful of statements whatever the team's size (the team's open flags
with their patients; the plans whose supply is running out; each patient's latest call; the
calls made today; the candidates' latest answers), then ranked in Python.

Tiers, most serious first:
1. urgent: a flare, a repeat first-dose observation, an opt-out, an undeliverable phone, and
   any flag raised as urgent;
2. missed doses in a row (more missed first), a titration restarted at Day 1;
3. refill overdue (flagged first), then home supply running out (run-out soonest first);
4. an infusion outside its window, a label check (lab, exam) not recorded inside its window;
5. low PDC (lowest first), silence.
Inside a tier, the older reason (``first_at``) first.

Supply "running out" is read from the plan's row, as ``adherence.supply.schedule`` keeps
it: the overdue instant is still pending (no ``refill_overdue`` flag yet), the plan has been
recomputed since its last fill (``supply_checked_on`` set), and the reminder instant has
passed (it is cleared once the text went, and set again by a newer fill).

The queue: a call result takes the patient off the list. No answer and voicemail bring them
back after ``[workspace] retry_days``, call back later after ``call_back_days``
(``CallResult.requeue_at``); any result is overridden by a reason newer than the call (a flag
whose ``last_at`` is after it, a new flag, a refill reminder come due since).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from adherence.core.config import Settings
from adherence.storage.models import FLAG_OPEN, CareTeam, Flag, InboundMessage, Patient, Plan
from adherence.storage.public import FLAG_TITLES
from adherence.storage.workspace import CallResult

SUPPLY = "supply_low"  # a reason with no flag behind it (yet): the plan's refill instants
TIERS: dict[str, int] = {
    "flare_reported": 1,
    "repeat_first_dose_observation": 1,
    "opted_out": 1,
    "undeliverable": 1,
    "missed_doses": 2,
    "titration_restart": 2,
    "refill_overdue": 3,
    SUPPLY: 3,
    "infusion_overdue": 4,
    "monitoring_overdue": 4,
    "visit_overdue": 4,
    "low_pdc": 5,
    "silence": 5,
}
LAST_TIER = 5
NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Reason:
    """Why a patient needs a call: one open flag, or the supply running out."""

    rule: str
    tier: int
    words: str
    severity: str
    first_at: datetime
    last_at: datetime  # NEVER when unknown (a supply reason whose reminder already went)
    flag_id: int | None = None
    status: str = ""  # open | acknowledged, for a flag
    rank: tuple[float, float] = (0.0, 0.0)  # inside the tier, before first_at

    @property
    def key(self) -> tuple[int, float, float, datetime]:
        return (self.tier, *self.rank, self.first_at)


@dataclass(frozen=True)
class LastCall:
    outcome: str
    at: datetime
    by: str
    requeue_at: datetime | None


@dataclass
class CallRow:
    """One patient on (or waiting to come back on) the call list."""

    patient_id: int
    name: str
    phone: str
    tz: str
    reasons: list[Reason] = field(default_factory=list)
    last_call: LastCall | None = None
    answer_at: datetime | None = None
    answer_intent: str = ""

    @property
    def tier(self) -> int:
        return min(r.tier for r in self.reasons)

    @property
    def flags(self) -> list[Reason]:
        return [r for r in self.reasons if r.flag_id is not None]

    @property
    def key(self) -> tuple[int, float, float, datetime, int]:
        return (*min(r.key for r in self.reasons), self.patient_id)

    @property
    def back(self) -> bool:
        """On the list again after an earlier call (its requeue time came, or a newer reason)."""
        return self.last_call is not None


@dataclass
class CallList:
    rows: list[CallRow]  # who to call, in order
    waiting: list[CallRow]  # called, coming back at their requeue time (soonest first)
    called_today: int  # call results the team recorded since midnight (team's zone)


def tier_of(rule: str, severity: str) -> int:
    return 1 if severity == "urgent" else TIERS.get(rule, LAST_TIER)


def _number(details: dict[str, Any], *keys: str) -> float | None:
    for key in keys:
        value = details.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def flag_reason(
    *,
    flag_id: int,
    rule: str,
    severity: str,
    status: str,
    first_at: datetime,
    last_at: datetime,
    details: dict[str, Any],
) -> Reason:
    """A flag as a reason: its tier, its place inside the tier and the words for it."""
    tier = tier_of(rule, severity)
    words = FLAG_TITLES.get(rule, rule.replace("_", " "))
    rank = (0.0, 0.0)
    if rule == "missed_doses":
        missed = _number(details, "missed_in_a_row", "missed")
        if missed is not None:
            words = f"{missed:.0f} doses missed in a row"
        rank = (-(missed or 0.0), 0.0)
    elif rule == "titration_restart":
        words = "titration restarted at Day 1 (needs a new start)"
    elif rule == "low_pdc":
        pdc = _number(details, "pdc")
        if pdc is not None:
            words = f"proportion of days covered {100 * pdc:.0f}%, below threshold"
        rank = (pdc if pdc is not None else 1.0, 0.0)
    elif rule == "silence":
        texts, days = _number(details, "unanswered_texts"), _number(details, "days")
        if texts is not None and days is not None:
            words = f"no answer to {texts:.0f} texts in {days:.0f} days"
        rank = (1.0, 0.0)  # after any low PDC
    elif rule == "infusion_overdue":
        late = _number(details, "days_late")
        if late is not None:
            words = f"infusion {late:.0f} days past the end of its window"
    elif rule == "refill_overdue":
        words = "home supply ran out and no refill was dispensed"
    if tier == 1:
        rank = (0.0, 0.0)  # urgent: only the age orders them
        if TIERS.get(rule) != 1:
            words = f"{words} (urgent)"
    return Reason(
        rule=rule,
        tier=tier,
        words=words,
        severity=severity,
        first_at=first_at,
        last_at=last_at,
        flag_id=flag_id,
        status=status,
        rank=rank,
    )


def supply_reason(*, remind_at: datetime | None, overdue_at: datetime) -> Reason:
    """Supply running out: after any refill_overdue flag, the soonest run-out first."""
    return Reason(
        rule=SUPPLY,
        tier=TIERS[SUPPLY],
        words="home supply running out, no new fill yet",
        severity="normal",
        first_at=overdue_at,
        last_at=remind_at or NEVER,
        rank=(1.0, 0.0),
    )


def on_list(reasons: Iterable[Reason], last: LastCall | None, now: datetime) -> bool:
    """The queue rule: never called, a reason newer than the call, or the requeue time came."""
    if last is None:
        return True
    if any(r.last_at > last.at for r in reasons):
        return True
    return last.requeue_at is not None and last.requeue_at <= now


def _start_of_day(now: datetime, tz: str) -> datetime:
    zone = ZoneInfo(tz)
    return datetime.combine(now.astimezone(zone).date(), time(0, 0), zone)


def call_list(session: Session, *, team_id: int, now: datetime, settings: Settings) -> CallList:
    """Today's call list for a team (six statements, whatever the team's size or history)."""
    rows: dict[int, CallRow] = {}

    def row(pid: int, name: str, phone: str, tz: str) -> CallRow:
        found = rows.get(pid)
        if found is None:
            found = rows[pid] = CallRow(patient_id=pid, name=name, phone=phone, tz=tz)
        return found

    db = session.connection()
    flags = db.execute(
        sa_select(
            col(Flag.id),
            col(Flag.patient_id),
            col(Flag.rule),
            col(Flag.severity),
            col(Flag.status),
            col(Flag.first_at),
            col(Flag.last_at),
            col(Flag.details_json),
            col(Patient.name),
            col(Patient.phone),
            col(Patient.tz),
        )
        .join(Patient, col(Patient.id) == Flag.patient_id)
        .where(
            col(Flag.team_id) == team_id,
            col(Patient.team_id) == team_id,
            col(Flag.status).in_(FLAG_OPEN),
            col(Patient.active),
        )
    ).all()
    for fid, pid, rule, severity, status, first_at, last_at, details, name, phone, tz in flags:
        assert fid is not None
        row(pid, name, phone, tz).reasons.append(
            flag_reason(
                flag_id=fid,
                rule=rule,
                severity=severity,
                status=status,
                first_at=first_at,
                last_at=last_at,
                details=json.loads(details),
            )
        )
    running_out = db.execute(
        sa_select(
            col(Plan.patient_id),
            col(Plan.refill_remind_at),
            col(Plan.refill_overdue_at),
            col(Patient.name),
            col(Patient.phone),
            col(Patient.tz),
        )
        .join(Patient, col(Patient.id) == Plan.patient_id)
        .where(
            col(Patient.team_id) == team_id,
            col(Patient.active),
            col(Plan.status) == "active",
            col(Plan.supply_checked_on).is_not(None),
            col(Plan.refill_overdue_at).is_not(None),
            or_(col(Plan.refill_remind_at).is_(None), col(Plan.refill_remind_at) <= now),
        )
    ).all()
    for pid, remind_at, overdue_at, name, phone, tz in running_out:
        assert overdue_at is not None
        r = row(pid, name, phone, tz)
        if not any(x.rule == "refill_overdue" for x in r.reasons):
            r.reasons.append(supply_reason(remind_at=remind_at, overdue_at=overdue_at))

    # Only the candidates' calls: the cost follows today's list, not the years of history.
    latest = (
        select(func.max(CallResult.id))
        .where(CallResult.team_id == team_id, col(CallResult.patient_id).in_(list(rows)))
        .group_by(col(CallResult.patient_id))
    )
    calls = db.execute(
        sa_select(
            col(CallResult.patient_id),
            col(CallResult.outcome),
            col(CallResult.at),
            col(CallResult.by),
            col(CallResult.requeue_at),
        ).where(col(CallResult.id).in_(latest))
    ).all()
    for pid, outcome, at, by, requeue in calls:
        if pid in rows:
            rows[pid].last_call = LastCall(outcome=outcome, at=at, by=by, requeue_at=requeue)

    team = session.get(CareTeam, team_id)
    since = _start_of_day(now, team.tz if team is not None else "UTC")
    called_today = session.exec(
        select(func.count())
        .select_from(CallResult)
        .where(CallResult.team_id == team_id, CallResult.at >= since)
    ).one()

    due = [r for r in rows.values() if on_list(r.reasons, r.last_call, now)]
    _add_answers(session, due)
    for r in rows.values():
        r.reasons.sort(key=lambda x: x.key)
    listed = {r.patient_id for r in due}
    waiting = sorted(
        (
            (r.last_call.requeue_at, r.patient_id, r)
            for r in rows.values()
            if r.patient_id not in listed
            and r.last_call is not None
            and r.last_call.requeue_at is not None
        ),
        key=lambda t: (t[0], t[1]),
    )
    return CallList(
        rows=sorted(due, key=lambda r: r.key),
        waiting=[t[2] for t in waiting],
        called_today=int(called_today),
    )


def _add_answers(session: Session, rows: list[CallRow]) -> None:
    """Each patient's most recent inbound text: when, and what it was read as (never its
    body). One statement for all of them."""
    if not rows:
        return
    by_id = {r.patient_id: r for r in rows}
    last = (
        select(
            col(InboundMessage.patient_id).label("pid"),
            func.max(InboundMessage.received_at).label("at"),
        )
        .where(col(InboundMessage.patient_id).in_(list(by_id)))
        .group_by(col(InboundMessage.patient_id))
        .subquery()
    )
    answers = session.exec(
        select(InboundMessage.patient_id, InboundMessage.received_at, InboundMessage.intent)
        .join(
            last,
            (last.c.pid == InboundMessage.patient_id) & (last.c.at == InboundMessage.received_at),
        )
        .order_by(col(InboundMessage.id))
    ).all()
    for pid, at, intent in answers:
        if pid is not None and pid in by_id:
            by_id[pid].answer_at = at
            by_id[pid].answer_intent = intent or "unknown"
