"""The engine half of `adherence run`: a worker thread that runs the engine tick when the
next dose or message is due.

The loop is APScheduler's own main loop without the job store: run the tick, then wait on a
``threading.Event`` for the sleep the tick returned (never longer than
``max_sleep_seconds``). ``wake()`` sets the event when work arrives (a webhook recorded a
reply), so the next tick starts at once; ``stop`` sets it too, so shutting down never waits
out a sleep. A reminder leaves within a second or two of its time without polling.
Per-dose state lives in our tables, none in the loop. Several daemons may share one
PostgreSQL database: dose and message claims use ``FOR UPDATE SKIP LOCKED`` and
materialising is guarded by an advisory lock.

The HTTP service is not built here: the CLI's ``run`` command puts this worker and the web
app in one process (the web app reads ``Worker.state`` and calls ``Worker.wake``), so the
daemon and the web layer never import each other.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select

from adherence.bootstrap import App, sms_channel_name
from adherence.core.clock import Clock, SystemClock
from adherence.core.config import Settings
from adherence.dosing.dispatch import next_due
from adherence.engine import MaterializePass, TickResult, dispatch_policy, tick
from adherence.messaging.mail import MailSender, make_email_channel
from adherence.messaging.outbox import Sender
from adherence.messaging.receipts import reconcile_in_flight
from adherence.metrics import DaemonState
from adherence.storage.models import Dose
from notifiers.sms import ConsoleSms, SendResult, SmsChannel, SmsMessage, TransportError

log = logging.getLogger("adherence.daemon")
MATERIALIZE_LOCK = 0x4D53_0001  # advisory lock key ("MS" + 1)
RETRY_AFTER_FAILURE = timedelta(seconds=5)


@dataclass
class TimedChannel:
    """Measures provider calls for /metrics without touching the channel."""

    inner: SmsChannel
    state: DaemonState

    @property
    def name(self) -> str:
        return self.inner.name

    def send(self, message: SmsMessage) -> SendResult:
        started = time.perf_counter()
        try:
            result = self.inner.send(message)
        except TransportError as exc:
            self.state.metrics.messages_failed.labels(exc.outcome).inc()
            raise
        finally:
            self.state.metrics.send_latency.observe(time.perf_counter() - started)
        self.state.metrics.messages_sent.labels(message.purpose or "unknown").inc()
        return result

    def reconcile(self, message: SmsMessage, since: datetime) -> str | None:
        reconcile = getattr(self.inner, "reconcile", None)
        return None if reconcile is None else reconcile(message, since)


def make_channel(settings: Settings) -> SmsChannel:
    if sms_channel_name(settings) == "twilio":
        from notifiers.twilio_sms import TwilioConfig, TwilioSms

        tw = settings.twilio
        return TwilioSms(
            TwilioConfig(
                account_sid=tw.account_sid,
                auth_token=tw.auth_token.get_secret_value(),
                from_number=tw.from_number,
                messaging_service_sid=tw.messaging_service_sid,
                api_base_url=tw.api_base_url,
                timeout=tw.timeout_seconds,
            )
        )
    return ConsoleSms()


class Worker:
    # Plans expanded per tick while a materialising pass runs: about a second of work on
    # a busy 2-core machine, so that a reminder due now waits at most that long.
    materialize_slice_plans = 200

    def __init__(
        self, app: App, channel: SmsChannel, state: DaemonState, clock: Clock | None = None
    ) -> None:
        self.app = app
        self.state = state
        self.clock = clock or SystemClock()
        tw = app.settings.twilio
        self.channel = TimedChannel(channel, state)
        self.status_callback = (
            app.settings.http.public_base_url.rstrip("/") + "/webhooks/twilio/status"
        )
        self.sender = Sender(
            channel=self.channel,
            workers=tw.max_workers,
            rate_per_second=tw.rate_per_second if channel.name == "twilio" else 1000.0,
            status_callback=self.status_callback if channel.name == "twilio" else None,
        )
        self.reconcile_after = timedelta(seconds=tw.timeout_seconds + 5)
        self.mailer = make_email_channel(app.settings)
        # E-mail goes out on its own thread, woken by each tick: never inside the tick.
        self.mail = MailSender(self.mailer, session=app.session, clock=self.clock.now)
        self.policy = dispatch_policy(app.settings)
        self.next_materialize = self.clock.now()
        self.materialize_pass: MaterializePass | None = None
        self.first = True
        self.stopping = threading.Event()
        self.lock = threading.Lock()  # one tick at a time, and none while stop() records
        self._wakeup = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> TickResult:
        with self.lock:
            now = self.clock.now()
            eng = self.app.settings.engine
            with self.app.session() as s:
                reconcile_in_flight(
                    s,
                    now=now,
                    channel=self.channel,
                    # At start, anything still "sending" was in flight when we stopped.
                    older_than=timedelta(0) if self.first else self.reconcile_after,
                    status_callback=self.sender.status_callback,
                )
                self.first = False
                due_now = s.exec(
                    select(func.count()).select_from(Dose).where(col(Dose.next_action_at) <= now)
                ).one()
                oldest = next_due(s)
                m = self.state.metrics
                m.reminders_due.set(due_now)
                lag = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
                m.dispatch_lag.set(lag)
                pending = self.materialize_pass
                if now >= self.next_materialize and (pending is None or pending.done):
                    # In slices, one per tick after its dispatch; each slice holds the
                    # advisory lock (PostgreSQL) while it writes.
                    pg = self.app.engine.dialect.name == "postgresql"
                    self.materialize_pass = MaterializePass(
                        horizon_days=eng.horizon_days,
                        lock_key=MATERIALIZE_LOCK if pg else None,
                        slice_plans=self.materialize_slice_plans,
                    )
                    self.next_materialize = now + timedelta(minutes=eng.materialize_every_minutes)
                result = tick(
                    s,
                    now=now,
                    catalog=self.app.catalog,
                    policy=self.policy,
                    sender=self.sender,
                    horizon_days=eng.horizon_days,
                    do_materialize=False,
                    materialize_pass=self.materialize_pass,
                    status_callback=self.sender.status_callback,
                    clock=self.clock.now,
                    settings=self.app.settings,
                    mailer=None,  # sent by self.mail, off the tick
                )
            self.mail.wake()
            m = self.state.metrics
            m.ticks.inc()
            m.doses_missed.inc(result.dispatched.missed)
            self.state.last_tick_at = self.clock.now()
            if result.dispatched.acted or result.sent or result.materialized:
                log.info(
                    "tick acted=%d reminders=%d nudges=%d missed=%d sent=%d materialized=%d",
                    result.dispatched.acted,
                    result.dispatched.reminders,
                    result.dispatched.nudges,
                    result.dispatched.missed,
                    result.sent,
                    result.materialized,
                )
            p = self.materialize_pass
            if p is not None and p.pending_full:  # it ended in this tick
                t = p.total
                log.info(
                    "materialise pass done written=%d plans=%d unchanged=%d failed=%d%s",
                    t.written,
                    t.examined,
                    t.skipped,
                    t.failed,
                    " (another worker holds the lock)" if t.locked else "",
                )
            for event in result.dispatched.events:
                log.info("rule event type=%s plan=%s", event.type, event.plan_id)
            return result

    def loop(self) -> None:
        """Tick, then sleep until the next step is due, ``wake()`` or ``stop()``."""
        max_sleep = timedelta(seconds=self.app.settings.engine.max_sleep_seconds)
        while not self.stopping.is_set():
            # Cleared before the tick: a wake() while it runs makes the next one start at once.
            self._wakeup.clear()
            try:
                nxt = self.run_once().next_at
            except Exception:
                log.exception("tick failed; retrying shortly")
                nxt = self.clock.now() + RETRY_AFTER_FAILURE
            limit = self.clock.now() + max_sleep
            when = min(nxt, limit) if nxt else limit
            wait = (when - self.clock.now()).total_seconds()
            if wait > 0:
                self._wakeup.wait(wait)

    def wake(self) -> None:
        """Run the tick now (after a webhook changed something)."""
        self._wakeup.set()

    def start(self) -> None:
        """Run ``loop`` on its own thread (the HTTP service keeps the main one)."""
        self.state.started_at = self.clock.now()
        self.state.scheduler_running = True
        self._thread = threading.Thread(target=self._run, name="adherence-tick", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.loop()
        finally:
            self.state.scheduler_running = False  # /healthz turns unhealthy if the loop dies

    def request_stop(self) -> None:
        """No new tick from now on; the one running (if any) finishes. Safe in a signal
        handler: it only sets events."""
        self.stopping.set()
        self._wakeup.set()

    def stop(self) -> None:
        """Stop taking new work; let in-flight sends finish (their rows are then recorded)."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join()
        self.state.scheduler_running = False
        self.mail.stop()  # a last pass for the e-mail due, then its thread ends
        with self.lock, self.app.session() as s:
            recorded = self.sender.finish(s, self.clock.now())
        if recorded:
            log.info("recorded %d in-flight sends before exit", recorded)
        self.sender.close(wait=True)

    # What `adherence run` logs around the worker's life.

    def once(self) -> None:
        """``--once``: every due step once, then the sends on the wire recorded."""
        result = self.run_once()
        self.stop()
        log.info("once: next action at %s", result.next_at.isoformat() if result.next_at else "-")

    def signalled(self, signum: int) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        self.request_stop()

    def shutdown(self) -> None:
        log.info("daemon stopping: finishing in-flight sends")
        self.stop()
        log.info("daemon stopped")


def open_worker(app: App, channel: SmsChannel | None = None) -> Worker:
    """The worker `adherence run` starts: the configured SMS channel (or ``channel``) and
    fresh metrics in ``worker.state``, which the web app reports."""
    chan = channel or make_channel(app.settings)
    worker = Worker(app, chan, DaemonState())
    log.info("daemon starting channel=%s database=%s", chan.name, app.engine.dialect.name)
    _warn_unreachable_teams(app)
    return worker


def _warn_unreachable_teams(app: App) -> None:
    """A team whose urgent flags would reach nobody is said at start-up, not found later."""
    from adherence.care.escalation import warn_unreachable_teams

    try:
        with app.session() as s:
            warn_unreachable_teams(s)
    except Exception:  # a start-up check never stops the daemon
        log.exception("could not check the care teams' coordinators")
