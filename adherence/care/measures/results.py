"""The measures' result types: a plan's, a patient's and a care team's, and their JSON.

``PlanMeasures`` and ``PatientMeasures`` share what they compute alike from their days
covered (``_Coverage``: PDC, adherent, persistent); ``TeamMeasures`` sums its patients. The
numbers are filled in by ``adherence.care.measures.pdc``; ``to_json`` is what the report,
the API and the exports show.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from adherence.care.measures.dispensing import DispensingCover


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


NOTHING_YET = "nothing to measure yet"


def pdc_status(pdc: float | None, nothing_yet: bool) -> str:
    """What a PDC column shows in words: measured, nothing to measure yet (every dose still
    to come), or not measured (no dose in the period, or not a PDC therapy)."""
    if pdc is not None:
        return "measured"
    return NOTHING_YET if nothing_yet else "not measured"


# --- results --------------------------------------------------------------------------------


class _Coverage:
    """What a plan and a patient compute alike from their days covered: PDC, adherent,
    persistent, and the JSON block that shows them. Subclasses are dataclasses with these
    fields (a plain base class, so the dataclasses keep their own field order)."""

    start: date
    end: date
    threshold: float
    permissible_gap_days: int
    index_date: date | None
    days_in_period: int
    days_covered: float
    longest_gap_days: float
    days_not_recorded: int
    measured_to: date | None
    nothing_yet: bool

    @property
    def in_pdc(self) -> bool:
        return self.index_date is not None

    @property
    def pdc(self) -> float | None:
        return _ratio(self.days_covered, self.days_in_period) if self.in_pdc else None

    @property
    def adherent(self) -> bool | None:
        pdc = self.pdc
        return None if pdc is None else pdc >= self.threshold

    @property
    def persistent(self) -> bool | None:
        return None if not self.in_pdc else self.longest_gap_days <= self.permissible_gap_days

    def _coverage_json(self) -> dict[str, Any]:
        return {
            "period": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "index_date": self.index_date.isoformat() if self.index_date else None,
            "days_in_period": self.days_in_period,
            "days_covered": round(self.days_covered, 4),
            # Days on therapy before enrolment that nobody recorded: neither taken nor
            # missed, left out of the period and of the gaps.
            "days_not_recorded": self.days_not_recorded,
            "pdc": _r(self.pdc),
            # The last day PDC counts (today is not over; later days have not happened),
            # and why there is no PDC when there is none.
            "measured_to": self.measured_to.isoformat() if self.measured_to else None,
            "pdc_status": pdc_status(self.pdc, self.nothing_yet),
            "pdc_basis": "confirmations",
            "threshold": self.threshold,
            "adherent": self.adherent,
        }


@dataclass
class PlanMeasures(_Coverage):
    plan_id: int
    patient_id: int
    regimen: str
    therapy_kind: str
    start: date
    end: date
    threshold: float
    permissible_gap_days: int
    scheduled: int = 0  # doses due in the period with a final status
    taken: int = 0
    on_time: int = 0
    missed: int = 0
    skipped: int = 0
    pending: int = 0  # due in the period, not yet answered
    index_date: date | None = None
    days_in_period: int = 0
    days_covered: float = 0.0
    longest_gap_days: float = 0.0
    infusions_due: int = 0
    infusions_given: int = 0
    infusions_on_time: int = 0
    infusion_days_late: list[int] = field(default_factory=list)
    days_not_recorded: int = 0  # on therapy before enrolment, nobody recorded (left out)
    measured_to: date | None = None
    nothing_yet: bool = False  # a PDC plan whose doses are all still to come
    # Cover and days not recorded as merged [start, end) day ordinals: the patient level
    # unions them.
    cover: list[tuple[float, float]] = field(default_factory=list, repr=False)
    not_recorded: list[tuple[float, float]] = field(default_factory=list, repr=False)
    dispensing: DispensingCover = field(default_factory=DispensingCover)

    def to_json(self) -> dict[str, Any]:
        late = self.infusion_days_late
        return {
            "plan_id": self.plan_id,
            "patient_id": self.patient_id,
            "regimen": self.regimen,
            "therapy_kind": self.therapy_kind,
            **self._coverage_json(),
            "doses_scheduled": self.scheduled,
            "doses_taken": self.taken,
            "doses_missed": self.missed,
            "doses_skipped": self.skipped,
            "doses_pending": self.pending,
            "taken_rate": _r(_ratio(self.taken, self.scheduled)),
            "on_time_rate": _r(_ratio(self.on_time, self.taken)),
            "longest_gap_days": round(self.longest_gap_days, 4) if self.in_pdc else None,
            "permissible_gap_days": self.permissible_gap_days,
            "persistent": self.persistent,
            "infusions_due": self.infusions_due,
            "infusions_given": self.infusions_given,
            "infusion_on_time_rate": _r(_ratio(self.infusions_on_time, self.infusions_due)),
            "infusion_days_late_max": max(late) if late else None,
            "infusion_days_late_mean": _r(statistics.fmean(late)) if late else None,
            "dispensing": self.dispensing.to_json(self.threshold),
        }


@dataclass
class PatientMeasures(_Coverage):
    patient_id: int
    external_id: str | None
    start: date
    end: date
    threshold: float
    permissible_gap_days: int
    plans: list[PlanMeasures] = field(default_factory=list)
    index_date: date | None = None
    days_in_period: int = 0
    days_covered: float = 0.0
    longest_gap_days: float = 0.0
    days_not_recorded: int = 0
    measured_to: date | None = None
    nothing_yet: bool = False
    dispensing: DispensingCover = field(default_factory=DispensingCover)

    def _sum(self, name: str) -> int:
        return sum(int(getattr(p, name)) for p in self.plans)

    def to_json(self, *, plans: bool = True) -> dict[str, Any]:
        scheduled, taken = self._sum("scheduled"), self._sum("taken")
        due, on_time = self._sum("infusions_due"), self._sum("infusions_on_time")
        out: dict[str, Any] = {
            "patient_id": self.patient_id,
            "external_id": self.external_id,
            **self._coverage_json(),
            "doses_scheduled": scheduled,
            "doses_taken": taken,
            "doses_missed": self._sum("missed"),
            "doses_skipped": self._sum("skipped"),
            "doses_pending": self._sum("pending"),
            "taken_rate": _r(_ratio(taken, scheduled)),
            "on_time_rate": _r(_ratio(self._sum("on_time"), taken)),
            "longest_gap_days": round(self.longest_gap_days, 4) if self.in_pdc else None,
            "persistent": self.persistent,
            "infusions_due": due,
            "infusions_given": self._sum("infusions_given"),
            "infusion_on_time_rate": _r(_ratio(on_time, due)),
            "dispensing": self.dispensing.to_json(self.threshold),
        }
        if plans:
            out["plans"] = [p.to_json() for p in self.plans]
        return out


@dataclass
class TeamMeasures:
    team_id: int
    team_name: str
    start: date
    end: date
    threshold: float
    patients: list[PatientMeasures] = field(default_factory=list)

    def to_json(self, *, patients: bool = True) -> dict[str, Any]:
        pdcs = [p.pdc for p in self.patients if p.pdc is not None]
        filled = [p.dispensing.pdc for p in self.patients if p.dispensing.pdc is not None]
        scheduled = sum(p._sum("scheduled") for p in self.patients)
        taken = sum(p._sum("taken") for p in self.patients)
        on_time = sum(p._sum("on_time") for p in self.patients)
        adherent = sum(1 for p in self.patients if p.adherent)
        out: dict[str, Any] = {
            "team_id": self.team_id,
            "team": self.team_name,
            "period": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "threshold": self.threshold,
            "patients": len(self.patients),
            "patients_in_pdc": len(pdcs),
            # Left out of the median: their first dose is still to come.
            "patients_nothing_to_measure_yet": sum(1 for p in self.patients if p.nothing_yet),
            "patients_adherent": adherent,
            "adherent_rate": _r(_ratio(adherent, len(pdcs))),
            # The team is "adherent" when its median patient is: one yes/no for a dashboard.
            "adherent": (statistics.median(pdcs) >= self.threshold) if pdcs else None,
            "pdc_mean": _r(statistics.fmean(pdcs)) if pdcs else None,
            "pdc_median": _r(statistics.median(pdcs)) if pdcs else None,
            "pdc_basis": "confirmations",
            # The same measure from pharmacy fills (PQA's PDC-MS from claims).
            "patients_with_fills": len(filled),
            "dispensing_pdc_median": _r(statistics.median(filled)) if filled else None,
            "patients_persistent": sum(1 for p in self.patients if p.persistent),
            "doses_scheduled": scheduled,
            "doses_taken": taken,
            "taken_rate": _r(_ratio(taken, scheduled)),
            "on_time_rate": _r(_ratio(on_time, taken)),
        }
        if patients:
            out["patient_measures"] = [p.to_json() for p in self.patients]
        return out
