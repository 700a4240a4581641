"""``/workspace/team``: the team's measures.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

Five figures for the viewer's own team (``adherence.care.outcomes`` defines each): the PDC
distribution over the last ``[care] pdc_days`` days with the ``pdc_threshold`` line, flags
opened and resolved per week, clinic doses due in the next 30 days with their booking, the
share of flagged patients contacted, and back on track within 15 days of contact. Charts
are inline SVG (``svg``), each with the same numbers as a table. One audit row per view.
A team no coordinator alert can reach (``storage.reach``: nobody active with a phone or an
e-mail switched on) gets a banner above them: its urgent flags, a FLARE reply too, reach
nobody until one is.

The PDC distribution is read from the app's ``PdcCache`` (shared with the patient list): only
patients whose doses changed since the last view are measured again, so the figure is always
current and a repeat view of a big team costs one index scan (bench/patient_page.py).
"""

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from adherence.care import outcomes
from adherence.storage.reach import team_reachable
from adherence.web.workspace import svg
from adherence.web.workspace.auth import Viewer, Workspace
from adherence.web.workspace.render import page


def team_routes(ws: Workspace) -> APIRouter:
    router = APIRouter()
    Me = Annotated[Viewer, Depends(ws.viewer)]

    @router.get("/team", summary="The team's measures")
    def team(me: Me) -> Response:
        now = ws.clock()
        with ws.session() as s:
            dist = outcomes.pdc_distribution(
                s, me.team, now=now, catalog=ws.app.catalog, settings=ws.settings, cache=ws.pdc
            )
            weeks = outcomes.flags_per_week(s, me.team, now=now)
            due = outcomes.clinic_doses_due(s, me.team, now=now)
            contacted = outcomes.flagged_contacted(s, me.team, now=now)
            back = outcomes.back_on_track(s, me.team, now=now)
            reachable = team_reachable(s, me.team_id)
            ws.audit(s, me, "read", "workspace:team")
        threshold = round(100 * dist.threshold)
        pdc_chart = svg.histogram(
            "pdc-chart",
            title=f"PDC of {dist.measured} patients, {dist.start:%d %b} to {dist.end:%d %b}",
            desc=", ".join(f"{b.label}: {b.patients}" for b in dist.bins)
            + f". {dist.at_or_above} of {dist.measured} at or above {threshold}%.",
            labels=[b.label for b in dist.bins],
            values=[b.patients for b in dist.bins],
            line_at=dist.threshold,
            line_label=f"{threshold}% threshold",
            unit="patients",
        )
        week_labels = [f"{w.monday:%d %b}" for w in weeks]
        flags_chart = svg.grouped_bars(
            "flags-chart",
            title=f"Flags opened and resolved per week, last {len(weeks)} weeks",
            desc="; ".join(
                f"week of {label}: {w.opened} opened, {w.resolved} resolved"
                for label, w in zip(week_labels, weeks, strict=True)
            ),
            labels=week_labels,
            series=[
                svg.Series("opened", [w.opened for w in weeks]),
                svg.Series("resolved", [w.resolved for w in weeks]),
            ],
        )
        return page(
            "team.html",
            viewer=me,
            csrf=me.csrf,
            nav="team",
            title="Team",
            dist=dist,
            threshold=threshold,
            pdc_chart=pdc_chart,
            weeks=list(zip(week_labels, weeks, strict=True)),
            flags_chart=flags_chart,
            due=due,
            due_days=outcomes.DUE_DAYS,
            contacted=contacted,
            back=back,
            tz=me.team.tz,
            reachable=reachable,
        )

    return router
