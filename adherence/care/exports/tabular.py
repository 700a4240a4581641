"""The export as CSV (one header, a row per dose, a row per check-in answer and a summary row
per patient) or JSON (the team, the period, each patient's measures with its doses and
answers, and a summary)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from adherence.care.exports.read import DoseOut, ObservationOut, PatientData
from adherence.storage.models import CareTeam
from schedules import Catalog

# One CSV, one header: ``record`` says whether a row is a dose or a patient's summary, so
# the file opens in any spreadsheet and filters in one click (docs/measures.md).
DOSE_COLUMNS = [
    "patient_id",
    "external_id",
    "plan_id",
    "regimen",
    "dose_id",
    "kind",
    "scheduled_at",
    "taken_at",
    "confirmed_at",
    "status",
    "source",
    "late",
    "site",
    "site_note",
]
SUMMARY_COLUMNS = [
    "period_start",
    "period_end",
    "index_date",
    "pdc",
    "adherent",
    "doses_scheduled",
    "doses_taken",
    "taken_rate",
    "on_time_rate",
    "longest_gap_days",
    "persistent",
    "infusions_due",
    "infusion_on_time_rate",
]
# ``observation`` rows: one per check-in or triage answer (docs/measures.md), after the doses.
OBSERVATION_COLUMNS = [
    "observation_id",
    "item",
    "value_type",
    "value",
    "observed_at",
    "questionnaire",
    "conversation",
]
CSV_HEADER = ["record", *DOSE_COLUMNS, *SUMMARY_COLUMNS, *OBSERVATION_COLUMNS]


def _iso(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).isoformat() if value is not None else ""


def _answer(o: ObservationOut) -> int | bool:
    """A score as its whole number, a yes/no as true/false (as the FHIR export has it)."""
    return o.value >= 1 if o.value_type == "yes_no" else int(o.value)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _observation_row(patient_id: Any, ext: str, o: ObservationOut, zone: ZoneInfo) -> list[Any]:
    cells: dict[str, Any] = {
        "record": "observation",
        "patient_id": patient_id,
        "external_id": ext,
        "source": o.source,
        "observation_id": o.id,
        "item": o.item,
        "value_type": o.value_type,
        "value": _cell(_answer(o)),
        "observed_at": _iso(o.observed_at, zone),
        "questionnaire": o.kind,
        "conversation": o.conversation,
    }
    return [cells.get(c, "") for c in CSV_HEADER]


def write_csv(
    session: Session,
    team: CareTeam,
    start: date,
    end: date,
    patients: Iterator[PatientData],
    catalog: Catalog,
    validate: bool,
) -> Iterator[bytes]:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_HEADER)
    blank_summary = [""] * len(SUMMARY_COLUMNS)
    blank_answer = [""] * len(OBSERVATION_COLUMNS)
    for data in patients:
        p = data.patient
        zone = ZoneInfo(p.tz)
        regimens = {plan.id: plan.regimen for plan in data.plans}
        ext = p.external_id or ""
        for d in data.doses:
            w.writerow(
                [
                    "dose", p.id, ext, d.plan_id, regimens.get(d.plan_id, ""), d.id, d.kind,
                    _iso(d.due_at, zone), _iso(d.taken_at, zone), _iso(d.confirmed_at, zone),
                    d.status, d.via, "true" if d.late else "false", d.site, d.site_note,
                    *blank_summary, *blank_answer,
                ]
            )  # fmt: skip
        for o in data.observations:
            w.writerow(_observation_row(p.id, ext, o, zone))
        js = data.measures.to_json(plans=False)
        w.writerow(
            ["summary", p.id, ext, *[""] * (len(DOSE_COLUMNS) - 2), start.isoformat(),
             end.isoformat(), *(_cell(js[c]) for c in SUMMARY_COLUMNS[2:]), *blank_answer]
        )  # fmt: skip
        yield buf.getvalue().encode()
        buf.seek(0)
        buf.truncate()
    if buf.tell():
        yield buf.getvalue().encode()


# --- JSON -----------------------------------------------------------------------------------


def _dose_json(d: DoseOut, zone: ZoneInfo, regimen: str) -> dict[str, Any]:
    return {
        "id": d.id,
        "plan_id": d.plan_id,
        "regimen": regimen,
        "kind": d.kind,
        "scheduled_at": _iso(d.due_at, zone),
        "taken_at": _iso(d.taken_at, zone) or None,
        "confirmed_at": _iso(d.confirmed_at, zone) or None,
        "status": d.status,
        "source": d.via or None,
        "late": d.late,
        "site": d.site or None,
        "site_note": d.site_note or None,
    }


def _observation_json(o: ObservationOut, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "id": o.id,
        "item": o.item,
        "value_type": o.value_type,
        "value": _answer(o),
        "observed_at": _iso(o.observed_at, zone),
        "source": o.source,
        "questionnaire": o.kind,
        "conversation": o.conversation or None,
    }


def write_json(
    session: Session,
    team: CareTeam,
    start: date,
    end: date,
    patients: Iterator[PatientData],
    catalog: Catalog,
    validate: bool,
) -> Iterator[bytes]:
    head = {"id": team.id, "name": team.name, "tz": team.tz}
    period = {"start": start.isoformat(), "end": end.isoformat()}
    yield (
        '{"team": ' + json.dumps(head) + ', "period": ' + json.dumps(period) + ', "patients": ['
    ).encode()
    n = adherent = in_pdc = 0
    for data in patients:
        p = data.patient
        zone = ZoneInfo(p.tz)
        regimens = {plan.id: plan.regimen for plan in data.plans}
        item = data.measures.to_json()
        item["doses"] = [_dose_json(d, zone, regimens.get(d.plan_id, "")) for d in data.doses]
        item["observations"] = [_observation_json(o, zone) for o in data.observations]
        yield ((", " if n else "") + json.dumps(item, ensure_ascii=False)).encode()
        n += 1
        in_pdc += data.measures.pdc is not None
        adherent += bool(data.measures.adherent)
    summary = {"patients": n, "patients_in_pdc": in_pdc, "patients_adherent": adherent}
    yield ('], "summary": ' + json.dumps(summary) + "}\n").encode()
