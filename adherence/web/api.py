"""The coordinator API under ``/api/v1``: bearer tokens, scoped to the coordinator's team.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

- Every route needs ``Authorization: Bearer <token>``; a missing, unknown or revoked token
  answers 401 with ``WWW-Authenticate: Bearer``.
- Every lookup is filtered by the coordinator's care team, so another team's patient, plan,
  dose or flag answers the same 404 as an id that does not exist: ids leak nothing.
- Every read or export of patient data writes one audit row, committed with the read.
- Routes are plain ``def``: FastAPI runs them in its threadpool, so the blocking database
  work never stalls the event loop that also serves Twilio's webhooks.
"""

from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, func, select

from adherence.bootstrap import App
from adherence.care.coordinators import authenticate
from adherence.storage.audit import coordinator_actor, record
from adherence.storage.models import CareTeam, Coordinator, Dose, Patient, Plan
from adherence.storage.public import DosePublic, FlagPublic, PatientPage, PatientPublic, PlanPublic

MAX_DOSE_SPAN_DAYS = 400  # one request never reads more than about a year of doses
MAX_EXPORT_SPAN_DAYS = 3 * 366

bearer = HTTPBearer(
    auto_error=False,
    description="A coordinator token from `adherence coordinator add` (starts with msa_).",
)

# --- request and response models (what /openapi.json describes; the entities' public models
# are adherence.storage.public's, shared with the CLI's --json) ---------------------------------------


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=2000)


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=2000, description="Required: what was done.")


class MeasuresOut(BaseModel):
    scope: str = Field(description='"patient:<id>" or "team:<id>"')
    today: date = Field(description="Today in the patient's (or team's) zone.")
    periods: dict[str, dict[str, Any]] = Field(
        description='Per period ("30d", "90d", "365d", or "custom" with from/to) the measures.'
    )


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
    first = start or default[0]
    last = end or default[1]
    if last < first:
        raise invalid("to", f"to ({last}) is before from ({first})")
    if (last - first).days + 1 > max_days:
        raise invalid("to", f"the range from {first} to {last} is longer than {max_days} days")
    return first, last


# --- the router -----------------------------------------------------------------------------

Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
FromQ = Annotated[date | None, Query(alias="from", description="First local date, YYYY-MM-DD.")]
ToQ = Annotated[date | None, Query(alias="to", description="Last local date (inclusive).")]


