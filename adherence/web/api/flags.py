"""``/flags``: the team's flags, acknowledging and resolving one.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from adherence.storage.models import Coordinator
from adherence.storage.public import FlagPublic
from adherence.web.api.deps import Deps, Id, IdQ, invalid, not_found


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=2000)


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=2000, description="Required: what was done.")


def flag_routes(deps: Deps) -> APIRouter:
    router = APIRouter()
    Me = Annotated[Coordinator, Depends(deps.current_coordinator)]

    @router.get("/flags", response_model=list[FlagPublic], summary="The team's flags")
    def list_team_flags(
        me: Me,
        status: Annotated[
            Literal["open", "acknowledged", "resolved"] | None,
            Query(description="Only flags in this state (default: all)."),
        ] = None,
        patient_id: IdQ = None,
    ) -> list[FlagPublic]:
        from adherence.care.flags import list_flags

        with deps.session() as s:
            if patient_id is not None:
                deps.own_patient(s, me, patient_id)
            flags = list_flags(s, team_id=me.team_id, status=status, patient_id=patient_id)
            out = [FlagPublic.of(f) for f in flags]
            deps.audit(
                s,
                me,
                "read",
                f"patient:{patient_id}/flags" if patient_id else "flags",
                patient_id=patient_id,
                status=status,
                count=len(out),
            )
            return out

    def _flag_change(me: Coordinator, flag_id: int, action: str, note: str) -> FlagPublic:
        from adherence.care import flags as flags_mod

        by = f"{me.name} (coordinator:{me.id})"
        with deps.session() as s:
            try:
                if action == "ack":
                    flag = flags_mod.acknowledge(
                        s, flag_id, by=by, now=deps.clock(), team_id=me.team_id, note=note
                    )
                else:
                    flag = flags_mod.resolve(
                        s, flag_id, by=by, note=note, now=deps.clock(), team_id=me.team_id
                    )
            except flags_mod.FlagNotFound:
                raise not_found("flag", flag_id) from None
            except ValueError as exc:  # e.g. resolving a flag that is already resolved
                raise HTTPException(status_code=409, detail=str(exc)) from None
            # The note is the coordinator's own words about a patient: not copied to the audit.
            deps.audit(s, me, action, f"flag:{flag_id}", patient_id=flag.patient_id)
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

    return router
