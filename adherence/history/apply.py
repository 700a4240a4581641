"""Applying an import: each row checked completely, then written with what it touches.

Rows go in chunks (``CHUNK``): the chunk's patients, plans and existing doses are read in a
few queries, each plan expanded once, the new doses inserted with one executemany (the
driver's own on SQLite, as materialising does), and the chunk committed, so memory stays
flat however long the file. A chunk runs in a savepoint: if another writer adds one of its
doses meanwhile (the daemon materialising), the chunk is undone and decided again.

What a dose row does (``Dose`` unique by plan, epoch and key):

- no dose yet: a dose is written with the item's key, occasion and due time, the row's
  outcome, ``confirmed_via="import"``, who and when, the source and note, ``late`` as the
  engine judges it (taken after the label's window closed);
- the same outcome already recorded (the same file again): unchanged;
- an open dose (scheduled, reminded, cancelled) or one the engine marked missed: given the
  row's outcome, with a ``DoseChange`` (who, "history import");
- an answer recorded otherwise (a text, a clinic entry, another import): refused, never
  overwritten; a second row of the same file for the same dose: refused.

Plans whose taken doses move the plan (``match.rebasing``: later doses counted from the one
given, a cumulative cap) take their rows one at a time in time order through the engine's own
``dosing.rules.after_taken``, so an infusion given three weeks late moves the next one as a
text reply would; those plans are materialised again once the import is kept.

``strict``: one transaction, rolled back whole if any row is refused. ``dry_run``: every row
checked and counted in one transaction, then rolled back. One ``AuditEvent`` per import
that kept something (action "import", resource "history:<name>", the file's sha256 and the
counts); a dry run or a rolled-back strict import wrote nothing, so it leaves none.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from adherence.dosing.materialize import materialize
from adherence.history import codes
from adherence.history.match import (
    NEAR_DAYS,
    Choice,
    Expansion,
    Patients,
    PlanRef,
    choices,
    describe_plans,
    plan_on,
    plans_of,
)
from adherence.history.result import ImportResult, RowError
from adherence.history.rows import TAKEN, DoseRow, FillRow, Row
from adherence.history.write import VIA, Changed, Decision, Writer, decide
from adherence.storage.audit import record as audit
from adherence.storage.models import Dose, Patient, Plan
from adherence.supply.records import SupplyError, record_fill
from schedules import Catalog, Item
from schedules.localtime import local_instant

CHUNK = 5000
FUTURE_GRACE = timedelta(minutes=5)
MAX_ATTEMPTS = 3

# A Bundle's names for the fields a CSV calls otherwise.
_FHIR_FIELDS = {
    "patient": "subject",
    "regimen": "medicationCodeableConcept",
    "at": "effectiveDateTime",
    "amount": "dosage.dose",
    "unit": "dosage.dose.unit",
    "note": "note",
    "source": "performer",
    "dispensed": "whenHandedOver",
    "days_supply": "daysSupply",
    "quantity": "quantity",
}


def _field(row: DoseRow | FillRow, name: str) -> str:
    return name if row.line is not None else _FHIR_FIELDS.get(name, name)


def _error(row: DoseRow | FillRow, name: str, message: str) -> RowError:
    return RowError(row.origin, _field(row, name), message, row.line)


@dataclass
class Settings:
    catalog: Catalog
    now: datetime
    actor: str
    team_id: int | None = None
    horizon_days: int = 35
    # What this import writes as confirmed_at/updated_at: ``now``, unless an earlier import
    # already used that instant (a frozen or virtual clock), then the next free microsecond,
    # so that a dose stamped with it is known to be this import's own.
    stamp: datetime | None = None

    @property
    def written_at(self) -> datetime:
        return self.stamp or self.now


@dataclass(slots=True)
class Matched:
    """A dose row resolved to its plan, checked and ready to match to an item."""

    n: int  # position in the chunk (refusals are reported in file order)
    row: DoseRow
    ref: PlanRef
    at: datetime  # aware
    day: date  # the row's local date


@dataclass
class Tally:
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    fills_imported: int = 0
    fills_unchanged: int = 0
    errors: list[tuple[int, RowError]] = field(default_factory=list)
    shifted: set[int] = field(default_factory=set)

    def add(self, decision: Decision) -> None:
        if decision.kind == "unchanged":
            self.unchanged += 1
        else:
            self.imported += 1
            self.updated += decision.kind == "update"


def _chunks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def import_history(
    session: Session,
    *,
    rows: Iterable[Row],
    result: ImportResult,
    settings: Settings,
    chunk: int = CHUNK,
) -> ImportResult:
    """Apply ``rows`` (see the module docstring); ``result`` gets the counts. The caller's
    session should hold no pending work: the import commits (or rolls back) itself."""
    if settings.now.tzinfo is None:
        raise ValueError("import_history needs an aware `now`")
    settings = replace(settings, stamp=_free_stamp(session, settings.now))
    single = result.strict or result.dry_run
    shifted: set[int] = set()
    for batch in _chunks(rows, chunk):
        tally = _apply_with_retry(session, batch, settings)
        _merge(result, tally)
        shifted |= tally.shifted
        if not single:
            session.commit()
    if result.dry_run or (result.strict and result.refused):
        session.rollback()
        result.rolled_back = not result.dry_run
        return result
    if result.applied:
        audit(
            session,
            actor=settings.actor,
            team_id=settings.team_id,
            action="import",
            resource=f"history:{result.name}",
            now=settings.now,
            details={"sha256": result.sha256, "kind": result.kind, "actor": settings.actor}
            | result.counts(),
        )
    session.commit()
    if shifted:
        result.rescheduled_plans = sorted(shifted)
        materialize(
            session,
            now=settings.now,
            catalog=settings.catalog,
            horizon_days=settings.horizon_days,
            plan_ids=result.rescheduled_plans,
        )
    return result


def _free_stamp(session: Session, now: datetime) -> datetime:
    stamp = now
    while session.execute(
        sa_select(col(Dose.id))
        .where(col(Dose.confirmed_via) == VIA, col(Dose.confirmed_at) == stamp)
        .limit(1)
    ).first():
        stamp += timedelta(microseconds=1)
    return stamp


def _merge(result: ImportResult, tally: Tally) -> None:
    result.imported += tally.imported
    result.updated += tally.updated
    result.unchanged += tally.unchanged
    result.fills_imported += tally.fills_imported
    result.fills_unchanged += tally.fills_unchanged
    for _, error in sorted(tally.errors, key=lambda e: e[0]):
        result.refuse(error)


def _apply_with_retry(session: Session, batch: list[Row], settings: Settings) -> Tally:
    for attempt in range(MAX_ATTEMPTS):
        try:
            with session.begin_nested():
                return _apply_chunk(session, batch, settings)
        except (Changed, IntegrityError):
            if attempt == MAX_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _apply_chunk(session: Session, batch: list[Row], s: Settings) -> Tally:
    tally = Tally()
    refs = {(r.patient.refs, r.patient.by_id) for r in batch if not isinstance(r, RowError)}
    patients = Patients(session, refs, s.team_id)
    found: dict[int, Patient] = {}
    for values, by_id in refs:
        p = patients.find(values, by_id)
        if p is not None and p.id is not None:
            found[p.id] = p
    plans = plans_of(session, set(found))
    options = choices(s.catalog, plans, found)
    therapies: dict[tuple[str, ...], str | codes.NoTherapy] = {}
    limit = s.now + FUTURE_GRACE

    fast: list[Matched] = []
    slow: dict[int, list[Matched]] = {}
    fills: list[tuple[int, FillRow, list[Plan], Patient]] = []
    for n, row in enumerate(batch):
        if isinstance(row, RowError):
            tally.errors.append((n, row))
            continue
        patient = patients.find(row.patient.refs, row.patient.by_id)
        if patient is None:
            tally.errors.append((n, _error(row, "patient", f"no patient {row.patient.shown!r}")))
            continue
        therapy = therapies.get(row.regimen)
        if therapy is None:
            try:
                therapy = codes.resolve(s.catalog, row.regimen)
            except codes.NoTherapy as exc:
                therapy = exc
            therapies[row.regimen] = therapy
        if isinstance(therapy, codes.NoTherapy):
            tally.errors.append((n, _error(row, "regimen", str(therapy))))
            continue
        choice = options.get((patient.id or 0, therapy))
        if choice is None:
            mine = [p for (pid, _), ps in plans.items() if pid == patient.id for p in ps]
            message = (
                f"patient {row.patient.shown!r} has no {therapy} plan "
                f"(their plans: {describe_plans(mine)})"
            )
            tally.errors.append((n, _error(row, "regimen", message)))
            continue
        if isinstance(row, FillRow):
            fills.append((n, row, [r.plan for r in choice.refs], patient))
            continue
        checked = _check_dose(n, row, choice, limit)
        if isinstance(checked, RowError):
            tally.errors.append((n, checked))
        elif checked.ref.moves:
            slow.setdefault(checked.ref.id, []).append(checked)
        else:
            fast.append(checked)

    writer = Writer(session, now=s.written_at, actor=s.actor)
    _fast(session, fast, s, writer, tally)
    for matched in slow.values():
        _slow(session, matched, s, writer, tally)
    for n, row, own_plans, patient in fills:
        _fill(session, n, row, own_plans, patient, s, tally)
    writer.flush()
    return tally


def _check_dose(n: int, row: DoseRow, choice: Choice, limit: datetime) -> Matched | RowError:
    zone = choice.zone
    at = row.at
    if at.tzinfo is None:
        at = local_instant(at.date(), at.time(), zone)
    if at > limit:
        return _error(row, "at", f"{at.isoformat()} is in the future")
    day = at.astimezone(zone).date()
    ref = choice.on(day)
    if ref is None:
        first = choice.refs[0]
        return _error(
            row, "at", f"{day} is before plan {first.id}'s Day 1 ({first.start_date.isoformat()})"
        )
    if day < ref.epoch_start:
        return _error(
            row,
            "at",
            f"{day} is before plan {ref.id}'s current Day 1 ({ref.epoch_start.isoformat()}, "
            "after a titration restart)",
        )
    if len(row.note) > 500:
        return _error(row, "note", "is longer than 500 characters")
    if len(row.source) > 200:
        return _error(row, "source", "is longer than 200 characters")
    return Matched(n, row, ref, at, day)


def _item(expansions: dict[int, Expansion], m: Matched) -> tuple[Expansion, Item] | RowError:
    exp = expansions[m.ref.id]
    item = exp.nearest(m.at, m.day)
    if item is None:
        return _error(m.row, "at", f"{m.at.isoformat()} matches no dose of plan {m.ref.id}")
    if m.row.amount is not None and m.row.unit.lower() != item.unit.lower():
        return _error(m.row, "unit", f"{m.row.unit!r} is not the dose's unit ({item.unit!r})")
    return exp, item


def _expansions(matched: list[Matched], s: Settings) -> dict[int, Expansion]:
    """Each plan expanded once, over the span of its rows in the chunk."""
    spans: dict[int, tuple[date, date, PlanRef]] = {}
    for m in matched:
        lo, hi, ref = spans.get(m.ref.id, (m.day, m.day, m.ref))
        spans[ref.id] = (min(lo, m.day), max(hi, m.day), ref)
    near = timedelta(days=NEAR_DAYS)
    return {
        pid: Expansion(s.catalog, ref.plan, ref.patient, ref.zone, lo - near, hi + near)
        for pid, (lo, hi, ref) in spans.items()
    }


def _fast(
    session: Session, matched: list[Matched], s: Settings, writer: Writer, tally: Tally
) -> None:
    """Plans a recorded dose does not move: decide every row, then write them together."""
    if not matched:
        return
    expansions = _expansions(matched, s)
    resolved: list[tuple[Matched, Expansion, Item, str]] = []
    for m in matched:
        got = _item(expansions, m)
        if isinstance(got, RowError):
            tally.errors.append((m.n, got))
        else:
            resolved.append((m, got[0], got[1], got[1].key))
    existing = writer.existing({m.ref.id for m, *_ in resolved}, {r[3] for r in resolved})
    seen: dict[tuple[int, int, str], str] = {}
    stamp = s.written_at
    for m, exp, item, item_key in resolved:
        ref = m.ref
        key = (ref.id, ref.epoch, item_key)
        decision = decide(m.row, m.at, item, existing.get(key), seen.get(key), stamp)
        if isinstance(decision, tuple):
            tally.errors.append((m.n, _error(m.row, *decision)))
            continue
        seen[key] = m.row.origin
        writer.apply(decision, m.row, ref, m.at, item, item_key, exp.closes(item))
        tally.add(decision)


def _slow(
    session: Session, matched: list[Matched], s: Settings, writer: Writer, tally: Tally
) -> None:
    """A plan a taken dose may move, its rows in time order. A taken dose recorded on
    another day than planned (or any taken dose of a capped plan) goes through the engine's
    ``after_taken`` at once, and the plan is expanded again after a move; the others are
    written with the chunk's executemany, as on the fast path."""
    from adherence.dosing.plans import regimen_for
    from adherence.dosing.rules import after_taken

    ref = matched[0].ref
    plan = ref.plan
    regimen = regimen_for(s.catalog, plan)
    capped = regimen.rule("stop_at_cap") is not None
    expansions = _expansions(matched, s)
    existing = writer.existing({plan.id or 0}, None)
    seen: dict[tuple[int, int, str], str] = {}
    for m in sorted(matched, key=lambda m: m.at):
        if m.day < plan.epoch_start:
            tally.errors.append(
                (m.n, _error(m.row, "at", f"{m.day} is before plan {plan.id}'s current Day 1"))
            )
            continue
        got = _item(expansions, m)
        if isinstance(got, RowError):
            tally.errors.append((m.n, got))
            continue
        exp, item = got
        key = (ref.id, plan.epoch, item.key)
        decision = decide(m.row, m.at, item, existing.get(key), seen.get(key), s.written_at)
        if isinstance(decision, tuple):
            tally.errors.append((m.n, _error(m.row, *decision)))
            continue
        seen[key] = m.row.origin
        tally.add(decision)
        moves = (
            m.row.status == TAKEN
            and decision.kind != "unchanged"
            and (capped or item.local_date != m.day)
        )
        if not moves:
            writer.apply(decision, m.row, ref, m.at, item, item.key, exp.closes(item))
            continue
        writer.flush()  # the engine reads the plan's doses
        dose = writer.apply_one(decision, m.row, ref, m.at, item, exp.closes(item))
        events = after_taken(
            session,
            catalog=s.catalog,
            plan=plan,
            patient=ref.patient,
            dose=dose,
            regimen=regimen,
            taken_at=m.at,
            now=s.now,
        )
        if any(e.type == "schedule_shift" for e in events):
            expansions = _expansions(matched, s)  # later rows match the moved schedule
            tally.shifted.add(key[0])
        if plan.status != "active":
            tally.shifted.add(key[0])
        session.flush()


def _fill(
    session: Session,
    n: int,
    row: FillRow,
    plans: list[Plan],
    patient: Patient,
    s: Settings,
    tally: Tally,
) -> None:
    zone = ZoneInfo(patient.tz)
    dispensed = row.dispensed
    if isinstance(dispensed, datetime):
        if dispensed.tzinfo is None:
            dispensed = local_instant(dispensed.date(), dispensed.time(), zone)
        dispensed = dispensed.astimezone(zone).date()
    # A fill often comes a few days before the first dose: then it is the first plan's.
    plan = plan_on(plans, dispensed) or plans[0]
    try:
        recorded = record_fill(
            session,
            catalog=s.catalog,
            plan=plan,
            dispensed_on=dispensed,
            days_supply=row.days_supply,
            quantity=row.quantity,
            now=s.now,
            today=s.now.astimezone(zone).date(),
            source=row.source,
            via="import",
            by=s.actor,
        )
    except SupplyError as exc:
        message = str(exc)
        name = next(
            (f for f in ("days_supply", "quantity", "dispensed") if message.startswith(f)),
            "regimen",
        )
        tally.errors.append((n, _error(row, name, message)))
        return
    if recorded.created:
        tally.fills_imported += 1
    else:
        tally.fills_unchanged += 1
