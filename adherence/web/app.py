"""``create_app``: webhooks for Twilio, ``/healthz`` and ``/metrics``.

(No ``from __future__ import annotations`` here: FastAPI resolves the dependency types
declared inside ``create_app`` at runtime.)

Webhooks check ``X-Twilio-Signature`` against the configured public URL (behind a TLS
proxy the URL Twilio signed is not the one we see) and answer 403 otherwise, parse the
form into plain values (``notifiers.twilio_sms``) and hand them to one domain step: an
inbound text to ``adherence.dosing.inbound.receive_sms`` (which records a ``MessageSid`` once
however often Twilio retries it), a delivery status to ``adherence.messaging.receipts.apply_status``
on the outbox row named in the callback URL, applied at once.
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
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
from adherence.web.api import api_routes
from adherence.web.calendar import calendar_routes
from adherence.web.onetap import onetap_routes
from adherence.web.workspace import install_workspace
from notifiers.twilio_sms import InboundSms, StatusUpdate, parse_inbound, parse_status

log = logging.getLogger("adherence.web")

TWIML = "application/xml"


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

    @web.post("/webhooks/twilio/sms")
    async def inbound_sms(request: Request, form: Form) -> Response:
        if form is None:
            return Response("forbidden", status_code=403, media_type="text/plain")
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

    @web.post("/webhooks/twilio/status")
    async def status_callback(request: Request, form: Form) -> Response:
        if form is None:
            return Response("forbidden", status_code=403, media_type="text/plain")
        update = parse_status(form)
        if update is not None:
            # Our row id, from the URL we gave Twilio with the message (absent for texts
            # sent before it carried one: those are found by their sid).
            raw = request.query_params.get(CALLBACK_PARAM, "")
            await run_in_threadpool(_status, update, int(raw) if raw.isdigit() else None)
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

    @web.get("/healthz")
    def healthz() -> Response:
        import json

        db_ok = True
        try:
            with app.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:
            db_ok = False
        now = clock()
        age = (now - state.last_tick_at).total_seconds() if state.last_tick_at else None
        stale = age is None or age > 3 * settings.engine.max_sleep_seconds + 30
        healthy = db_ok and state.scheduler_running and not stale
        body = {
            "status": "ok" if healthy else "unhealthy",
            "database": db_ok,
            "scheduler": state.scheduler_running,
            "last_tick_age_seconds": None if age is None else round(age, 3),
        }
        return Response(
            json.dumps(body), status_code=200 if healthy else 503, media_type="application/json"
        )

    @web.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    web.include_router(calendar_routes(app, clock=clock))
    web.include_router(api_routes(app, clock=clock))
    web.include_router(onetap_routes(app, clock=clock))
    install_workspace(web, app, clock=clock)
    return web
