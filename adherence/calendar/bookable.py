"""What a booking form offers: each of a patient's plans whose next clinic infusion is not
booked yet, with the label's window that ``adherence.calendar.slots.check_slot`` will hold
the slot to.

Read-only (no row lock, unlike ``slots.next_infusion``, which ``book`` takes so that two
coordinators booking the same dose queue): a page that shows the form must not hold a lock.
``book`` checks again when the form is sent, so a form shown just before another booking
is refused then, not double-booked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from adherence.storage.models import DOSE_OPEN, Appointment, Dose, Plan


@dataclass(frozen=True, slots=True)
class Bookable:
    """A plan's next open clinic infusion, not booked, and the days its window allows."""

    plan: Plan
    dose: Dose
    earliest: date
    last_day: date


def window_days(dose: Dose, zone: ZoneInfo) -> tuple[date, date]:
    """The first and last local day of the dose's window, as ``check_slot`` reads it: the
    label's earliest/latest, or from the target date to the end of its late window."""
    earliest = dose.earliest or dose.local_date
    if dose.latest is not None:
        return earliest, dose.latest
    closes = dose.window_closes_at - timedelta(microseconds=1)
    return earliest, closes.astimezone(zone).date()


def bookable(session: Session, plans: list[Plan], zone: ZoneInfo) -> list[Bookable]:
    """For each active plan, its next open infusion when no appointment is booked for it."""
    active = [p for p in plans if p.status == "active" and p.id is not None]
    if not active:
        return []
    doses = session.exec(
        select(Dose)
        .where(
            col(Dose.plan_id).in_([p.id for p in active]),
            Dose.kind == "infusion",
            col(Dose.status).in_(DOSE_OPEN),
        )
        .order_by(col(Dose.plan_id), col(Dose.due_at), col(Dose.id))
    ).all()
    first: dict[int, Dose] = {}
    for d in doses:
        first.setdefault(d.plan_id, d)
    if not first:
        return []
    booked = set(
        session.exec(
            select(Appointment.dose_id).where(
                col(Appointment.dose_id).in_([d.id for d in first.values()]),
                Appointment.status == "booked",
            )
        ).all()
    )
    out: list[Bookable] = []
    for plan in active:
        dose = first.get(plan.id or 0)
        if dose is None or dose.id in booked:
            continue
        earliest, last_day = window_days(dose, zone)
        out.append(Bookable(plan=plan, dose=dose, earliest=earliest, last_day=last_day))
    return out
