"""Injection sites on doses: the site to suggest in a reminder, and the site a reply names.

The rule itself is pure (``schedules.sites``); this module reads a plan's history of sites
from its doses. A site is never required: a dose without one is simply not in the history.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from adherence.storage.models import Dose, DoseStatus, Plan
from schedules import Catalog, UnknownTherapy
from schedules.sites import Repeat, Rotation, Site, Used, breaks_rule, lookup, suggest_next

HISTORY = 30  # recent sited doses read: far more than any rule looks back


def rotation_for(session: Session, catalog: Catalog, dose: Dose) -> Rotation | None:
    """The rotation of the dose's therapy; None for a therapy without sites (or unknown)."""
    plan = session.get(Plan, dose.plan_id)
    if plan is None or dose.kind != "dose":
        return None
    try:
        return catalog.get(plan.regimen).sites
    except UnknownTherapy:
        return None


def history(session: Session, dose: Dose) -> list[Used]:
    """The sites recorded on the plan's other taken doses, latest first."""
    rows = session.exec(
        select(col(Dose.site), col(Dose.local_date))
        .where(
            Dose.plan_id == dose.plan_id,
            col(Dose.site).is_not(None),
            Dose.status == DoseStatus.TAKEN,
            Dose.id != dose.id,
        )
        .order_by(col(Dose.local_date).desc(), col(Dose.id).desc())
        .limit(HISTORY)
    ).all()
    return [Used(site, on) for site, on in rows if site]


def suggestion(session: Session, catalog: Catalog, dose: Dose) -> Site | None:
    """The site a reminder for ``dose`` suggests; None when its therapy lists no sites."""
    rotation = rotation_for(session, catalog, dose)
    if rotation is None:
        return None
    return suggest_next(rotation, dose.local_date, history(session, dose))


@dataclass(frozen=True)
class SiteRecorded:
    site: Site | None  # None: the words named no site of this therapy (the dose still counts)
    repeat: Repeat | None = None


def record_site(session: Session, catalog: Catalog, dose: Dose, words: str) -> SiteRecorded | None:
    """Set the site the patient's reply named on ``dose`` (a taken dose), and the note when
    it repeats against the rule. None when the therapy lists no sites. The caller commits."""
    rotation = rotation_for(session, catalog, dose)
    if rotation is None:
        return None
    site = lookup(rotation, words)
    if site is None:
        return SiteRecorded(None)
    repeat = breaks_rule(rotation, site.code, dose.local_date, history(session, dose))
    dose.site = site.code
    dose.site_note = repeat.why[:200] if repeat else ""
    session.add(dose)
    return SiteRecorded(site, repeat)
