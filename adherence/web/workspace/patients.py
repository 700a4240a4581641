"""``/workspace/patients``: the team's patients, searched and filtered.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

``GET /workspace/patients?q=&therapy=&flag=&band=&page=``: ``q`` a case-insensitive part of
the name or external id, ``therapy`` a regimen code, ``flag`` a flag rule or ``any`` (open
flags), ``band`` a PDC band (``lt50``, ``50to80``, ``ge80``, ``none``), 50 a page. An
unknown filter value is ignored and said so on the page. One audit row per view.
"""

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from adherence.care.chart.search import (
    BANDS,
    Filters,
    flag_choices,
    search_patients,
    therapy_choices,
)
from adherence.web.workspace.auth import Viewer, Workspace
from adherence.web.workspace.render import page

MAX_PAGE = 100_000


def patients_routes(ws: Workspace) -> APIRouter:
    router = APIRouter()
    Me = Annotated[Viewer, Depends(ws.viewer)]
    Text = Annotated[str, Query(max_length=200)]

    @router.get("/patients", summary="The team's patients")
    def patients(
        me: Me,
        q: Text = "",
        therapy: Text = "",
        flag: Text = "",
        band: Text = "",
        page_: Annotated[str, Query(alias="page", max_length=10)] = "1",
    ) -> Response:
        errors = []
        flags = flag_choices()
        if flag and flag not in dict(flags):
            errors.append("flag: not a flag this list knows; showing every patient")
            flag = ""
        if band and band not in BANDS:
            errors.append("band: not a PDC band; showing every band")
            band = ""
        number = int(page_) if page_.isdigit() and 1 <= int(page_) <= MAX_PAGE else 1
        with ws.session() as s:
            therapies = therapy_choices(s, me.team_id, ws.app.catalog)
            if therapy and therapy not in dict(therapies):
                errors.append("therapy: no patient of this team is on it; showing every therapy")
                therapy = ""
            f = Filters(q=q.strip(), therapy=therapy, flag=flag, band=band, page=number)
            result = search_patients(
                s,
                me.team,
                f,
                now=ws.clock(),
                catalog=ws.app.catalog,
                settings=ws.settings,
                cache=ws.pdc,
            )
            ws.audit(
                s, me, "read", "workspace:patients", count=len(result.rows), total=result.total
            )
        kept = {
            k: v for k, v in (("q", f.q), ("therapy", therapy), ("flag", flag), ("band", band)) if v
        }

        def link(n: int) -> str:
            return "/workspace/patients?" + urlencode({**kept, "page": n})

        return page(
            "patients.html",
            viewer=me,
            csrf=me.csrf,
            nav="patients",
            title="Patients",
            result=result,
            filters=f,
            therapies=therapies,
            flags=flags,
            bands=BANDS,
            errors=errors,
            pdc_days=ws.settings.care.pdc_days,
            previous=link(result.page - 1) if result.page > 1 else "",
            next=link(result.page + 1) if result.page < result.pages else "",
        )

    return router
