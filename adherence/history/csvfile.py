"""The CSV reader: one row at a time, so a file of a million rows reads in flat memory.

The header says what the file holds:

- dose history: ``patient,regimen,at,status[,amount,unit,source,note]``;
- dispensing: ``patient,regimen,dispensed,days_supply[,quantity,source]``.

Columns may come in any order; names ignore case and surrounding spaces; a byte-order mark
(Excel's "CSV UTF-8") is dropped. An unknown or missing column is an error about the file
(``HistoryFileError``), named, before any row is read. Each row carries the physical line it
starts on (the header is line 1; a quoted cell may span lines, and the next row's line
counts them).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from functools import lru_cache

from adherence.history.result import RowError
from adherence.history.rows import STATUSES, DoseRow, FillRow, HistoryFileError, PatientRef, Row

DOSE_REQUIRED = ("patient", "regimen", "at", "status")
DOSE_OPTIONAL = ("amount", "unit", "source", "note")
FILL_REQUIRED = ("patient", "regimen", "dispensed", "days_supply")
FILL_OPTIONAL = ("quantity", "source")
DOSES, DISPENSING = "doses", "dispensing"


def _kind(names: list[str]) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    if "dispensed" in names or "days_supply" in names:
        return DISPENSING, FILL_REQUIRED, FILL_OPTIONAL
    if "at" in names or "status" in names:
        return DOSES, DOSE_REQUIRED, DOSE_OPTIONAL
    raise HistoryFileError(
        "line 1: the header names neither a dose history "
        f"({','.join(DOSE_REQUIRED)}[,{','.join(DOSE_OPTIONAL)}]) nor dispensing records "
        f"({','.join(FILL_REQUIRED)}[,{','.join(FILL_OPTIONAL)}])"
    )


def parse_header(header: list[str]) -> tuple[str, list[str]]:
    """The file's kind and its column names, or ``HistoryFileError`` naming the column."""
    names = [h.strip().lower() for h in header]
    if len(names) == 1 and ";" in names[0]:
        raise HistoryFileError("line 1: columns must be separated by commas, not semicolons")
    kind, required, optional = _kind(names)
    known = required + optional
    problems = []
    seen: set[str] = set()
    for name in names:
        if name not in known:
            problems.append(f"unknown column {name or '(blank)'!r}")
        elif name in seen:
            problems.append(f"column {name!r} appears twice")
        seen.add(name)
    problems += [f"missing column {name!r}" for name in required if name not in seen]
    if problems:
        raise HistoryFileError(
            f"line 1: {'; '.join(problems)} (a {kind} file has {', '.join(known)})"
        )
    return kind, names


