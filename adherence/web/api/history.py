"""``/history/import``: a coordinator brings in the team's dose history or fills.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

The body is the file itself: CSV (``text/csv``) or a FHIR Bundle (``application/fhir+json``
or ``application/json``). Only the coordinator's team's patients are matched: a row for
another team's patient is refused as "no patient", exactly like an unknown one, so the
answer leaks nothing. An import that kept something leaves one audit row (who, the body's
sha256, the counts); a dry run or a rolled-back strict import writes nothing.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from adherence.history.apply import Settings
from adherence.history.files import import_body
from adherence.history.result import ImportResult
from adherence.history.rows import HistoryFileError
from adherence.storage.audit import coordinator_actor
from adherence.storage.models import Coordinator
from adherence.web.api.deps import Deps, invalid
from adherence.web.limits import HISTORY_LIMIT

MAX_BODY = HISTORY_LIMIT  # larger files go through `adherence history import`


class RowErrorOut(BaseModel):
    origin: str
    line: int | None
    field: str
    message: str


class HistoryImportOut(BaseModel):
    file: str
    sha256: str
    kind: str
    dry_run: bool
    strict: bool
    imported: int
    updated: int
    unchanged: int
    fills_imported: int
    fills_unchanged: int
    refused: int
    rolled_back: bool
    rescheduled_plans: list[int]
    errors: list[RowErrorOut]


_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/fhir+json": {"schema": {"type": "object"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}


def history_routes(deps: Deps) -> APIRouter:
    router = APIRouter()
    Me = Annotated[Coordinator, Depends(deps.current_coordinator)]

    @router.post(
        "/history/import",
        response_model=HistoryImportOut,
        summary="Import dose history or dispensing records (CSV or a FHIR Bundle)",
        openapi_extra=_BODY_DOC,
    )
    async def import_history(
        request: Request,
        me: Me,
        dry_run: Annotated[bool, Query(description="Check and count; write nothing.")] = False,
        strict: Annotated[bool, Query(description="Keep nothing if a row is refused.")] = False,
        name: Annotated[
            str, Query(max_length=120, description="The file's name, for the audit trail.")
        ] = "upload",
    ) -> HistoryImportOut:
        body = await request.body()
        if len(body) > MAX_BODY:
            raise HTTPException(status_code=413, detail=f"the body is over {MAX_BODY} bytes")
        media = request.headers.get("content-type", "")

        def work() -> ImportResult:
            settings = Settings(
                catalog=deps.app.catalog,
                now=deps.clock(),
                actor=coordinator_actor(me),
                team_id=me.team_id,
                horizon_days=deps.app.settings.engine.horizon_days,
            )
            with deps.session() as s:
                return import_body(
                    s,
                    body,
                    name=name,
                    settings=settings,
                    media_type=media,
                    strict=strict,
                    dry_run=dry_run,
                )

        try:
            result = await run_in_threadpool(work)
        except HistoryFileError as exc:
            raise invalid("body", str(exc), where="body") from None
        return HistoryImportOut.model_validate(result.as_json())

    return router
