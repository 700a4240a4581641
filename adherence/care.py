"""The care-team step of an engine tick: raise flags from what happened, escalate urgent
ones at once, and send each coordinator's daily digest at their local time.

Called by ``engine.tick`` with the tick's ``now``; ``full`` is true on the ticks that also
materialise (about hourly), when the slower checks (PDC, silence) run. Returns when it
next needs to run (the next digest), or None.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from adherence.config import Settings
from schedules import Catalog


def care_step(
    session: Session, *, now: datetime, catalog: Catalog, settings: Settings, full: bool
) -> datetime | None:
    return None
