"""The care-team step of an engine tick: raise flags from what happened, escalate urgent
ones at once, and send each coordinator's daily digest at their local time.

Called by ``engine.tick`` with the tick's ``now``; ``full`` is true on the ticks that also
materialise (about hourly), when the slower checks (PDC, silence, overdue infusions) run.
Returns when it next needs to run (the next digest), or None.

What a process remembers between ticks (``CareState``: the newest dose and patient changes
already looked at, which digests are done) lives beside the database engine, so every
process and every test database keeps its own; a restart only makes the next pass look
further back.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from adherence.config import Settings
from adherence.escalation import DigestState, escalate_urgent, send_digests
from adherence.flags import RuleState, evaluate
from schedules import Catalog

log = logging.getLogger("adherence.care")

RETRY_AFTER = timedelta(minutes=1)


@dataclass
class CareState:
    rules: RuleState = field(default_factory=RuleState)
    digests: DigestState = field(default_factory=DigestState)


_STATES: weakref.WeakKeyDictionary[Any, CareState] = weakref.WeakKeyDictionary()


def state_for(session: Session) -> CareState:
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    state = _STATES.get(engine)
    if state is None:
        state = _STATES[engine] = CareState()
    return state


def care_step(
    session: Session,
    *,
    now: datetime,
    catalog: Catalog,
    settings: Settings,
    full: bool,
    state: CareState | None = None,
) -> datetime | None:
    state = state if state is not None else state_for(session)
    try:
        flags = evaluate(
            session, now=now, catalog=catalog, settings=settings, full=full, state=state.rules
        )
        session.commit()  # flags and consumed rule events together
        if flags:
            log.info("care step flags=%d", len(flags))
        escalate_urgent(session, now=now)
        session.commit()  # the messages and notified_at together
        next_at = send_digests(session, now=now, settings=settings, state=state.digests)
        session.commit()
        return next_at
    except Exception:
        # A surprise in one rule must not stop reminders: log, drop this attempt, retry soon.
        session.rollback()
        log.exception("care step failed; retrying shortly")
        return now + RETRY_AFTER
