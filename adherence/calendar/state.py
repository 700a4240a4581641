"""What an appointment stands at, derived from the dose it was booked for.

The appointment row keeps its own lifecycle (booked, cancelled: what the clinic did with the
slot); whether the infusion happened is the dose's recorded truth, so it is read from there
and never copied: a correction of the dose shows at once everywhere the appointment does
(``appointment list``, the calendar feeds).

- ``given``: the dose is recorded taken;
- ``not given``: the dose is recorded missed, skipped or not recorded (window closed);
- otherwise the row's own status (``booked``, ``cancelled``).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, col, select

from adherence.storage.models import Appointment, Dose

GIVEN = "given"
NOT_GIVEN = "not given"
_NOT_GIVEN = frozenset({"missed", "skipped", "not_sent"})


def state(appointment: Appointment, dose_status: str | None) -> str:
    """``given`` / ``not given`` once a booked appointment's dose is recorded, else the
    appointment's own status."""
    if appointment.status != "booked" or dose_status is None:
        return appointment.status
    if dose_status == "taken":
        return GIVEN
    if dose_status in _NOT_GIVEN:
        return NOT_GIVEN
    return appointment.status


def dose_statuses(session: Session, appointments: Iterable[Appointment]) -> dict[int, str]:
    """The status of each appointment's dose, by dose id (one query)."""
    ids = {a.dose_id for a in appointments if a.dose_id is not None}
    if not ids:
        return {}
    rows = session.exec(select(Dose.id, Dose.status).where(col(Dose.id).in_(ids))).all()
    return {int(i): s for i, s in rows if i is not None}


def states(session: Session, appointments: Iterable[Appointment]) -> dict[int, str]:
    """Each appointment's state (``state``), by appointment id."""
    rows = list(appointments)
    statuses = dose_statuses(session, rows)
    return {
        a.id: state(a, statuses.get(a.dose_id) if a.dose_id is not None else None)
        for a in rows
        if a.id is not None
    }
