"""The care-team step of an engine tick: raise flags from what happened, escalate urgent
ones at once, and send each coordinator's daily digest at their local time.

Called by ``engine.tick`` with the tick's ``now``; ``full`` is true on the ticks that also
materialise (about hourly), when the slower checks (PDC, silence, overdue infusions) run.
Returns when it next needs to run (the next digest), or None.

Nothing is remembered between ticks: what the step needs lives in rows, so a restart, or a
second daemon on the same PostgreSQL database, sees the same state. Newly missed doses are
rule events consumed through their ``notified`` mark, who cannot be texted is read from the
patients and their flags (``flags``), each plan's ``pdc_checked_on`` is the day its PDC was
last measured, and each coordinator's
``next_digest_at`` is the next digest, claimed with a conditional update before it is
sent (``escalation``). The step therefore takes no per-worker state.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import Session

from adherence.care.escalation import escalate_urgent, send_digests
from adherence.care.flags import evaluate
from adherence.care.flags.visits import visit_rules
from adherence.core.config import Settings
from schedules import Catalog

log = logging.getLogger("adherence.care")

RETRY_AFTER = timedelta(minutes=1)


def care_step(
    session: Session,
    *,
    now: datetime,
    catalog: Catalog,
    settings: Settings,
    full: bool,
) -> datetime | None:
    try:
        flags = evaluate(session, now=now, catalog=catalog, settings=settings, full=full)
        flags += visit_rules(session, now=now, settings=settings, full=full)  # visit_overdue
        session.commit()  # flags, consumed rule events and PDC check days together
        if flags:
            log.info("care step flags=%d", len(flags))
        escalate_urgent(session, now=now)
        session.commit()  # the messages and notified_at together
        next_at = send_digests(session, now=now, settings=settings)
        session.commit()  # the claims and the digests they sent together
        return next_at
    except Exception:
        # A surprise in one rule must not stop reminders: log, drop this attempt, retry soon.
        session.rollback()
        log.exception("care step failed; retrying shortly")
        return now + RETRY_AFTER
