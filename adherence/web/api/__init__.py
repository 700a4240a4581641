"""The coordinator API under ``/api/v1``: bearer tokens, scoped to the coordinator's team.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

- Every route needs ``Authorization: Bearer <token>``; a missing, unknown or revoked token
  answers 401 with ``WWW-Authenticate: Bearer``.
- Every lookup is filtered by the coordinator's care team, so another team's patient, plan,
  dose or flag answers the same 404 as an id that does not exist: ids leak nothing.
- Every read or export of patient data writes one audit row, committed with the read.
- Routes are plain ``def``: FastAPI runs them in its threadpool, so the blocking database
  work never stalls the event loop that also serves Twilio's webhooks.

One router per resource (``patients``, ``plans``, ``supply``, ``doses``, ``flags``,
``measures``, ``exports``, ``history``), sharing ``deps`` (the bearer-token dependency,
sessions, the team-scoped
lookups, the audit row and the error helpers). The request and response models that
/openapi.json describes are the resources' own; the entities' public models are
``adherence.storage.public``'s, shared with the CLI's --json.
"""

from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter

from adherence.bootstrap import App
from adherence.web.api.deps import Deps
from adherence.web.api.doses import dose_routes
from adherence.web.api.exports import export_routes
from adherence.web.api.flags import AckIn, ResolveIn, flag_routes
from adherence.web.api.history import history_routes
from adherence.web.api.measures import MeasuresOut, measure_routes
from adherence.web.api.patients import patient_routes
from adherence.web.api.plans import plan_routes
from adherence.web.api.supply import supply_routes

__all__ = ["AckIn", "MeasuresOut", "ResolveIn", "api_routes"]


def api_routes(app: App, *, clock: Callable[[], datetime]) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["coordinator"])
    deps = Deps(app, clock)
    for routes in (
        patient_routes,
        plan_routes,
        supply_routes,
        dose_routes,
        flag_routes,
        measure_routes,
        export_routes,
        history_routes,
    ):
        router.include_router(routes(deps))
    return router
