"""The coordinator API under ``/api/v1``: bearer tokens, scoped to the coordinator's team."""

from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter

from adherence.bootstrap import App


def api_routes(app: App, *, clock: Callable[[], datetime]) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["coordinator"])
    return router
