"""``create_app``: webhooks for Twilio, ``/healthz`` and ``/metrics``.

(No ``from __future__ import annotations`` here: FastAPI resolves the dependency types
declared inside ``create_app`` at runtime.)

Webhooks check ``X-Twilio-Signature`` against the configured public URL (behind a TLS
proxy the URL Twilio signed is not the one we see) and answer 403 otherwise. An inbound
``MessageSid`` is recorded once however often Twilio retries it.
"""

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from adherence.bootstrap import App
from adherence.metrics import DaemonState
from adherence.models import InboundMessage, Patient
from adherence.outbox import apply_status
from adherence.replies import handle_reply
from adherence.web.api import api_routes
from adherence.web.calendar import calendar_routes

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
    validator = RequestValidator(settings.twilio.auth_token)
    public = settings.http.public_base_url.rstrip("/")
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
        answer = await run_in_threadpool(
            _inbound, form, request.headers.get("I-Twilio-Idempotency-Token")
        )
        reply = MessagingResponse()
        if answer:
            reply.message(answer)
        return Response(str(reply), media_type=TWIML)

    def _inbound(form: dict[str, str], token: str | None) -> str | None:
        sid = form.get("MessageSid") or form.get("SmsSid") or (f"token:{token}" if token else "")
        if not sid:
            return None
        now = clock()
        sender = form.get("From", "")
        with session() as s:
            patient = s.exec(
                select(Patient)
                .where(Patient.phone == sender, Patient.active == True)  # noqa: E712
                .order_by(Patient.id)
            ).first()
            row = InboundMessage(
                provider_sid=sid,
                patient_id=patient.id if patient else None,
                from_number=sender,
                body=form.get("Body", ""),
                received_at=now,
            )
            s.add(row)
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                log.info("inbound duplicate ignored")  # a webhook retry: recorded once
                return None
            if patient is None:
                log.info("inbound from an unknown number ignored")
                return None
            outcome = handle_reply(
                s,
                catalog=app.catalog,
                patient=patient,
                text=row.body,
                now=now,
                snooze_minutes=settings.engine.snooze_minutes,
                horizon_days=settings.engine.horizon_days,
            )
            row.intent = outcome.intent.kind
            row.dose_id = outcome.dose.id if outcome.dose else None
            s.add(row)
            s.commit()
            state.metrics.replies.labels(outcome.intent.kind).inc()
            log.info("inbound reply intent=%s patient=%s", outcome.intent.kind, patient.id)
            wake()  # a snooze or a help text may need the engine now
            return outcome.answer

    @web.post("/webhooks/twilio/status")
    async def status_callback(form: Form) -> Response:
        if form is None:
            return Response("forbidden", status_code=403, media_type="text/plain")
        await run_in_threadpool(_status, form)
        return Response(status_code=204)

    def _status(form: dict[str, str]) -> None:
        sid = form.get("MessageSid") or form.get("SmsSid")
        status = form.get("MessageStatus") or form.get("SmsStatus") or ""
        code_raw = form.get("ErrorCode") or ""
        code = int(code_raw) if code_raw.isdigit() else None
        if not sid or not status:
            return
        # A callback can overtake us: the send's outcome (with this sid) is recorded by the
        # next engine tick, a fraction of a second later. Give it a moment before giving up.
        for _ in range(20):
            with session() as s:
                if apply_status(s, provider_id=sid, status=status, error_code=code, now=clock()):
                    return
            time.sleep(0.1)
        log.info("status callback for an unknown message ignored status=%s", status)
        log.info("status callback status=%s code=%s", status, code)

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
    return web
