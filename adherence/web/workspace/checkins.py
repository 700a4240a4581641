"""The patient page's check-in section: the cadence, a chart per 0-10 question and the
table of answers (``templates/patient_checkins.html``), and the form that sets or stops
the cadence: ``POST /patients/{id}/checkins`` and ``POST /patients/{id}/checkins/stop``.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

Each chart is one question's answers over time, drawn on the server as SVG with a title and
a description that says the numbers; the table next to it has every answer. The threshold
line is dashed and labelled, so nothing is told by colour alone. Each POST is CSRF-checked,
audited, and answered with a 303 back to the patient page with a ``?notice=`` code; a
refused form names the field in its notice.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from sqlmodel import Session, col, select

from adherence.core.selfcare_config import CheckinSettings
from adherence.selfcare.cadence import (
    CadenceError,
    CadenceView,
    set_cadence,
    show_cadence,
    stop_cadence,
)
from adherence.selfcare.questions import load_questions
from adherence.storage.audit import coordinator_actor
from adherence.storage.models import Patient
from adherence.storage.selfcare import Observation
from adherence.web.workspace.actions.forms import parse_id
from adherence.web.workspace.auth import Viewer, Workspace
from notifiers.selfcare_texts import SCORE

TREND_DAYS = 182  # the charts and the table: the last six months
NOTICES = {
    "checkins-set": "Check-ins set. The patient gets the next one at the time shown.",
    "checkins-stopped": "Check-ins stopped. The answers so far are kept.",
    "checkins-every": "Check-ins not set: every must be a whole number of days, 1 to 365.",
    "checkins-at": "Check-ins not set: at must be a time of day HH:MM.",
    "checkins-items": "Check-ins not set: items names a question the clinic does not have.",
}
W, H, LEFT, TOP, BOTTOM, RIGHT = 480, 180, 34, 16, 30, 12


@dataclass(frozen=True)
class Trend:
    code: str
    label: str
    chart: Markup
    threshold: int | None


@dataclass(frozen=True)
class CheckinRow:
    at: datetime
    values: dict[str, str]


@dataclass(frozen=True)
class CheckinSection:
    cadence: CadenceView | None
    items: list[tuple[str, str]]  # (code, label) of the columns
    rows: list[CheckinRow]
    trends: list[Trend]
    available: str  # the clinic's question codes, for the form's hint


def checkin_section(
    s: Session, patient: Patient, now: datetime, settings: CheckinSettings
) -> CheckinSection:
    """What the section shows (read in the page's session, which audits the view)."""
    assert patient.id is not None
    questions = load_questions(settings)
    zone = ZoneInfo(patient.tz)
    found = s.exec(
        select(Observation)
        .where(
            Observation.patient_id == patient.id,
            Observation.observed_at >= now - timedelta(days=TREND_DAYS),
            col(Observation.item).not_like("triage%"),
        )
        .order_by(col(Observation.observed_at), col(Observation.id))
    ).all()
    codes: list[str] = []
    by_day: dict[str, CheckinRow] = {}
    series: dict[str, list[tuple[datetime, float]]] = {}
    for o in found:
        if o.item not in codes:
            codes.append(o.item)
        day = o.observed_at.astimezone(zone)
        row = by_day.setdefault(day.date().isoformat(), CheckinRow(at=day, values={}))
        if o.value_type == SCORE:
            row.values[o.item] = str(int(o.value))
            series.setdefault(o.item, []).append((day, o.value))
        else:
            row.values[o.item] = "yes" if o.value >= 1 else "no"
    labels = {
        c: (questions.questions[c].label("en") if c in questions.questions else c) for c in codes
    }
    trends = []
    for c, points in series.items():
        threshold = questions.thresholds.get(c)
        chart = line_chart(f"trend-{c}", labels[c], points, threshold)
        trends.append(Trend(c, labels[c], chart, threshold))
    return CheckinSection(
        cadence=show_cadence(s, patient_id=patient.id, settings=settings),
        items=[(c, labels[c]) for c in codes],
        rows=list(reversed(by_day.values())),
        trends=trends,
        available=", ".join(sorted(questions.questions)),
    )


def _n(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def line_chart(
    chart_id: str, label: str, points: list[tuple[datetime, float]], threshold: int | None
) -> Markup:
    """One question's 0-10 answers in time order: points joined by a line, each with its
    value as a tooltip and ``data-value``; a dashed, labelled line at the threshold."""
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    n = len(points)
    xs = [LEFT + (plot_w * (i / (n - 1)) if n > 1 else plot_w / 2) for i in range(n)]

    def y(v: float) -> float:
        return TOP + plot_h - v * plot_h / 10

    words = ", ".join(f"{at:%d %b}: {int(v)}" for at, v in points)
    desc = f"{label}, 0 (none) to 10 (worst), {n} answers: {words}."
    if threshold is not None:
        desc += f" The clinic's flag threshold is {threshold}."
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart trend" viewBox="0 0 {W} {H}" '
        f'role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" id="{chart_id}">',
        f'<title id="{chart_id}-title">{escape(label)} over time</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
    ]
    for t in (0, 5, 10):
        parts.append(
            f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{_n(y(t))}" y2="{_n(y(t))}" stroke="#d0d7de"/>'
            f'<text x="{LEFT - 6}" y="{_n(y(t) + 4)}" text-anchor="end" font-size="12" '
            f'fill="#1f2933">{t}</text>'
        )
    if threshold is not None:
        parts.append(
            f'<line class="threshold" x1="{LEFT}" x2="{W - RIGHT}" y1="{_n(y(threshold))}" '
            f'y2="{_n(y(threshold))}" stroke="#b3261e" stroke-width="2" stroke-dasharray="6 4"/>'
            f'<text x="{LEFT + 4}" y="{_n(y(threshold) - 4)}" font-size="11" '
            f'fill="#1f2933">flag at {threshold}</text>'
        )
    path = " ".join(f"{_n(x)},{_n(y(v))}" for x, (_, v) in zip(xs, points, strict=True))
    parts.append(f'<polyline points="{path}" fill="none" stroke="#0b57a4" stroke-width="2"/>')
    for x, (at, v) in zip(xs, points, strict=True):
        parts.append(
            f'<circle class="point" data-value="{int(v)}" cx="{_n(x)}" cy="{_n(y(v))}" r="4" '
            f'fill="#0b57a4"><title>{at:%d %b %Y}: {int(v)}</title></circle>'
        )
    if points:
        first, last = points[0][0], points[-1][0]
        parts.append(
            f'<text x="{LEFT}" y="{H - 8}" font-size="11" fill="#1f2933">{first:%d %b}</text>'
            f'<text x="{W - RIGHT}" y="{H - 8}" text-anchor="end" font-size="11" '
            f'fill="#1f2933">{last:%d %b}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def checkin_context(ws: Workspace, s: Session, patient: Patient) -> dict[str, Any]:
    return {"checkins": checkin_section(s, patient, ws.clock(), ws.settings.checkins)}


def _back(patient_id: int, notice: str) -> Response:
    return RedirectResponse(
        f"/workspace/patients/{patient_id}?notice={notice}#checkins", status_code=303
    )


def checkin_routes(ws: Workspace) -> APIRouter:
    router = APIRouter()
    Me = Annotated[Viewer, Depends(ws.viewer)]
    Form = Annotated[dict[str, str], Depends(ws.form)]

    @router.post("/patients/{patient_id}/checkins", summary="Set a patient's check-ins")
    def set_checkins(me: Me, fields: Form, patient_id: Annotated[str, Path()]) -> Response:
        with ws.session() as s:
            patient = ws.own_patient(s, me, parse_id(patient_id, "patient"))
            raw_every = fields.get("every", "").strip()
            every = int(raw_every) if raw_every.isdigit() else 0
            try:
                set_cadence(
                    s, patient=patient, every_days=every, local_time=fields.get("at", "").strip(),
                    items=fields.get("items", ""), settings=ws.settings.checkins,
                    now=ws.clock(), by=coordinator_actor(me.coordinator),
                )  # fmt: skip
            except CadenceError as exc:
                s.rollback()
                return _back(patient.id or 0, f"checkins-{str(exc).split(':', 1)[0]}")
            ws.audit(s, me, "checkin_set", f"patient:{patient.id}/checkins",
                     patient_id=patient.id, every_days=every)  # fmt: skip
            s.commit()
            return _back(patient.id or 0, "checkins-set")

    @router.post("/patients/{patient_id}/checkins/stop", summary="Stop a patient's check-ins")
    def stop_checkins(me: Me, fields: Form, patient_id: Annotated[str, Path()]) -> Response:
        with ws.session() as s:
            patient = ws.own_patient(s, me, parse_id(patient_id, "patient"))
            assert patient.id is not None
            stopped = stop_cadence(s, patient_id=patient.id, now=ws.clock())
            ws.audit(s, me, "checkin_stop", f"patient:{patient.id}/checkins",
                     patient_id=patient.id, stopped=stopped)  # fmt: skip
            s.commit()
            return _back(patient.id, "checkins-stopped")

    return router
