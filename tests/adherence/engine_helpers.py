"""Shared set-up for the engine tests: enrol a patient on a plan, drive the real engine steps
(materialise, dispatch, confirm) on a virtual clock, and read the doses back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from adherence.dosing.confirm import confirm
from adherence.dosing.dispatch import DispatchPolicy, dispatch_due, next_due
from adherence.dosing.materialize import materialize
from adherence.patients.enrollment import create_patient, create_plan, create_team
from adherence.storage.models import CareTeam, Dose, OutboxMessage, Patient, Plan, RuleEvent
from schedules import Catalog

NY = ZoneInfo("America/New_York")
NO_NUDGES = DispatchPolicy(nudges=0)
PHONES = [f"+120255501{n:02d}" for n in range(43, 100)]  # valid US numbers (DC area code)


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0, zone: ZoneInfo = NY) -> datetime:
    """A local wall-clock instant, as an aware datetime."""
    return datetime(y, m, d, hh, mm, tzinfo=zone)


@dataclass
class Enrolled:
    team: CareTeam
    patient: Patient
    plan: Plan


def enroll(
    session: Session,
    catalog: Catalog,
    regimen: str,
    start: date,
    *,
    now: datetime,
    times: list[str] | None = None,
    options: dict[str, str] | None = None,
    tz: str = "America/New_York",
    team: CareTeam | None = None,
    n: int = 0,
    **patient: object,
) -> Enrolled:
    """Enrol patient number ``n`` (its own phone) on ``regimen`` starting ``start``,
    as if the coordinator did it at ``now``."""
    if team is None:
        team = create_team(session, name="Riverside MS Clinic", tz=tz, now=now)
    p = create_patient(
        session,
        team=team,
        name=f"Patient {n}",
        phone=PHONES[n],
        tz=tz,
        now=now,
        **patient,  # type: ignore[arg-type]
    )
    plan = create_plan(
        session,
        catalog=catalog,
        patient=p,
        regimen=regimen,
        start=start,
        now=now,
        times=times,
        options=options,
    )
    return Enrolled(team=team, patient=p, plan=plan)


def doses(session: Session, plan: Plan, *, status: str | None = None) -> list[Dose]:
    """The plan's doses (not monitoring items) in time order, fresh from the database."""
    session.expire_all()
    query = select(Dose).where(Dose.plan_id == plan.id, Dose.kind != "monitoring")
    if status is not None:
        query = query.where(Dose.status == status)
    return list(session.exec(query.order_by(col(Dose.due_at), col(Dose.id))).all())


def open_doses(session: Session, plan: Plan) -> list[Dose]:
    return [d for d in doses(session, plan) if d.status in ("scheduled", "reminded")]


def events(session: Session, *, type_: str | None = None) -> list[RuleEvent]:
    query = select(RuleEvent)
    if type_ is not None:
        query = query.where(RuleEvent.type == type_)
    return list(session.exec(query.order_by(col(RuleEvent.id))).all())


def outbox(session: Session, *, purpose: str | None = None) -> list[OutboxMessage]:
    query = select(OutboxMessage)
    if purpose is not None:
        query = query.where(OutboxMessage.purpose == purpose)
    return list(
        session.exec(query.order_by(col(OutboxMessage.created_at), col(OutboxMessage.id))).all()
    )


def local_date(dose: Dose, zone: ZoneInfo = NY) -> date:
    return dose.due_at.astimezone(zone).date()


@dataclass
class Drive:
    """What happened while driving the engine."""

    events: list[RuleEvent] = field(default_factory=list)
    taken: list[Dose] = field(default_factory=list)


def drive(
    session: Session,
    catalog: Catalog,
    *,
    start: datetime,
    until: datetime,
    take: Callable[[Dose], bool] = lambda dose: True,
    policy: DispatchPolicy = NO_NUDGES,
    horizon_days: int = 10,
    reply_after: timedelta = timedelta(minutes=10),
) -> Drive:
    """Run the engine steps from ``start`` to ``until`` the way the daemon does: materialise
    daily, dispatch whatever is due, sleep until the next due row. A dose that is reminded
    and for which ``take(dose)`` is true is confirmed taken by SMS ``reply_after`` later."""
    out = Drive()
    now = start.astimezone(UTC)
    end = until.astimezone(UTC)
    next_materialize = now
    replies: dict[int, datetime] = {}
    while now <= end:
        if now >= next_materialize:
            materialize(session, now=now, catalog=catalog, horizon_days=horizon_days)
            next_materialize = now + timedelta(days=1)
        for dose_id, when in sorted(replies.items(), key=lambda kv: kv[1]):
            if when <= now:
                del replies[dose_id]
                dose = session.get(Dose, dose_id)
                assert dose is not None
                if dose.status in ("scheduled", "reminded"):
                    confirm(
                        session,
                        catalog=catalog,
                        dose=dose,
                        status="taken",
                        at=when,
                        now=when,
                        via="sms",
                        horizon_days=horizon_days,
                    )
                    out.taken.append(dose)
        result = dispatch_due(session, now=now, catalog=catalog, policy=policy)
        out.events.extend(result.events)
        for dose in session.exec(select(Dose).where(Dose.status == "reminded")).all():
            if dose.id not in replies and dose.kind == "dose" and take(dose):
                replies[dose.id] = now + reply_after  # type: ignore[index]
        candidates = [next_materialize, *replies.values()]
        due = next_due(session)
        if due is not None:
            candidates.append(due)
        now = max(min(candidates), now + timedelta(seconds=1))
    return out
