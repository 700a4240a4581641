"""The patient's one-tap page (``/c/{token}``): Taken and Skip for one dose.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)
"""

from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter

from adherence.bootstrap import App


def onetap_routes(app: App, *, clock: Callable[[], datetime]) -> APIRouter:
    return APIRouter(include_in_schema=False)
