"""The care team's patients, searched and filtered: by name or external id, therapy, open
flag and PDC band.

PDC is measured over the last ``[care] pdc_days`` days (the low-PDC flag's period) with the
measures package, and only when the page needs it: for the page's own rows (at most
``PER_PAGE`` patients, two queries), or, when the list is filtered by band, for every
patient the other filters keep (``measures.latest``: read by the patient/due-time index, and
cached per patient until its rows change; bench/patient_page.py measures both).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from adherence.care.measures.latest import PdcCache, measure_pdc, pdc_period
from adherence.core.config import Settings
from adherence.storage.models import FLAG_OPEN, CareTeam, Flag, Patient, Plan
from adherence.storage.public import FLAG_TITLES
from schedules import Catalog

__all__ = ["BANDS", "Filters", "PdcCache", "Result", "Row", "band_of", "search_patients"]

PER_PAGE = 50
ANY_FLAG = "any"
# PDC bands (the form's values and what they say); "none": no PDC in the period.
BANDS: dict[str, str] = {
    "lt50": "below 50%",
    "50to80": "50% to under 80%",
    "ge80": "80% or more",
    "none": "not measured",
}


def band_of(pdc: float | None) -> str:
    if pdc is None:
        return "none"
    if pdc < 0.5:
        return "lt50"
    return "50to80" if pdc < 0.8 else "ge80"


@dataclass(frozen=True)
class Filters:
    q: str = ""
    therapy: str = ""  # a regimen code
    flag: str = ""  # a flag rule, or "any" open flag
    band: str = ""  # a key of BANDS
    page: int = 1

    @property
    def narrowed(self) -> bool:
        """Whether anything but the band keeps fewer than the whole team."""
        return bool(self.q or self.therapy or self.flag)


@dataclass(frozen=True)
class Row:
    patient: Patient
    therapies: list[str]
    flags: list[str]  # titles of open flags
    pdc: float | None
    band: str


@dataclass(frozen=True)
class Result:
    rows: list[Row]
    total: int
    page: int
    pages: int


def _matching(team_id: int, f: Filters):  # type: ignore[no-untyped-def]
    """The ids of the team's patients the filters other than the band keep."""
    stmt = select(col(Patient.id)).where(Patient.team_id == team_id)
    q = f.q.strip()
    if q:
        stmt = stmt.where(
            or_(
                col(Patient.name).icontains(q, autoescape=True),
                func.coalesce(col(Patient.external_id), "").icontains(q, autoescape=True),
            )
        )
    if f.therapy:
        stmt = stmt.where(
            col(Patient.id).in_(select(col(Plan.patient_id)).where(Plan.regimen == f.therapy))
        )
    if f.flag:
        flagged = select(col(Flag.patient_id)).where(
            Flag.team_id == team_id, col(Flag.status).in_(FLAG_OPEN)
        )
        if f.flag != ANY_FLAG:
            flagged = flagged.where(Flag.rule == f.flag)
        stmt = stmt.where(col(Patient.id).in_(flagged))
    return stmt


def search_patients(
    s: Session,
    team: CareTeam,
    f: Filters,
    *,
    now: datetime,
    catalog: Catalog,
    settings: Settings,
    per_page: int = PER_PAGE,
    cache: PdcCache | None = None,
) -> Result:
    team_id = team.id or 0
    start, end = pdc_period(now, team.tz, settings)
    ids = _matching(team_id, f)
    order = (col(Patient.name), col(Patient.id))
    pdc: dict[int, float | None]
    if f.band:
        everyone = [
            pid or 0
            for pid in s.exec(
                select(col(Patient.id)).where(col(Patient.id).in_(ids)).order_by(*order)
            )
        ]
        pdc = measure_pdc(
            s,
            everyone,
            team_id=None if f.narrowed else team_id,
            start=start,
            end=end,
            catalog=catalog,
            settings=settings,
            cache=cache,
        )
        kept = [pid for pid in everyone if band_of(pdc[pid]) == f.band]
        total = len(kept)
        pages = max(1, -(-total // per_page))
        page = min(max(f.page, 1), pages)
        wanted = kept[(page - 1) * per_page : page * per_page]
        found = {p.id: p for p in s.exec(select(Patient).where(col(Patient.id).in_(wanted)))}
        shown = [found[pid] for pid in wanted]
    else:
        total = s.exec(select(func.count()).select_from(ids.subquery())).one()
        pages = max(1, -(-total // per_page))
        page = min(max(f.page, 1), pages)
        shown = list(
            s.exec(
                select(Patient)
                .where(col(Patient.id).in_(ids))
                .order_by(*order)
                .offset((page - 1) * per_page)
                .limit(per_page)
            )
        )
        pdc = measure_pdc(
            s, [p.id or 0 for p in shown], team_id=None, start=start, end=end, catalog=catalog,
            settings=settings, cache=cache,
        )  # fmt: skip
    shown_ids = [p.id for p in shown]
    therapies: dict[int, list[str]] = {}
    flags: dict[int, list[str]] = {}
    if shown_ids:
        for plan in s.exec(
            select(Plan).where(col(Plan.patient_id).in_(shown_ids)).order_by(col(Plan.id))
        ):
            therapies.setdefault(plan.patient_id, []).append(therapy_name(catalog, plan.regimen))
        for flag in s.exec(
            select(Flag)
            .where(col(Flag.patient_id).in_(shown_ids), col(Flag.status).in_(FLAG_OPEN))
            .order_by(col(Flag.id))
        ):
            flags.setdefault(flag.patient_id, []).append(FLAG_TITLES.get(flag.rule, flag.rule))
    rows = [
        Row(
            p,
            therapies.get(p.id or 0, []),
            flags.get(p.id or 0, []),
            pdc.get(p.id or 0),
            band_of(pdc.get(p.id or 0)),
        )
        for p in shown
    ]
    return Result(rows, total, page, pages)


def therapy_name(catalog: Catalog, code: str) -> str:
    try:
        return catalog.get(code).display
    except LookupError:
        return code


def therapy_choices(s: Session, team_id: int, catalog: Catalog) -> list[tuple[str, str]]:
    """(regimen code, name) of the therapies the team's plans use, by name."""
    members = select(col(Patient.id)).where(Patient.team_id == team_id)
    codes = s.exec(select(Plan.regimen).where(col(Plan.patient_id).in_(members)).distinct()).all()
    return sorted(((c, therapy_name(catalog, c)) for c in codes), key=lambda x: x[1].lower())


def flag_choices() -> list[tuple[str, str]]:
    return [(ANY_FLAG, "any open flag"), *FLAG_TITLES.items()]
