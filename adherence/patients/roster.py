"""CSV roster import: patients and their therapy plans, idempotent by external id.

One row is one patient and one plan. Every row is checked; a bad row is reported (its
physical line, the column, the reason) and skipped while the good rows are imported, each
in its own transaction, so a bad row never leaves half of itself behind. A patient whose
external id is already enrolled is not enrolled again: the row adds its plan unless the
patient already has a plan with the same regimen and start date (then it is unchanged).
Running the same file twice therefore changes nothing the second time.

The caller's session should hold no pending work: the import commits (or, for a dry run,
rolls back) row by row.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from adherence.dosing.materialize import materialize
from adherence.patients.enrollment import (
    EnrollmentError,
    NotFound,
    create_patient,
    create_plan,
    find_team,
    shared_phone_warning,
    valid_phone,
    valid_quiet_hours,
    valid_zone,
)
from adherence.storage.models import CareTeam, Patient, Plan
from notifiers.texts import LANGUAGES
from schedules import Catalog, OptionError, UnknownTherapy

REQUIRED = ("external_id", "team", "name", "phone", "tz", "regimen", "start")
OPTIONAL = ("times", "options", "discreet", "quiet_hours", "language", "email")
COLUMNS = REQUIRED + OPTIONAL
HORIZON_DAYS = 35

_TRUE = {"yes", "true", "1", "y"}
_FALSE = {"no", "false", "0", "n"}


@dataclass
class RowError:
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


@dataclass
class ImportReport:
    created_patients: int
    created_plans: int
    unchanged: int
    errors: list[RowError]
    dry_run: bool
    notes: list[str] = field(default_factory=list)  # informational, e.g. fields left as stored
    plan_ids: list[int] = field(default_factory=list)  # plans created (none on a dry run)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        verb = "would be created" if self.dry_run else "created"
        text = (
            f"{self.created_patients} patient(s) and {self.created_plans} plan(s) {verb}, "
            f"{self.unchanged} row(s) unchanged, {len(self.errors)} error(s)"
        )
        return text + (" (dry run: nothing written)" if self.dry_run else "")


@dataclass
class _Row:
    line: int
    external_id: str
    team: CareTeam
    name: str
    phone: str  # E.164
    tz: str
    discreet: bool
    quiet_hours: str | None
    quiet: tuple[str | None, str | None]
    language: str
    email: str
    regimen: str  # catalog code
    start: date
    times: list[str]
    options: dict[str, str]

    def patient_fields(self) -> dict[str, Any]:
        return {
            "team": self.team.id,
            "name": self.name,
            "phone": self.phone,
            "tz": self.tz,
            "discreet": self.discreet,
            "quiet_hours": self.quiet,
            "language": self.language,
            "email": self.email,
        }


def _stored_fields(patient: Patient) -> dict[str, Any]:
    return {
        "team": patient.team_id,
        "name": patient.name,
        "phone": patient.phone,
        "tz": patient.tz,
        "discreet": patient.discreet,
        "quiet_hours": (patient.quiet_start, patient.quiet_end),
        "language": patient.language,
        "email": patient.email,
    }


def _strip_prefix(message: str, *prefixes: str) -> str:
    """An enrollment message without the field name it starts with (the column says it)."""
    for prefix in prefixes:
        for sep in (": ", " "):
            if message.startswith(prefix + sep):
                return message[len(prefix) + len(sep) :]
    return message


def _parse_bool(raw: str) -> bool:
    word = raw.strip().lower()
    if not word:
        return True
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise EnrollmentError(f"{raw!r} is not yes or no (yes/no/true/false/1/0)")


def _parse_times(raw: str) -> list[str]:
    return [t for t in re.split(r"[;\s]+", raw.strip()) if t]


def _parse_options(raw: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for part in raw.split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise EnrollmentError(f"{part.strip()!r} is not KEY=VALUE (e.g. strength=40)")
        if key in options:
            raise EnrollmentError(f"option {key!r} is given twice")
        options[key] = value
    return options


def _parse_header(header: list[str]) -> tuple[list[str], list[RowError]]:
    names = [h.strip().lower() for h in header]
    errors: list[RowError] = []
    seen: set[str] = set()
    for name in names:
        if name not in COLUMNS:
            hint = ""
            if len(names) == 1 and ";" in name:
                hint = "; columns must be separated by commas"
            errors.append(
                RowError(
                    1,
                    name or "(blank)",
                    f"unknown column {name!r}; known columns: {', '.join(COLUMNS)}{hint}",
                )
            )
        elif name in seen:
            errors.append(RowError(1, name, "column appears twice"))
        seen.add(name)
    for name in REQUIRED:
        if name not in seen:
            errors.append(RowError(1, name, "required column is missing"))
    return names, errors


def _check_row(
    session: Session,
    catalog: Catalog,
    line: int,
    values: dict[str, str],
    teams: dict[str, CareTeam],
) -> tuple[_Row | None, list[RowError]]:
    """Validate every column of one row; the row, or every problem found in it."""
    errors: list[RowError] = []

    def fail(column: str, reason: str) -> None:
        errors.append(RowError(line, column, reason))

    for column in REQUIRED:
        if not values.get(column, "").strip():
            fail(column, "is empty")

    external_id = values.get("external_id", "").strip()
    name = values.get("name", "").strip()

    team: CareTeam | None = None
    team_ref = values.get("team", "").strip()
    if team_ref:
        team = teams.get(team_ref)
        if team is None:
            try:
                team = teams[team_ref] = find_team(session, team_ref)
            except NotFound as exc:
                fail("team", str(exc))

    phone = values.get("phone", "")
    if phone.strip():
        try:
            phone = valid_phone(phone)
        except EnrollmentError as exc:
            fail("phone", _strip_prefix(str(exc), "phone"))

    tz = values.get("tz", "").strip()
    if tz:
        try:
            valid_zone(tz)
        except EnrollmentError as exc:
            fail("tz", _strip_prefix(str(exc), "tz"))

    discreet = True
    try:
        discreet = _parse_bool(values.get("discreet", ""))
    except EnrollmentError as exc:
        fail("discreet", str(exc))

    quiet_hours = values.get("quiet_hours", "").strip() or None
    quiet: tuple[str | None, str | None] = (None, None)
    try:
        quiet = valid_quiet_hours(quiet_hours)
    except EnrollmentError as exc:
        fail("quiet_hours", _strip_prefix(str(exc), "quiet hours"))

    language = values.get("language", "").strip().lower() or "en"
    if language not in LANGUAGES:
        fail("language", f"{language!r} is not one of {', '.join(LANGUAGES)}")

    email = values.get("email", "").strip()

    start: date | None = None
    start_raw = values.get("start", "").strip()
    if start_raw:
        try:
            start = date.fromisoformat(start_raw)
        except ValueError:
            fail("start", f"{start_raw!r} is not a date (YYYY-MM-DD)")

    options: dict[str, str] = {}
    options_ok = True
    try:
        options = _parse_options(values.get("options", ""))
    except EnrollmentError as exc:
        options_ok = False
        fail("options", str(exc))

    code = ""
    regimen_raw = values.get("regimen", "").strip()
    if regimen_raw:
        try:
            therapy = catalog.get(regimen_raw)
        except UnknownTherapy as exc:
            fail("regimen", str(exc))
        else:
            code = therapy.code
            if options_ok:
                try:
                    therapy.regimen(options)
                except OptionError as exc:
                    fail("options", str(exc))

    times = _parse_times(values.get("times", ""))

    if errors or team is None or start is None:
        return None, errors
    row = _Row(
        line=line,
        external_id=external_id,
        team=team,
        name=name,
        phone=phone,
        tz=tz,
        discreet=discreet,
        quiet_hours=quiet_hours,
        quiet=quiet,
        language=language,
        email=email,
        regimen=code,
        start=start,
        times=times,
        options=options,
    )
    return row, []


def _plan_error_field(message: str) -> tuple[str, str]:
    if message.startswith("time: "):
        return "times", message[len("time: ") :]
    if "time" in message:
        return "times", message
    return "regimen", message


def _records(text: str) -> tuple[list[str] | None, list[tuple[int, list[str]]]]:
    """The header and the data rows, each with the physical line it starts on."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    last = 0
    for record in reader:
        line = last + 1
        last = reader.line_num
        if not any(cell.strip() for cell in record):
            continue  # blank line
        if header is None:
            header = record
        else:
            rows.append((line, record))
    return header, rows


