"""``/openapi.json`` that tells the truth: the answers every route can give besides its own.

FastAPI documents what a route returns and the 422 of its parameters; what the shared
mechanisms answer is added here, once, from the same facts they act on:

- every coordinator API operation: 401 (no, an unknown or a revoked bearer token);
- every operation naming a row (an id in the path or a ``patient_id`` filter): 404, which is
  also the answer for another team's row;
- every operation taking ``from``/``to``: the date rules its 422 enforces;
- every operation with a request body: 413 over the body cap (``limits``);
- the Twilio webhooks: their form and its required fields, 400, 403 (bad signature), 413;
- the calendar feeds: 304 (``If-None-Match``) and 404 (unknown token).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from adherence.web.api.deps import DATE_RULE, MAX_DOSE_SPAN_DAYS, MAX_EXPORT_SPAN_DAYS
from adherence.web.limits import limit_for

API = "/api/v1"
METHODS = ("get", "put", "post", "delete", "patch")

_DETAIL = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
_TEXT = {"text/plain": {"schema": {"type": "string"}}}

UNAUTHORIZED = {
    "description": "No bearer token, or an unknown or revoked one.",
    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
    "content": {"application/json": {"schema": _DETAIL}},
}
NOT_FOUND = {
    "description": "No such row in the coordinator's team (another team's row answers the same).",
    "content": {"application/json": {"schema": _DETAIL}},
}
DATE_RULES = (
    "Invalid parameters. Also: `to` before `from`; a range longer than "
    f"{MAX_DOSE_SPAN_DAYS} days (doses) or {MAX_EXPORT_SPAN_DAYS} days (exports, measures); "
    f"a date outside the calendar the daemon keeps ({DATE_RULE.rstrip('.').lower()}); "
    "for measures, only one of `from` and `to`."
)

SMS_FORM = {
    "type": "object",
    "properties": {
        "MessageSid": {"type": "string"},
        "From": {"type": "string"},
        "To": {"type": "string"},
        "Body": {"type": "string"},
    },
    "required": ["MessageSid", "From", "Body"],
}
STATUS_FORM = {
    "type": "object",
    "properties": {
        "MessageSid": {"type": "string"},
        "MessageStatus": {"type": "string"},
        "ErrorCode": {"type": "string"},
    },
    "required": ["MessageSid", "MessageStatus"],
}


def install(web: FastAPI) -> None:
    """Replace ``web.openapi`` with one that adds the shared answers (built once)."""

    def openapi() -> dict[str, Any]:
        if web.openapi_schema is None:
            doc = get_openapi(
                title=web.title, version=web.version, routes=web.routes, description=web.description
            )
            for path, item in doc["paths"].items():
                for method, op in item.items():
                    if method in METHODS:
                        _describe(path, method, op)
            web.openapi_schema = doc
        return web.openapi_schema

    web.openapi = openapi  # type: ignore[method-assign]


def _describe(path: str, method: str, op: dict[str, Any]) -> None:
    responses: dict[str, Any] = op.setdefault("responses", {})
    params = {p["name"]: p for p in op.get("parameters", [])}
    in_path = any(p["in"] == "path" for p in params.values())
    if path.startswith(API):
        responses.setdefault("401", UNAUTHORIZED)
        if in_path or "patient_id" in params:
            responses.setdefault("404", NOT_FOUND)
        if "from" in params or "to" in params:
            responses["422"] = {**responses.get("422", {}), "description": DATE_RULES}
    if path.startswith("/webhooks/"):
        form = SMS_FORM if path.endswith("/sms") else STATUS_FORM
        op["requestBody"] = {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": form}},
        }
        responses.setdefault(
            "400", {"description": "A required field is missing.", "content": _TEXT}
        )
        responses.setdefault(
            "403", {"description": "X-Twilio-Signature does not match.", "content": _TEXT}
        )
    if path.startswith("/calendar/"):
        responses.setdefault("304", {"description": "Not modified (If-None-Match)."})
        responses.setdefault(
            "404", {"description": "Unknown, rotated or malformed token.", "content": _TEXT}
        )
    if method in ("post", "put", "patch"):
        responses.setdefault(
            "413",
            {
                "description": f"The body is over {limit_for(path)} bytes.",
                "content": {"application/json": {"schema": _DETAIL}},
            },
        )
