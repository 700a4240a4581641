"""``/exports``: the team's doses, measures and flags, streamed.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)
"""

from collections.abc import Iterator
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from adherence.storage.models import CareTeam, Coordinator
from adherence.web.api.deps import DATE_RULE, MAX_EXPORT_SPAN_DAYS, Deps, date_range, span

MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "fhir": "application/fhir+json",
}
SUFFIX = {"csv": "csv", "json": "json", "fhir": "fhir.json"}


def export_routes(deps: Deps) -> APIRouter:
    router = APIRouter()
    Me = Annotated[Coordinator, Depends(deps.current_coordinator)]
    app = deps.app

    @router.get(
        "/exports",
        summary="Export the team's doses, measures and flags (streamed)",
        response_class=StreamingResponse,
        responses={
            200: {
                "description": "The export, streamed as it is produced.",
                "content": {m: {} for m in MEDIA.values()},
            }
        },
    )
    def export(
        me: Me,
        fmt: Annotated[Literal["csv", "json", "fhir"], Query(alias="format")],
        start: Annotated[date, Query(alias="from", description=f"First local date. {DATE_RULE}")],
        end: Annotated[
            date,
            Query(
                alias="to",
                description="Last local date (inclusive), not before `from`, at most "
                f"{MAX_EXPORT_SPAN_DAYS} days after it. {DATE_RULE}",
            ),
        ],
    ) -> StreamingResponse:
        first, last = date_range(start, end, default=(start, end), max_days=MAX_EXPORT_SPAN_DAYS)
        team_id = me.team_id
        with deps.session() as s:
            # Written before the first byte: an export that is cut short was still an export.
            deps.audit(s, me, "export", f"export:{fmt}", **span(first, last))

        def body() -> Iterator[bytes]:
            from adherence.care.exports import export_stream

            with deps.session() as s:
                team = s.get(CareTeam, team_id)
                assert team is not None
                yield from export_stream(
                    s,
                    team=team,
                    start=first,
                    end=last,
                    fmt=fmt,
                    catalog=app.catalog,
                    settings=app.settings,
                )

        filename = f"adherence-team{team_id}-{first}-{last}.{SUFFIX[fmt]}"
        return StreamingResponse(
            body(),
            media_type=MEDIA[fmt],
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    return router