class CsvHistory:
    """A CSV history file: ``kind`` is known once constructed (the header is read then);
    iterating yields its rows."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._reader = csv.reader(iter(lines))
        self._last = 0
        try:
            header = self._next()
        except csv.Error as exc:
            raise HistoryFileError(f"line 1: not readable CSV: {exc}") from None
        if header is None:
            raise HistoryFileError("the file is empty (a header line is needed)")
        self.kind, self.columns = parse_header(header[1])

    def _next(self) -> tuple[int, list[str]] | None:
        for record in self._reader:
            line = self._last + 1
            self._last = self._reader.line_num
            if record and (record[0].strip() or any(cell.strip() for cell in record)):
                if line == 1 and record:
                    record[0] = record[0].removeprefix("\ufeff")
                return line, record
        return None

    def __iter__(self) -> Iterator[Row]:
        columns = self.columns
        width = len(columns)
        reader = self._reader
        doses = self.kind == DOSES
        at = {
            name: columns.index(name) for name in DOSE_REQUIRED + DOSE_OPTIONAL if name in columns
        }
        while True:
            try:
                record = next(reader, None)
            except csv.Error as exc:
                yield RowError(f"line {self._last + 1}", "row", f"not readable CSV: {exc}")
                return
            if record is None:
                return
            line = self._last + 1
            self._last = reader.line_num
            if not record or not (record[0].strip() or any(c.strip() for c in record)):
                continue  # a blank line
            if len(record) != width:
                if len(record) > width and any(c.strip() for c in record[width:]):
                    yield RowError(
                        f"line {line}",
                        "row",
                        f"has {len(record)} fields, the header has {width}",
                        line,
                    )
                    continue
                record = (record + [""] * width)[:width]
            if doses:
                yield _dose(line, record, at)
            else:
                yield _fill(line, dict(zip(columns, record, strict=True)))


def _required(line: int, values: dict[str, str], names: tuple[str, ...]) -> RowError | None:
    for name in names:
        if not values.get(name, "").strip():
            return RowError(f"line {line}", name, "is empty", line)
    return None


@lru_cache(maxsize=65536)
def _ref(value: str) -> PatientRef:
    # Rows come patient by patient: the same reference, one object.
    return PatientRef((value,))


@lru_cache(maxsize=1024)
def _names(value: str) -> tuple[str, ...]:
    return (value,)


def parse_at(raw: str) -> datetime | None:
    """An ISO 8601 date-time (with an offset, or local); None when it is not one."""
    text = raw.strip()
    if len(text) < 16 or text[10] not in "Tt ":
        return None  # a date alone is not a time something was taken
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _amount(raw: str) -> float | None:
    value = float(raw)
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError
    return value


def _dose(line: int, record: list[str], at: dict[str, int]) -> Row:
    """A dose row from its cells (``at``: each column's position; optional ones may be
    absent)."""
    origin = f"line {line}"
    patient = record[at["patient"]].strip()
    regimen = record[at["regimen"]].strip()
    raw_at = record[at["at"]]
    raw_status = record[at["status"]]
    if not (patient and regimen and raw_at.strip() and raw_status.strip()):
        values = {name: record[i] for name, i in at.items()}
        missing = _required(line, values, DOSE_REQUIRED)
        if missing is not None:
            return missing
    when = parse_at(raw_at)
    if when is None:
        return RowError(origin, "at", f"{raw_at.strip()!r} is not an ISO 8601 date-time", line)
    status = raw_status.strip().lower()
    if status not in STATUSES:
        return RowError(
            origin, "status", f"{raw_status.strip()!r} is not one of {', '.join(STATUSES)}", line
        )
    amount: float | None = None
    i = at.get("amount")
    raw_amount = record[i].strip() if i is not None else ""
    if raw_amount:
        try:
            amount = _amount(raw_amount)
        except ValueError:
            return RowError(origin, "amount", f"{raw_amount!r} is not a number above 0", line)
    i = at.get("unit")
    unit = record[i].strip() if i is not None else ""
    if unit and amount is None:
        return RowError(origin, "unit", "a unit needs an amount", line)
    i = at.get("source")
    source = record[i].strip() if i is not None else ""
    i = at.get("note")
    note = record[i].strip() if i is not None else ""
    return DoseRow(
        origin, line, _ref(patient), _names(regimen), when, status, amount, unit, source, note
    )


def parse_dispensed(raw: str) -> date | datetime | None:
    text = raw.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return parse_at(text)
    except ValueError:
        return None


def _fill(line: int, values: dict[str, str]) -> Row:
    origin = f"line {line}"
    missing = _required(line, values, FILL_REQUIRED)
    if missing is not None:
        return missing
    dispensed = parse_dispensed(values["dispensed"])
    if dispensed is None:
        return RowError(
            origin,
            "dispensed",
            f"{values['dispensed'].strip()!r} is not a date (YYYY-MM-DD) or an ISO 8601 date-time",
            line,
        )
    raw_days = values["days_supply"].strip()
    try:
        days = int(raw_days)
    except ValueError:
        return RowError(origin, "days_supply", f"{raw_days!r} is not a whole number of days", line)
    quantity: float | None = None
    raw_quantity = values.get("quantity", "").strip()
    if raw_quantity:
        try:
            quantity = _amount(raw_quantity)
        except ValueError:
            return RowError(origin, "quantity", f"{raw_quantity!r} is not a number above 0", line)
    return FillRow(
        origin=origin,
        line=line,
        patient=PatientRef((values["patient"].strip(),)),
        regimen=(values["regimen"].strip(),),
        dispensed=dispensed,
        days_supply=days,
        quantity=quantity,
        source=values.get("source", "").strip(),
    )
