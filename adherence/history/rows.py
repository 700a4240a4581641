"""The rows an import file holds, once read: what each says, and where it came from.

Readers (``csvfile``, ``fhirbundle``) turn the file into these, or into a ``RowError`` for a
row that cannot even be read; ``apply`` resolves the patient, the plan and the dose. The
origin travels with the row so that every refusal names the line as it is in the file (the
header is line 1) or the Bundle resource (``MedicationAdministration/abc``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from adherence.history.result import RowError

TAKEN, SKIPPED, MISSED = "taken", "skipped", "missed"
STATUSES = (TAKEN, SKIPPED, MISSED)


@dataclass(frozen=True, slots=True)
class PatientRef:  # frozen: hashed, as the key of a chunk's patient lookups
    """Who a row is about: candidate references, tried in order. ``by_id`` lets a
    reference be our own patient id as well as an external id (a CSV's ``patient``
    column, a Bundle's ``Patient/<id>`` with no Patient resource); a Bundle Patient's
    identifiers are external ids only."""

    refs: tuple[str, ...]
    by_id: bool = True

    @property
    def shown(self) -> str:
        return self.refs[0] if self.refs else ""


@dataclass(slots=True)
class DoseRow:
    """A dose that happened (or did not): taken, skipped or missed at ``at``.

    ``at`` is aware when the file gave an offset; naive means a local date-time, read in
    the patient's zone once the patient is known. ``regimen`` holds candidate names or
    codes (a CSV cell; a Bundle's codings and text), tried in order."""

    # Not frozen: a frozen dataclass's __init__ costs twice as much, a million times.
    origin: str
    line: int | None
    patient: PatientRef
    regimen: tuple[str, ...]
    at: datetime
    status: str
    amount: float | None = None
    unit: str = ""
    source: str = ""
    note: str = ""


@dataclass(slots=True)
class FillRow:
    """A pharmacy fill: dispensed on a date (or at an instant), supplying ``days_supply``."""

    origin: str
    line: int | None
    patient: PatientRef
    regimen: tuple[str, ...]
    dispensed: date | datetime
    days_supply: int
    quantity: float | None = None
    source: str = ""


Row = DoseRow | FillRow | RowError


class HistoryFileError(ValueError):
    """The file as a whole cannot be used (not UTF-8, not CSV with a known header, not a
    FHIR Bundle): nothing in it was looked at."""
