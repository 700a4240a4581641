"""Where a patient already on therapy is: a plan's real Day 1 and the dose last given.

Most of a clinic's patients are on a therapy when the clinic starts using the daemon. The
plan then starts on its real Day 1, in the past:

* ``--day N`` (today is Day N) or ``--since DATE`` (the real Day 1): pills and injections
  whose titration is done are in maintenance today, with no titration reminder;
* ``--last-dose DATE[THH:MM]`` for interval therapies (infusions, monthly or 14-day
  injections): the next dose counts from the one actually given, through the same rebase
  the engine applies when a dose is given late (``shift_from_taken``). Without ``--since``
  the Day 1 is worked out so that the last dose is an occasion of the phase it belonged to
  (by default the phase that runs for good: maintenance); the yearly courses of cladribine
  and alemtuzumab take the course (and cycle) the last dose completed.

Only the position is computed here (pure, from the catalog); ``enrollment.create_plan``
stores it and records the last dose as an administration given before enrolment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from adherence.dosing.materialize import dose_values
from adherence.dosing.plans import expected_items, late_window, window_closes
from adherence.patients.enrollment import EnrollmentError, create_plan
from adherence.storage.models import Dose, DoseStatus, Patient, Plan
from schedules import Catalog, Regimen, local_instant
from schedules.expand import occasions
from schedules.pieces import Phase

# How far ahead of Day 1 the occasions are walked to find a phase (a second yearly course
# is about 13 months after Day 1; a 6-monthly infusion's first maintenance dose 6 months).
_LOOKAHEAD_DAYS = 900


class PositionError(EnrollmentError):
    """A mid-therapy position that does not fit the therapy; the message names the option."""


@dataclass(frozen=True)
class LastDose:
    """The dose last given before enrolment: its occasion and when it was given."""

    occasion: int
    phase: str
    given_on: date
    given_at: time | None  # the time of day, when it was given


@dataclass(frozen=True)
class Position:
    start: date  # the plan's Day 1
    rebases: dict[int, date]  # occasion -> date actually given (as the engine keeps them)
    last_dose: LastDose | None = None


def phase_name(regimen: Regimen, course: int | None, cycle: int | None) -> str | None:
    """The phase named by ``--course``/``--cycle`` ("course 2 cycle 1", "course 2")."""
    if course is None:
        if cycle is not None:
            raise PositionError("--cycle needs --course (which course the cycle is in)")
        return None
    wanted = f"course {course}" + (f" cycle {cycle}" if cycle is not None else "")
    names = [p.name for p in regimen.phases]
    if wanted in names:
        return wanted
    if cycle is None and any(n.startswith(wanted + " cycle") for n in names):
        raise PositionError(f"--course {course}: {regimen.name} courses have cycles (give --cycle)")
    courses = sorted({n.split(" cycle")[0] for n in names if n.startswith("course ")})
    if not courses:
        raise PositionError(f"--course: {regimen.name} is not given in courses")
    raise PositionError(
        f"--course {course}"
        + (f" --cycle {cycle}" if cycle is not None else "")
        + f": {regimen.name} has {', '.join(names)}"
    )


def _phase(regimen: Regimen, name: str | None) -> Phase:
    if name is not None:
        for p in regimen.phases:
            if p.name == name:
                return p
        raise PositionError(
            f"--phase {name!r}: {regimen.name} has {', '.join(p.name for p in regimen.phases)}"
        )
    running = [p for p in regimen.phases if not p.finite]
    if running:
        return running[-1]
    raise PositionError(
        f"--last-dose: {regimen.name} is given in courses; say which one the last dose "
        "completed with --course (and --cycle)"
    )


def _occasions_of(regimen: Regimen, start: date, until: date) -> list[tuple[int, str, date]]:
    return [(o.index, o.phase.name, o.day) for o in occasions(regimen, start=start, until=until)]


def position(
    regimen: Regimen,
    *,
    today: date,
    start: date | None = None,
    day: int | None = None,
    since: date | None = None,
    last_dose: date | None = None,
    last_dose_time: time | None = None,
    phase: str | None = None,
) -> Position:
    """The plan's Day 1 and rebases from what the coordinator knows. At most one of
    ``start``, ``day`` and ``since``; ``last_dose`` alone works out Day 1 from it."""
    given = [name for name, v in (("--start", start), ("--day", day), ("--since", since)) if v]
    if len(given) > 1:
        raise PositionError(f"give one of {', '.join(given)}: each sets Day 1")
    if day is not None:
        if day < 1:
            raise PositionError(f"--day {day}: Day 1 is the first day of therapy (1 or more)")
        start = today - timedelta(days=day - 1)
    elif since is not None:
        if since > today:
            raise PositionError(
                f"--since {since.isoformat()} is in the future: --since is the real Day 1 "
                "(in the past); use --start for a plan that starts later"
            )
        start = since
    if last_dose is None:
        if phase is not None:
            raise PositionError("--course/--phase say where the last dose was: give --last-dose")
        if start is None:
            raise PositionError("give --start, --day, --since or --last-dose")
        return Position(start=start, rebases={})
    if last_dose > today:
        raise PositionError(f"--last-dose {last_dose.isoformat()} is in the future")
    if start is not None:
        return _from_start(regimen, start, last_dose, last_dose_time, phase, today)
    return _from_last_dose(regimen, last_dose, last_dose_time, phase)


def _from_start(
    regimen: Regimen,
    start: date,
    last: date,
    at: time | None,
    phase: str | None,
    today: date,
) -> Position:
    """Day 1 is known: the last dose is the occasion (of ``phase``, if given) due nearest to
    the day it was given, and is rebased to that day."""
    if last < start:
        raise PositionError(f"--last-dose {last.isoformat()} is before Day 1 ({start.isoformat()})")
    candidates = [
        o
        for o in _occasions_of(regimen, start, max(today, last) + timedelta(days=_LOOKAHEAD_DAYS))
        if phase is None or o[1] == phase
    ]
    if not candidates:
        raise PositionError(f"--last-dose: no {phase or 'dose'} of {regimen.name} after Day 1")
    index, name, due = min(candidates, key=lambda o: (abs((o[2] - last).days), o[0]))
    rebases = {index: last} if due != last else {}
    return Position(start=start, rebases=rebases, last_dose=LastDose(index, name, last, at))


def _from_last_dose(
    regimen: Regimen, last: date, at: time | None, phase_name_: str | None
) -> Position:
    """Day 1 unknown: place Day 1 so that the last dose is the phase's reference occasion
    (its last one for a course that ends, its first one for a phase that runs for good)."""
    target = _phase(regimen, phase_name_)
    probe = last - timedelta(days=_LOOKAHEAD_DAYS)
    found = [o for o in _occasions_of(regimen, probe, last + timedelta(days=_LOOKAHEAD_DAYS))]
    mine = [o for o in found if o[1] == target.name]
    if not mine:
        raise PositionError(f"--last-dose: {regimen.name} never reaches {target.name!r}")
    index, _, due = mine[-1] if target.finite else mine[0]
    # Day 1 moved by the reference occasion's distance from it; calendar months make that
    # distance depend on Day 1, so the occasion is found again and rebased onto the date.
    start = last - (due - probe)
    again = [o for o in _occasions_of(regimen, start, last + timedelta(days=62)) if o[0] == index]
    rebases = {index: last} if not again or again[0][2] != last else {}
    return Position(start=start, rebases=rebases, last_dose=LastDose(index, target.name, last, at))


def last_dose_instant(value: str) -> tuple[date, time | None]:
    """``DATE`` or ``DATETHH:MM`` (local): the day and, when given, the time."""
    text = value.strip()
    try:
        if "T" in text:
            parsed = datetime.fromisoformat(text)
            if parsed.tzinfo is not None:
                raise ValueError("give the local time, without an offset")
            return parsed.date(), parsed.time().replace(second=0, microsecond=0)
        return date.fromisoformat(text), None
    except ValueError as exc:
        raise PositionError(
            f"--last-dose {value!r}: {exc} (YYYY-MM-DD or YYYY-MM-DDTHH:MM, local)"
        ) from None


def record_last_dose(
    session: Session,
    *,
    catalog: Catalog,
    plan: Plan,
    patient: Patient,
    last: LastDose,
    now: datetime,
    by: str,
) -> Dose:
    """The dose given before enrolment, recorded as taken (``confirmed_via`` "enrolment"):
    the feed, the dose list and the measures show it, and the next dose counts from it.
    Flushed, not committed (the plan and its last dose are committed together)."""
    zone = ZoneInfo(patient.tz)
    regimen, items = expected_items(
        catalog, plan, patient, until=last.given_on + timedelta(days=1), since=last.given_on
    )
    item = next((i for i in items if i.occasion == last.occasion and i.kind != "monitoring"), None)
    if item is None:  # the rebase put it there; only a catalog error could make this fail
        raise PositionError(f"--last-dose: occasion {last.occasion} of plan {plan.id} not found")
    taken_at = local_instant(last.given_on, last.given_at or item.local_time, zone)
    values = dose_values(
        plan.id or 0,
        patient.id or 0,
        plan.epoch,
        item.key,
        item,
        window_closes(item, regimen, zone),
        now,
    )
    values.update(
        status=DoseStatus.TAKEN,
        late=taken_at > item.at + late_window(regimen),
        taken_at=taken_at,
        confirmed_at=now,
        confirmed_via="enrolment",
        confirmed_by=by,
        source="last dose given before enrolment",
        next_action_at=None,
    )
    dose = Dose(**values)
    session.add(dose)
    session.flush()
    return dose


def start_plan(
    session: Session,
    *,
    catalog: Catalog,
    patient: Patient,
    regimen: str,
    where: Position,
    now: datetime,
    by: str,
    times: list[str] | None = None,
    options: dict[str, str] | None = None,
) -> Plan:
    """Create the plan at ``where`` and record its last dose, in one commit (a refusal
    leaves nothing behind). Raises ``EnrollmentError`` naming the problem."""
    try:
        plan = create_plan(
            session,
            catalog=catalog,
            patient=patient,
            regimen=regimen,
            start=where.start,
            now=now,
            times=times,
            options=options,
            rebases=where.rebases,
            commit=False,
        )
        if where.last_dose is not None:
            record_last_dose(
                session,
                catalog=catalog,
                plan=plan,
                patient=patient,
                last=where.last_dose,
                now=now,
                by=by,
            )
        session.commit()
    except (EnrollmentError, PositionError):
        session.rollback()
        raise
    session.refresh(plan)
    return plan