def import_roster(
    session: Session,
    *,
    catalog: Catalog,
    text: str,
    now: datetime,
    dry_run: bool = False,
) -> ImportReport:
    """Import a CSV roster (see the module docstring); ``dry_run`` checks and writes nothing."""
    if now.tzinfo is None:
        raise ValueError("import_roster needs an aware `now`")
    report = ImportReport(
        created_patients=0, created_plans=0, unchanged=0, errors=[], dry_run=dry_run
    )
    try:
        header, records = _records(text)
    except csv.Error as exc:
        report.errors.append(RowError(1, "file", f"is not readable CSV: {exc}"))
        return report
    if header is None:
        report.errors.append(RowError(1, "header", "the file is empty (a header row is needed)"))
        return report
    columns, header_errors = _parse_header(header)
    if header_errors:
        report.errors.extend(header_errors)
        return report

    teams: dict[str, CareTeam] = {}
    # external id -> (patient fields, plans) this run created (or, dry, would create).
    seen: dict[str, tuple[dict[str, Any], set[tuple[str, date]]]] = {}
    new_plan_ids: list[int] = []

    for line, record in records:
        if len(record) > len(columns) and any(c.strip() for c in record[len(columns) :]):
            report.errors.append(
                RowError(line, "row", f"has {len(record)} fields, the header has {len(columns)}")
            )
            continue
        values = {col: (record[i] if i < len(record) else "") for i, col in enumerate(columns)}
        row, errors = _check_row(session, catalog, line, values, teams)
        if row is None:
            report.errors.extend(errors)
            continue

        existing = _find_patient(session, row.external_id)
        plans: set[tuple[str, date]] = set()
        stored: dict[str, Any] | None = None
        if existing is not None:
            stored = _stored_fields(existing)
            plans = _plans_of(session, existing)
        if row.external_id in seen:
            first_fields, planned = seen[row.external_id]
            if stored is None:
                stored = first_fields
            plans |= planned
        if stored is not None:
            mine = row.patient_fields()
            differ = [k for k, v in mine.items() if stored[k] != v]
            if differ:
                report.notes.append(
                    f"line {line}: patient {row.external_id!r} is already enrolled; "
                    f"{', '.join(differ)} in the roster differ and were left as stored"
                )
        if (row.regimen, row.start) in plans:
            report.unchanged += 1
            continue

        try:
            patient = existing or create_patient(
                session,
                team=row.team,
                name=row.name,
                phone=row.phone,
                tz=row.tz,
                now=now,
                external_id=row.external_id,
                discreet=row.discreet,
                quiet_hours=row.quiet_hours,
                language=row.language,
                email=row.email,
                commit=False,
            )
        except (EnrollmentError, IntegrityError) as exc:
            session.rollback()
            reason = str(exc) if isinstance(exc, EnrollmentError) else "is already enrolled"
            report.errors.append(RowError(line, "external_id", reason))
            continue
        if existing is None and (shared := shared_phone_warning(session, patient)) is not None:
            report.notes.append(f"line {line}: {shared}")
        try:
            plan = create_plan(
                session,
                catalog=catalog,
                patient=patient,
                regimen=row.regimen,
                start=row.start,
                now=now,
                times=row.times,
                options=row.options,
                commit=False,
            )
        except EnrollmentError as exc:
            session.rollback()  # the patient goes too
            column, reason = _plan_error_field(str(exc))
            report.errors.append(RowError(line, column, reason))
            continue
        if dry_run:
            session.rollback()
        else:
            plan_id = plan.id
            session.commit()
            assert plan_id is not None
            new_plan_ids.append(plan_id)
        if stored is None:
            report.created_patients += 1
        report.created_plans += 1
        entry = seen.setdefault(row.external_id, (row.patient_fields(), set()))
        entry[1].add((row.regimen, row.start))

    if dry_run:
        session.rollback()
    elif new_plan_ids:
        materialize(
            session, now=now, catalog=catalog, horizon_days=HORIZON_DAYS, plan_ids=new_plan_ids
        )
    report.plan_ids = new_plan_ids
    return report


def _find_patient(session: Session, external_id: str) -> Patient | None:
    return session.exec(select(Patient).where(Patient.external_id == external_id)).first()


def _plans_of(session: Session, patient: Patient) -> set[tuple[str, date]]:
    rows = session.exec(
        select(col(Plan.regimen), col(Plan.start_date)).where(Plan.patient_id == patient.id)
    ).all()
    return {(regimen, start) for regimen, start in rows}


__all__ = ["COLUMNS", "REQUIRED", "ImportReport", "RowError", "import_roster"]
