"""What every coordinator API route shares: the bearer-token dependency, sessions, the
team-scoped lookups, the audit row, and the errors shaped like FastAPI's own.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)
"""

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session, col, select

from adherence.bootstrap import App
from adherence.care.coordinators import authenticate
from adherence.storage.audit import coordinator_actor, record
from adherence.storage.models import Coordinator, Patient, Plan

MAX_DOSE_SPAN_DAYS = 400  # one request never reads more than about a year of doses
MAX_EXPORT_SPAN_DAYS = 3 * 366
# Every integer a request carries is bounded: ids by the database's 32-bit integer key, a
# count or an offset by what a page could ever need, so nothing reaches the driver to
# overflow there (a 500). Dates outside FIRST_DATE..LAST_DATE are refused (422) before any
# window is computed from them.
MAX_ID = 2**31 - 1
MAX_OFFSET = 10_000_000
FIRST_DATE = date(1970, 1, 1)
LAST_DATE = date(2199, 12, 31)
DATE_RULE = f"Between {FIRST_DATE} and {LAST_DATE}."

bearer = HTTPBearer(
    auto_error=False,
    description="A coordinator token from `adherence coordinator add` (starts with msa_).",
)

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQ = Annotated[int | None, Query(ge=1, le=MAX_ID)]
FromQ = Annotated[
    date | None,
    Query(alias="from", description=f"First local date, YYYY-MM-DD. {DATE_RULE}"),
]
ToQ = Annotated[
    date | None,
    Query(
        alias="to",
        description=f"Last local date (inclusive), not before `from`. {DATE_RULE}",
    ),
]


# --- errors ------------------------------------------------------------------------------


def invalid(field: str, message: str, where: str = "query") -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors, naming the field."""
    return HTTPException(
        status_code=422,
        detail=[{"type": "value_error", "loc": [where, field], "msg": message}],
    )


def not_found(kind: str, ident: int) -> HTTPException:
    # The same answer for another team's row and for no row at all.
    return HTTPException(status_code=404, detail=f"{kind} {ident} not found")


def date_range(
    start: date | None, end: date | None, *, default: tuple[date, date], max_days: int
) -> tuple[date, date]:
    for field, day in (("from", start), ("to", end)):
        if day is not None and not FIRST_DATE <= day <= LAST_DATE:
            raise invalid(field, f"{field} ({day}) is not between {FIRST_DATE} and {LAST_DATE}")
    first = start or default[0]
    last = end or default[1]
    if last < first:
        raise invalid("to", f"to ({last}) is before from ({first})")
    if (last - first).days + 1 > max_days:
        raise invalid("to", f"the range from {first} to {last} is longer than {max_days} days")
    return first, last


def span(first: date, last: date) -> dict[str, Any]:
    """The audit details of a date range ("from" is a keyword, so not a parameter name)."""
    return {"from": first.isoformat(), "to": last.isoformat()}


# --- what the routes share ------------------------------------------------------------------


class Deps:
    """The app and clock the routes run against, and the helpers bound to them."""

    def __init__(self, app: App, clock: Callable[[], datetime]) -> None:
        self.app = app
        self.clock = clock

    def session(self) -> Session:
        return Session(self.app.engine, expire_on_commit=False)

    def current_coordinator(
        self,
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Coordinator:
        unauthorized = HTTPException(
            status_code=401,
            detail="a valid bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
        if creds is None or creds.scheme.lower() != "bearer":
            raise unauthorized
        with self.session() as s:
            coordinator = authenticate(s, creds.credentials, self.clock())
        if coordinator is None:
            raise unauthorized
        return coordinator

    def own_patient(self, s: Session, me: Coordinator, patient_id: int) -> Patient:
        patient = s.get(Patient, patient_id)
        if patient is None or patient.team_id != me.team_id:
            raise not_found("patient", patient_id)
        return patient

    def own_plan(self, s: Session, me: Coordinator, plan_id: int) -> tuple[Plan, Patient]:
        row = s.exec(
            select(Plan, Patient)
            .join(Patient, col(Plan.patient_id) == col(Patient.id))
            .where(Plan.id == plan_id, Patient.team_id == me.team_id)
        ).first()
        if row is None:
            raise not_found("plan", plan_id)
        return row[0], row[1]

    def audit(
        self,
        s: Session,
        me: Coordinator,
        action: str,
        resource: str,
        *,
        patient_id: int | None = None,
        **details: Any,
    ) -> None:
        record(
            s,
            actor=coordinator_actor(me),
            team_id=me.team_id,
            action=action,
            resource=resource,
            patient_id=patient_id,
            details=details,
            now=self.clock(),
        )
        s.commit()
