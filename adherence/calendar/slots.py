"""Where an infusion appointment may go: the dose a booking is for, and the label's rules a
slot is checked against.

A slot is checked against the label: the dose's window (earliest / latest, or from its
target date to the end of the label's late window when the label gives no window) and the
minimum spacing after the previous infusion actually given. The spacing is between doses:
the catalog's ``split_phases`` name the phases whose infusions together are one dose
(Ocrevus's and Briumvi's split first dose, Day 1 and Day 15), which are not spaced from
each other; every other pair is, whatever dates the plan has (a late first half moves the
second, not the first maintenance dose). A slot that breaks a rule is
refused with the rule and the dates, unless forced with a reason, which is kept on the
appointment.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from adherence.storage.models import DOSE_OPEN, Appointment, Dose, Plan
from schedules import Regimen
from schedules.localtime import local_instant
from schedules.pieces import Rule

MAX_DURATION_MINUTES = 24 * 60


class AppointmentError(ValueError):
    """A booking, move or cancellation that cannot be done; the message says why."""


class OutsideWindow(AppointmentError):
    """The slot breaks the label's window or spacing (``force_reason`` overrides)."""

    def __init__(self, violations: Sequence[str]) -> None:
        self.violations = list(violations)
        super().__init__("; ".join(self.violations) + " (give a reason to book it anyway)")


def next_infusion(session: Session, plan: Plan) -> Dose | None:
    """The plan's next open clinic infusion (the one a booking is for)."""
    return session.exec(
        select(Dose)
        .where(
            Dose.plan_id == plan.id,
            Dose.kind == "infusion",
            col(Dose.status).in_(DOSE_OPEN),
        )
        .order_by(col(Dose.due_at), col(Dose.id))
        .limit(1)
        .with_for_update()  # two coordinators booking the same dose: one waits
    ).first()


def booked_for(session: Session, dose: Dose) -> Appointment | None:
    return session.exec(
        select(Appointment).where(Appointment.dose_id == dose.id, Appointment.status == "booked")
    ).first()


def _previous_given(session: Session, dose: Dose) -> Dose | None:
    """The plan's last infusion given before ``dose`` (any epoch)."""
    return session.exec(
        select(Dose)
        .where(
            Dose.plan_id == dose.plan_id,
            Dose.kind == "infusion",
            Dose.status == "taken",
            Dose.due_at < dose.due_at,
            Dose.id != dose.id,
        )
        .order_by(col(Dose.due_at).desc())
        .limit(1)
    ).first()


def spaced(spacing: Rule, previous: Dose, dose: Dose) -> bool:
    """Whether the label's minimum spacing holds between these two infusions: always, except
    between two parts of one split dose (both in the rule's ``split_phases``)."""
    split = set(spacing.listed("split_phases"))
    return not (previous.phase in split and dose.phase in split)


def _day(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).date().isoformat()


def check_slot(
    session: Session, *, dose: Dose, regimen: Regimen, start: datetime, zone: ZoneInfo
) -> list[str]:
    """Every label rule the slot breaks, each as one sentence naming the rule and dates."""
    problems: list[str] = []
    asked = start.astimezone(zone).date()
    earliest = dose.earliest or dose.local_date
    if dose.latest is not None:
        closes = local_instant(dose.latest + timedelta(days=1), time(0, 0), zone)
        last_day = dose.latest
    else:
        # No window on the label: from the target date to the end of its late window.
        closes = dose.window_closes_at
        last_day = (closes - timedelta(microseconds=1)).astimezone(zone).date()
    if asked < earliest or start >= closes:
        problems.append(
            f"{asked.isoformat()} is outside this infusion's allowed window "
            f"{earliest.isoformat()} to {last_day.isoformat()} "
            f"(target {dose.local_date.isoformat()})"
        )
    spacing = regimen.rule("min_spacing")
    previous = _previous_given(session, dose)
    if spacing is not None and previous is not None and spaced(spacing, previous, dose):
        gap = timedelta(hours=spacing.number("hours"))
        given = previous.taken_at or previous.due_at
        if start - given < gap:
            problems.append(
                f"{spacing.text.rstrip('.')}: the previous dose was given {_day(given, zone)}, "
                f"so the earliest is {_day(given + gap, zone)}, not {asked.isoformat()}"
            )
    return problems


def validate(at: datetime, now: datetime, location: str | None, duration: int | None) -> None:
    if at.tzinfo is None:
        raise AppointmentError("at: the appointment time needs a time zone")
    if at <= now:
        raise AppointmentError(f"at: {at.isoformat()} is in the past")
    if location is not None and len(location) > 300:
        raise AppointmentError("location: at most 300 characters")
    if duration is not None and not 0 < duration <= MAX_DURATION_MINUTES:
        raise AppointmentError(f"duration: {duration} is not 1 to {MAX_DURATION_MINUTES} minutes")


def forced_reason(force_reason: str | None, problems: list[str]) -> str:
    if not problems:
        return ""
    if force_reason is None or not force_reason.strip():
        raise OutsideWindow(problems)
    return f"{force_reason.strip()} [overrides: {'; '.join(problems)}]"[:500]
