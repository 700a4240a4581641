"""What an expansion produces: one item per dose, infusion or monitoring task."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any, NamedTuple

DOSE = "dose"  # taken by the patient
INFUSION = "infusion"  # given in clinic (an appointment)
MONITORING = "monitoring"  # labs, observation, tests the label requires

KINDS = (DOSE, INFUSION, MONITORING)


class Item(NamedTuple):
    """One dated item (immutable). A named tuple: expansion builds millions of these, and a
    tuple can be built entirely in C (``tuple.__new__`` over zipped columns, see
    ``schedules.expand._items``), several times cheaper than a dataclass's ``__init__``."""

    stream: str  # "dose" or "monitoring:<name>"
    seq: int  # order within its stream (doses: occasion * times_per_day + slot)
    occasion: int  # index of the dosing occasion (the unit that shifts and restarts)
    at: datetime  # aware, in the patient's zone
    local_date: date
    local_time: time  # the wall-clock time asked for (``at`` may differ inside a DST gap)
    day: int  # Day number: Day 1 is the plan's start date
    amount: float
    unit: str
    kind: str
    phase: str
    label: str
    earliest: date | None = None  # allowed range for a clinic appointment
    latest: date | None = None

    @property
    def key(self) -> str:
        """Stable within a plan: "dose:17", "monitoring:jcv:2" (built on demand: expansion
        makes millions of items and most callers never ask)."""
        return f"{self.stream}:{self.seq}"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "at": self.at.isoformat(),
            "amount": self.amount,
            "unit": self.unit,
            "kind": self.kind,
            "phase": self.phase,
            "label": self.label,
            "day": self.day,
            "key": self.key,
        }
        if self.earliest is not None or self.latest is not None:
            out["earliest"] = self.earliest.isoformat() if self.earliest else None
            out["latest"] = self.latest.isoformat() if self.latest else None
        return out
