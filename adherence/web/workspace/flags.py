"""``/workspace/flags/{id}/ack`` and ``/resolve``: a flag acknowledged or resolved from the
call list or the patient page.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

Both go through ``adherence.care.flags`` as the API does (who and when kept on the flag,
the note appended to it), write an audit row and answer 303 to the call list, or to the
form's ``next`` field when it names a workspace page (so the patient page can use them).
Resolving needs a note: a blank one is refused with a page naming the field.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import RedirectResponse, Response

from adherence.care import flags as flags_mod
from adherence.web.workspace.auth import Viewer, Workspace
from adherence.web.workspace.errors import PageNotFound
from adherence.web.workspace.today import not_saved, parse_id

HOME = "/workspace/"
MAX_NOTE = 2000


def back_to(raw: str) -> str:
    """The ``next`` field when it is a path inside the workspace, else the call list (never
    another site: no scheme, no ``//host``, no backslash, no fragment)."""
    raw = raw.strip()
    if (
        not raw.startswith(HOME)
        or raw.startswith("//")
        or any(c in raw for c in "\\#\r\n\t ")
        or "//" in raw
        or len(raw) > 500
    ):
        return HOME
    return raw


def _with_notice(target: str, code: str) -> str:
    return f"{target}{'&' if '?' in target else '?'}notice={code}"


def flag_routes(ws: Workspace) -> APIRouter:
    router = APIRouter()
    Me = Annotated[Viewer, Depends(ws.viewer)]
    Form = Annotated[dict[str, str], Depends(ws.form)]

    def change(me: Viewer, raw_id: str, fields: dict[str, str], action: str) -> Response:
        flag_id = parse_id(raw_id, "flag")
        note = fields.get("note", "").strip()
        with ws.session() as s:
            try:
                flags_mod.get_flag(s, flag_id, team_id=me.team_id)
            except flags_mod.FlagNotFound:
                raise PageNotFound("flag") from None  # another team's flag: the same page
            if action == "resolve" and not note:
                return not_saved(me, "note: say what was done (a note is required to resolve).")
            if len(note) > MAX_NOTE:
                return not_saved(me, f"note: keep it under {MAX_NOTE} characters.")
            try:
                if action == "ack":
                    flag = flags_mod.acknowledge(
                        s, flag_id, by=me.by, now=ws.clock(), team_id=me.team_id, note=note
                    )
                else:
                    flag = flags_mod.resolve(
                        s, flag_id, by=me.by, note=note, now=ws.clock(), team_id=me.team_id
                    )
            except flags_mod.FlagError as exc:  # e.g. resolved already, in another tab
                return not_saved(me, str(exc), status_code=409)
            ws.audit(s, me, action, f"flag:{flag_id}", patient_id=flag.patient_id)
        code = "flag-acknowledged" if action == "ack" else "flag-resolved"
        return RedirectResponse(_with_notice(back_to(fields.get("next", "")), code), 303)

    @router.post("/flags/{flag_id}/ack", summary="Acknowledge a flag")
    def ack(me: Me, fields: Form, flag_id: Annotated[str, Path()]) -> Response:
        return change(me, flag_id, fields, "ack")

    @router.post("/flags/{flag_id}/resolve", summary="Resolve a flag with a note")
    def resolve(me: Me, fields: Form, flag_id: Annotated[str, Path()]) -> Response:
        return change(me, flag_id, fields, "resolve")

    return router
