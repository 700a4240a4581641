"""``create_app``: webhooks for Twilio, ``/healthz`` and ``/metrics``.

(No ``from __future__ import annotations`` here: FastAPI resolves the dependency types
declared inside ``create_app`` at runtime.)

Webhooks check ``X-Twilio-Signature`` against the configured public URL (behind a TLS
proxy the URL Twilio signed is not the one we see) and answer 403 otherwise, parse the
form into plain values (``notifiers.twilio_sms``) and hand them to one domain step: an
inbound text to ``adherence.dosing.inbound.receive_sms`` (which records a ``MessageSid`` once
however often Twilio retries it), a delivery status to ``adherence.messaging.receipts.apply_status``
on the outbox row named in the callback URL, applied at once. A signed request without the
fields Twilio always sends (``From``, ``Body`` and ``MessageSid`` for a text, ``MessageSid``
and ``MessageStatus`` for a status) is refused with 400 naming them.

Every request body is capped before it is read (``limits.BodyLimit``): 64 KiB for the
webhooks, 64 MiB for a history import, 1 MiB for everything else; over the cap is a 413.
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Literal
from urllib.parse import parse_qsl

from fastapi import Depends, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlmodel import Session
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from adherence.bootstrap import App
from adherence.dosing.inbound import receive_sms
from adherence.messaging.outbox import CALLBACK_PARAM
from adherence.messaging.receipts import apply_status
from adherence.metrics import DaemonState
from adherence.selfcare.router import ReplyRouter
from adherence.storage.reach import unreachable_teams
from adherence.web.api import api_routes
from adherence.web.api.deps import MAX_ID
from adherence.web.calendar import calendar_routes
from adherence.web.limits import BodyLimit
from adherence.web.onetap import onetap_routes
from adherence.web.openapi import install as describe_openapi
from adherence.web.workspace import install_workspace
from notifiers.twilio_sms import InboundSms, StatusUpdate, parse_inbound, parse_status

log = logging.getLogger("adherence.web")

TWIML = "application/xml"

# What Twilio always sends (the legacy Sms* names stand in for the Message* ones).
SMS_FIELDS = (("From",), ("Body",), ("MessageSid", "SmsSid"))
STATUS_FIELDS = (("MessageSid", "SmsSid"), ("MessageStatus", "SmsStatus"))


class TwimlResponse(Response):
    media_type = TWIML


class PrometheusText(Response):
    media_type = CONTENT_TYPE_LATEST


class HealthOut(BaseModel):
    status: Literal["ok", "degraded", "unhealthy"] = Field(
        description="degraded: running, but teams_without_coordinator is not empty (still 200)."
    )
    database: bool
    scheduler: bool
    last_tick_age_seconds: float | None
    teams_without_coordinator: list[int] = Field(
        description="Care teams whose urgent flags reach nobody (no coordinator can be alerted)."
    )


def missing_fields(form: dict[str, str], required: tuple[tuple[str, ...], ...]) -> list[str]:
    """The required fields the form lacks (``Body`` may be empty: a picture-only text)."""
    out = []
    for names in required:
        if names == ("Body",):
            if "Body" not in form:
                out.append("Body")
        elif not any(form.get(n, "").strip() for n in names):
            out.append(names[0])
    return out


def _bad_request(missing: list[str]) -> Response:
    return Response(
        f"missing field(s): {', '.join(missing)}", status_code=400, media_type="text/plain"
    )


def create_app(
    app: App,
    *,
    state: DaemonState | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    wake: Callable[[], None] = lambda: None,
) -> FastAPI:
    settings = app.settings
    state = state or DaemonState()
    validator = RequestValidator(settings.twilio.auth_token.get_secret_value())
    public = settings.http.public_base_url.rstrip("/")
    router = ReplyRouter(settings.checkins, settings.triage)
    web = FastAPI(title="MS adherence daemon", version="0.1.0")
    web.add_middleware(BodyLimit)  # the caps of limits.ROUTE_LIMITS, before any byte is read

    def session() -> Session:
        return Session(app.engine, expire_on_commit=False)

    async def signed_form(request: Request) -> dict[str, str] | None:
        raw = (await request.body()).decode("utf-8", "replace")
        form = dict(parse_qsl(raw, keep_blank_values=True))
        url = public + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        signature = request.headers.get("X-Twilio-Signature", "")
        if not settings.twilio.auth_token or not validator.validate(url, form, signature):
            log.info("webhook rejected: bad signature path=%s", request.url.path)
            return None
        return form

    Form = Annotated[dict[str, str] | None, Depends(signed_form)]

    @web.post(
        "/webhooks/twilio/sms",
        response_class=TwimlResponse,
        responses={200: {"description": "TwiML: the answer to the text, if any."}},
        summary="An inbound text from Twilio (signed)",
    )
    async def inbound_sms(request: Request, form: Form) -> Response:
        if form is None:
            return Response("forbidden", status_code=403, media_type="text/plain")
        if missing := missing_fields(form, SMS_FIELDS):
            return _bad_request(missing)
        sms = parse_inbound(form, request.headers.get("I-Twilio-Idempotency-Token"))
        answer = None if sms is None else await run_in_threadpool(_inbound, sms)
        reply = MessagingResponse()
        if answer:
            reply.message(answer)
        return Response(str(reply), media_type=TWIML)

    def _inbound(sms: InboundSms) -> str | None:
        with session() as s:
            outcome = receive_sms(
                s,
                sms,
                catalog=app.catalog,
                now=clock(),
                snooze_minutes=settings.engine.snooze_minutes,
                horizon_days=settings.engine.horizon_days,
                reply=router,
            )
        if outcome is None:
            return None
        state.metrics.replies.labels(outcome.intent.kind).inc()
        wake()  # a snooze or a help text may need the engine now
        return outcome.answer

    @web.post(
        "/webhooks/twilio/status",
        status_code=204,
        response_class=Response,
        summary="A delivery status callback from Twilio (signed)",
    )
    async def status_callback(request: Request, form: Form) -> Response:
        if form is None:
            return Response("forbidden", status_code=403, media_type="text/plain")
        if missing := missing_fields(form, STATUS_FIELDS):
            return _bad_request(missing)
        update = parse_status(form)
        if update is not None:
            # Our row id, from the URL we gave Twilio with the message (absent for texts
            # sent before it carried one: those are found by their sid).
            raw = request.query_params.get(CALLBACK_PARAM, "")
            row = int(raw) if raw.isdigit() and len(raw) <= 10 else None
            row = row if row is not None and 1 <= row <= MAX_ID else None  # else: by its sid
            await run_in_threadpool(_status, update, row)
        return Response(status_code=204)

    def _status(update: StatusUpdate, outbox_id: int | None) -> None:
        with session() as s:
            apply_status(
                s,
                provider_id=update.sid,
                status=update.status,
                error_code=update.error_code,
                outbox_id=outbox_id,
                now=clock(),
            )

    @web.get(
        "/healthz",
        response_model=HealthOut,
        responses={503: {"model": HealthOut, "description": "Unhealthy."}},
        summary="Database, scheduler and last tick; degraded: a team no alert can reach",
    )
    def healthz() -> Response:
        import json

        db_ok = True
        unreached: list[int] = []
        try:
            with app.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            with session() as s:
                unreached = [t.id or 0 for t in unreachable_teams(s)]
        except Exception:
            db_ok = False
        now = clock()
        age = (now - state.last_tick_at).total_seconds() if state.last_tick_at else None
        stale = age is None or age > 3 * settings.engine.max_sleep_seconds + 30
        healthy = db_ok and state.scheduler_running and not stale
        # Degraded: running, but some team's urgent flags reach nobody. Still 200: restarting
        # the daemon would not help, and its reminders still go out.
        status = "unhealthy" if not healthy else "degraded" if unreached else "ok"
        body = {
            "status": status,
            "database": db_ok,
            "scheduler": state.scheduler_running,
            "last_tick_age_seconds": None if age is None else round(age, 3),
            "teams_without_coordinator": unreached,
        }
        return Response(
            json.dumps(body), status_code=200 if healthy else 503, media_type="application/json"
        )

    @web.get(
        "/metrics",
        response_class=PrometheusText,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
        summary="Prometheus metrics (text exposition format)",
    )
    def metrics() -> Response:
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    web.include_router(calendar_routes(app, clock=clock))
    web.include_router(api_routes(app, clock=clock))
    web.include_router(onetap_routes(app, clock=clock))
    install_workspace(web, app, clock=clock)
    describe_openapi(web)
    return web
