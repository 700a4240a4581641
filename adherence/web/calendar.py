"""Calendar feeds: ``GET /calendar/{token}.ics`` (patient) and the care team's feed."""

from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter

from adherence.bootstrap import App


def calendar_routes(app: App, *, clock: Callable[[], datetime]) -> APIRouter:
    router = APIRouter(tags=["calendar"])
    return router
