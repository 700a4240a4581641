"""One engine tick: the steps, in order, and when the next one is needed.

The daemon calls ``tick`` when it wakes; the simulation calls it on a virtual clock; tests
call it with a frozen ``now``. It never reads the clock itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from adherence.care.flags.refill import refill_step
from adherence.care.step import care_step
from adherence.core.config import Settings, SupplySettings
from adherence.dosing.dispatch import DispatchPolicy, DispatchResult, dispatch_due, next_due
from adherence.dosing.materialize import materialize
from adherence.messaging.mail import deliver_email
from adherence.messaging.outbox import Sender, deliver, next_pending
from adherence.selfcare.nudges.step import nudge_step
from adherence.selfcare.step import selfcare_step
from notifiers.email import EmailChannel
from notifiers.sms import SmsChannel
from schedules import Catalog


@dataclass
class TickResult:
    materialized: int
    dispatched: DispatchResult
    sent: int
    next_at: datetime | None


def dispatch_policy(settings: Settings) -> DispatchPolicy:
    """The dispatcher's rules from ``[engine]`` (and the one-tap link from ``[sms]`` and
    ``[http]``): the daemon and the simulation use the same."""
    eng = settings.engine
    return DispatchPolicy(
        nudges=eng.nudges,
        nudge_every=timedelta(minutes=eng.nudge_every_minutes),
        horizon_days=eng.horizon_days,
        confirm_links=settings.sms.confirm_links,
        public_base_url=settings.http.public_base_url,
        max_length=settings.sms.max_length,
        monitoring=settings.monitoring,
    )


def tick(
    session: Session,
    *,
    now: datetime,
    catalog: Catalog,
    policy: DispatchPolicy,
    channel: SmsChannel | None = None,
    sender: Sender | None = None,
    horizon_days: int,
    do_materialize: bool,
    status_callback: str | None = None,
    clock: Callable[[], datetime] | None = None,
    settings: Settings | None = None,
    mailer: EmailChannel | None = None,
    supply: SupplySettings | None = None,
) -> TickResult:
    """One pass of every step. ``supply`` is the ``[supply]`` section when ``settings`` is
    not given (the simulation runs no care step but does send refill texts)."""
    written = 0
    if do_materialize:
        written = materialize(session, now=now, catalog=catalog, horizon_days=horizon_days)
    # One batch, then hand its texts to the sender before preparing the next: in a morning
    # peak the first reminders leave while later ones are still being dispatched.
    dispatched = dispatch_due(session, now=now, catalog=catalog, policy=policy, max_batches=1)
    # Refill texts and refill-overdue flags: a plan's home supply, once a local day and
    # whenever one of its instants comes; before delivery, so a text due now goes now.
    supply = supply or (settings.supply if settings is not None else SupplySettings())
    supply_next = refill_step(
        session, now=now, catalog=catalog, settings=supply, full=do_materialize
    )
    # Opt-in self-care nudges that are due (none unless a patient chose one).
    nudges_next = nudge_step(session, now=now, settings=settings) if settings is not None else None
    sent = deliver(
        session,
        now=now,
        channel=channel,
        sender=sender,
        status_callback=status_callback,
        clock=clock,
    )
    care_next = selfcare_next = None
    if settings is not None:
        # Flags from what just happened, urgent escalations, digests that are due.
        care_next = care_step(
            session, now=now, catalog=catalog, settings=settings, full=do_materialize
        )
        # Check-ins due, expired questions, triage for the flare flags just raised.
        selfcare_next = selfcare_step(
            session, now=now, checkin_settings=settings.checkins, triage_settings=settings.triage
        )
    if mailer is not None:
        deliver_email(session, now=now, channel=mailer)
    candidates = [
        t
        for t in (
            next_due(session),
            next_pending(session),
            care_next,
            supply_next,
            selfcare_next,
            nudges_next,
        )
        if t is not None
    ]
    if dispatched.more:
        candidates.append(now)
    nxt = min(candidates) if candidates else None
    if sender is not None and sender.busy:
        # Requests on the wire: come back soon to record them and free their slots.
        soon = now + timedelta(milliseconds=50)
        nxt = soon if nxt is None else min(nxt, soon)
    if nxt is not None and nxt <= now:
        nxt = now  # more work queued than one batch: come back at once
    return TickResult(materialized=written, dispatched=dispatched, sent=sent, next_at=nxt)
