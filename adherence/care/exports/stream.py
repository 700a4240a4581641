"""A care team's doses and measures as CSV, JSON or a FHIR R4B Bundle, streamed.

``export_stream`` is a generator of byte chunks used by both the CLI (to a file or
stdout) and the API (a StreamingResponse). It never holds the export in memory: patients
are read in id order in batches, each batch's doses with ``yield_per`` ordered by patient,
plan and due time, and each patient is written out (doses, then measures) before the next.
Exports carry drug names (care-team data) and are never logged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from functools import partial

from sqlmodel import Session

from adherence.care.exports.fhir import write_fhir
from adherence.care.exports.read import PatientData, count_patients, read_patients
from adherence.care.exports.tabular import write_csv, write_json
from adherence.core.config import Settings
from adherence.storage.models import CareTeam, Patient
from schedules import Catalog

FORMATS = ("csv", "json", "fhir")
Progress = Callable[[int, int], None]
Writer = Callable[
    [Session, CareTeam, date, date, Iterator[PatientData], Catalog, bool], Iterator[bytes]
]


class ExportError(ValueError):
    """A bad export request; the message names the field."""


def export_stream(
    session: Session,
    *,
    team: CareTeam,
    start: date,
    end: date,
    fmt: str,
    catalog: Catalog,
    settings: Settings,
    progress: Progress | None = None,
    validate: bool = False,
    patient: Patient | None = None,
) -> Iterator[bytes]:
    """The export as chunks of UTF-8 bytes. ``validate`` (FHIR only) checks every resource
    with fhir.resources R4B as it is written (about 5x slower; tests always do it).
    ``patient`` (one of the team's) narrows it to that patient: their doses, measures,
    fills and (FHIR) flags, and nobody else's."""
    if fmt not in FORMATS:
        raise ExportError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    if end < start:
        raise ExportError(f"period end {end} is before its start {start}")
    if patient is not None and (patient.id is None or patient.team_id != team.id):
        raise ExportError("patient: not one of this care team's patients")
    only = patient.id if patient is not None else None
    return _stream(session, team, start, end, fmt, catalog, settings, progress, validate, only)


def _stream(
    session: Session,
    team: CareTeam,
    start: date,
    end: date,
    fmt: str,
    catalog: Catalog,
    settings: Settings,
    progress: Progress | None,
    validate: bool,
    only: int | None,
) -> Iterator[bytes]:
    total = count_patients(session, team, only)
    patients = read_patients(
        session, team, start=start, end=end, catalog=catalog, settings=settings, patient_id=only
    )
    writers: dict[str, Writer] = {
        "csv": write_csv,
        "json": write_json,
        "fhir": partial(write_fhir, patient_id=only),
    }
    writer = writers[fmt]
    done = 0

    def counted() -> Iterator[PatientData]:
        nonlocal done
        for data in patients:
            yield data
            done += 1
            if progress is not None:
                progress(done, total)

    yield from writer(session, team, start, end, counted(), catalog, validate)