def api_routes(app: App, *, clock: Callable[[], datetime]) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["coordinator"])

    def session() -> Session:
        return Session(app.engine, expire_on_commit=False)

    def current_coordinator(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Coordinator:
        unauthorized = HTTPException(
            status_code=401,
            detail="a valid bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
        if creds is None or creds.scheme.lower() != "bearer":
            raise unauthorized
        with session() as s:
            coordinator = authenticate(s, creds.credentials, clock())
        if coordinator is None:
            raise unauthorized
        return coordinator

    Me = Annotated[Coordinator, Depends(current_coordinator)]

    def own_patient(s: Session, me: Coordinator, patient_id: int) -> Patient:
        patient = s.get(Patient, patient_id)
        if patient is None or patient.team_id != me.team_id:
            raise not_found("patient", patient_id)
        return patient

    def own_plan(s: Session, me: Coordinator, plan_id: int) -> tuple[Plan, Patient]:
        row = s.exec(
            select(Plan, Patient)
            .join(Patient, col(Plan.patient_id) == col(Patient.id))
            .where(Plan.id == plan_id, Patient.team_id == me.team_id)
        ).first()
        if row is None:
            raise not_found("plan", plan_id)
        return row[0], row[1]

    def audit(
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
            now=clock(),
        )
        s.commit()

    # --- patients, plans, doses -------------------------------------------------------------

    @router.get("/patients", response_model=PatientPage, summary="The team's patients")
    def list_patients(
        me: Me,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
        include_removed: Annotated[bool, Query(description="Also removed patients.")] = False,
    ) -> PatientPage:
        with session() as s:
            query = select(Patient).where(Patient.team_id == me.team_id)
            if not include_removed:
                query = query.where(Patient.active == True)  # noqa: E712
            total = s.exec(select(func.count()).select_from(query.subquery())).one()
            rows = s.exec(query.order_by(col(Patient.id)).offset(offset).limit(limit)).all()
            page = PatientPage(
                items=[PatientPublic.of(p) for p in rows], total=total, limit=limit, offset=offset
            )
            audit(s, me, "read", "patients", count=len(rows), offset=offset)
            return page

    @router.get("/patients/{patient_id}", response_model=PatientPublic, summary="One patient")
    def get_patient(me: Me, patient_id: Id) -> PatientPublic:
        with session() as s:
            patient = own_patient(s, me, patient_id)
            audit(s, me, "read", f"patient:{patient_id}", patient_id=patient_id)
            return PatientPublic.of(patient)

    @router.get(
        "/patients/{patient_id}/plans", response_model=list[PlanPublic], summary="A patient's plans"
    )
    def patient_plans(me: Me, patient_id: Id) -> list[PlanPublic]:
        with session() as s:
            own_patient(s, me, patient_id)
            plans = s.exec(
                select(Plan).where(Plan.patient_id == patient_id).order_by(col(Plan.id))
            ).all()
            audit(s, me, "read", f"patient:{patient_id}/plans", patient_id=patient_id)
            return [PlanPublic.of(p) for p in plans]

    @router.get("/plans/{plan_id}", response_model=PlanPublic, summary="One plan")
    def get_plan(me: Me, plan_id: Id) -> PlanPublic:
        with session() as s:
            plan, patient = own_plan(s, me, plan_id)
            audit(s, me, "read", f"plan:{plan_id}", patient_id=patient.id)
            return PlanPublic.of(plan)

    @router.get(
        "/patients/{patient_id}/doses",
        response_model=list[DosePublic],
        summary="A patient's doses between two local dates (default: 30 days back, 14 ahead)",
    )
    def patient_doses(
        me: Me, patient_id: Id, start: FromQ = None, end: ToQ = None
    ) -> list[DosePublic]:
        with session() as s:
            patient = own_patient(s, me, patient_id)
            zone = ZoneInfo(patient.tz)
            today = clock().astimezone(zone).date()
            first, last = date_range(
                start,
                end,
                default=(today - timedelta(days=30), today + timedelta(days=14)),
                max_days=MAX_DOSE_SPAN_DAYS,
            )
            rows = s.exec(
                select(Dose)
                .where(
                    Dose.patient_id == patient_id,
                    Dose.local_date >= first,
                    Dose.local_date <= last,
                )
                .order_by(col(Dose.due_at), col(Dose.id))
            ).all()
            out = [DosePublic.of(d, zone) for d in rows]
            audit(
                s,
                me,
                "read",
                f"patient:{patient_id}/doses",
                patient_id=patient_id,
                **{"from": first.isoformat(), "to": last.isoformat(), "count": len(out)},
            )
            return out

    # --- flags ------------------------------------------------------------------------------

    @router.get("/flags", response_model=list[FlagPublic], summary="The team's flags")
    def list_team_flags(
        me: Me,
        status: Annotated[
            Literal["open", "acknowledged", "resolved"] | None,
            Query(description="Only flags in this state (default: all)."),
        ] = None,
        patient_id: Annotated[int | None, Query(ge=1)] = None,
    ) -> list[FlagPublic]:
        from adherence.care.flags import list_flags

        with session() as s:
            if patient_id is not None:
                own_patient(s, me, patient_id)
            flags = list_flags(s, team_id=me.team_id, status=status, patient_id=patient_id)
            out = [FlagPublic.of(f) for f in flags]
            audit(
                s,
                me,
                "read",
                f"patient:{patient_id}/flags" if patient_id else "flags",
                patient_id=patient_id,
                status=status,
                count=len(out),
            )
            return out

    def _flag_change(me: Me, flag_id: int, action: str, note: str) -> FlagPublic:
        from adherence.care import flags as flags_mod

        by = f"{me.name} (coordinator:{me.id})"
        with session() as s:
            try:
                if action == "ack":
                    flag = flags_mod.acknowledge(
                        s, flag_id, by=by, now=clock(), team_id=me.team_id, note=note
                    )
                else:
                    flag = flags_mod.resolve(
                        s, flag_id, by=by, note=note, now=clock(), team_id=me.team_id
                    )
            except flags_mod.FlagNotFound:
                raise not_found("flag", flag_id) from None
            except ValueError as exc:  # e.g. resolving a flag that is already resolved
                raise HTTPException(status_code=409, detail=str(exc)) from None
            # The note is the coordinator's own words about a patient: not copied to the audit.
            audit(s, me, action, f"flag:{flag_id}", patient_id=flag.patient_id)
            return FlagPublic.of(flag)

    @router.post("/flags/{flag_id}/ack", response_model=FlagPublic, summary="Acknowledge a flag")
    def ack_flag(me: Me, flag_id: Id, body: Annotated[AckIn | None, Body()] = None) -> FlagPublic:
        return _flag_change(me, flag_id, "ack", body.note if body else "")

    @router.post(
        "/flags/{flag_id}/resolve", response_model=FlagPublic, summary="Resolve a flag with a note"
    )
    def resolve_flag(me: Me, flag_id: Id, body: ResolveIn) -> FlagPublic:
        if not body.note.strip():
            raise invalid("note", "note is blank", where="body")
        return _flag_change(me, flag_id, "resolve", body.note.strip())

    # --- measures ---------------------------------------------------------------------------

    def periods(today: date, start: date | None, end: date | None) -> dict[str, tuple[date, date]]:
        from adherence.care.measures import default_periods

        if start is None and end is None:
            return dict(default_periods(today))
        if start is None or end is None:
            missing = "from" if start is None else "to"
            raise invalid(missing, "give both from and to, or neither (30/90/365 days)")
        return {"custom": date_range(start, end, default=(start, end), max_days=3 * 366)}

    @router.get(
        "/patients/{patient_id}/measures",
        response_model=MeasuresOut,
        summary="A patient's adherence measures (default: last 30, 90 and 365 days)",
    )
    def patient_measures(
        me: Me, patient_id: Id, start: FromQ = None, end: ToQ = None
    ) -> MeasuresOut:
        from adherence.care.measures import measure_patient

        with session() as s:
            patient = own_patient(s, me, patient_id)
            today = clock().astimezone(ZoneInfo(patient.tz)).date()
            out: dict[str, dict[str, Any]] = {}
            for name, (first, last) in periods(today, start, end).items():
                result = measure_patient(
                    s, patient, start=first, end=last, catalog=app.catalog, settings=app.settings
                )
                out[name] = result.to_json()
            audit(
                s,
                me,
                "read",
                f"patient:{patient_id}/measures",
                patient_id=patient_id,
                periods=sorted(out),
            )
            return MeasuresOut(scope=f"patient:{patient_id}", today=today, periods=out)

    @router.get(
        "/team/measures",
        response_model=MeasuresOut,
        summary="The care team's adherence measures (default: last 30, 90 and 365 days)",
    )
    def team_measures(
        me: Me,
        start: FromQ = None,
        end: ToQ = None,
        per_patient: Annotated[
            bool, Query(description="Also each patient's measures (large for a big team).")
        ] = False,
    ) -> MeasuresOut:
        from adherence.care.measures import measure_team

        with session() as s:
            team = s.get(CareTeam, me.team_id)
            assert team is not None  # a coordinator's team is a foreign key
            today = clock().astimezone(ZoneInfo(team.tz)).date()
            out: dict[str, dict[str, Any]] = {}
            for name, (first, last) in periods(today, start, end).items():
                result = measure_team(
                    s, team, start=first, end=last, catalog=app.catalog, settings=app.settings
                )
                out[name] = result.to_json(patients=per_patient)
            audit(
                s,
                me,
                "read",
                f"team:{team.id}/measures",
                periods=sorted(out),
                per_patient=per_patient,
            )
            return MeasuresOut(scope=f"team:{team.id}", today=today, periods=out)

    # --- exports ----------------------------------------------------------------------------

    media = {
        "csv": "text/csv; charset=utf-8",
        "json": "application/json",
        "fhir": "application/fhir+json",
    }
    suffix = {"csv": "csv", "json": "json", "fhir": "fhir.json"}

    @router.get(
        "/exports",
        summary="Export the team's doses, measures and flags (streamed)",
        response_class=StreamingResponse,
        responses={
            200: {
                "description": "The export, streamed as it is produced.",
                "content": {m: {} for m in media.values()},
            }
        },
    )
    def export(
        me: Me,
        fmt: Annotated[Literal["csv", "json", "fhir"], Query(alias="format")],
        start: Annotated[date, Query(alias="from", description="First local date.")],
        end: Annotated[date, Query(alias="to", description="Last local date (inclusive).")],
    ) -> StreamingResponse:
        first, last = date_range(start, end, default=(start, end), max_days=MAX_EXPORT_SPAN_DAYS)
        team_id = me.team_id
        with session() as s:
            # Written before the first byte: an export that is cut short was still an export.
            audit(
                s,
                me,
                "export",
                f"export:{fmt}",
                **{"from": first.isoformat(), "to": last.isoformat()},
            )

        def body() -> Iterator[bytes]:
            from adherence.care.exports import export_stream

            with session() as s:
                team = s.get(CareTeam, team_id)
                assert team is not None
                yield from export_stream(
                    s,
                    team=team,
                    start=first,
                    end=last,
                    fmt=fmt,
                    catalog=app.catalog,
                    settings=app.settings,
                )

        filename = f"adherence-team{team_id}-{first}-{last}.{suffix[fmt]}"
        return StreamingResponse(
            body(),
            media_type=media[fmt],
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    return router
