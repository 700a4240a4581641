"""Patients' replies: keywords (English and Spanish) to intents, and what each does.

Case, spaces and punctuation do not matter. Unknown text gets one short help text, at
most once an hour, so two auto-responders can never loop.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from adherence.dosing import codes, onetap
from adherence.dosing.confirm import (
    Confirmation,
    ConfirmError,
    confirm,
    open_dose_for_reply,
    snooze,
)
from adherence.dosing.sites import SiteRecorded, record_site
from adherence.messaging.outbox import enqueue
from adherence.storage.models import (
    DOSE_OPEN,
    CareTeam,
    Dose,
    DoseStatus,
    OutboxMessage,
    Patient,
    Plan,
    RuleEvent,
)
from adherence.storage.nudges import stop_subscriptions
from adherence.storage.reach import team_reachable
from notifiers import nudge_texts, texts
from schedules import Catalog

TAKEN = {
    "t",
    "taken",
    "take",
    "took",
    "yes",
    "y",
    "1",
    "done",
    "ok",
    "si",
    "s\u00ed",
    "tomada",
    "tomado",
    "tome",
    "listo",
    "hecho",
    "\u2705",
    "\u2714",
    "\U0001f44d",
}
SKIP = {"s", "skip", "skipped", "2", "no", "n", "omitir", "omiti", "saltar"}
SNOOZE = {"z", "snooze", "later", "remind", "luego", "despues", "mas tarde", "posponer"}
HELP = {"help", "info", "ayuda", "informacion"}
STOP = {
    "stop",
    "stopall",
    "unsubscribe",
    "cancel",
    "end",
    "quit",
    "revoke",
    "optout",
    "parar",
    "baja",
    "alto",
    "detener",
}
START = {"start", "unstop", "subscribe", "comenzar", "iniciar", "alta"}
FLARE = {"flare", "relapse", "brote", "recaida", "sintomas"}
# The answer to a refill text ("R when ordered"): no clash with T, S, Z or the words above.
REFILL = {"r", "refill", "ordered", "pedido", "receta"}
REFILL_ORDERED = "refill_ordered"  # the rule event it records, on the reminded plan
REFILL_PURPOSE = "refill"  # the outbox purpose of a refill text

# Ends the opt-in self-care nudges only (STOP ends every text).
TIPS_OFF = {"tips off", "no tips", "stop tips", "no mas tips", "sin consejos", "no consejos"}

HELP_REPLY_EVERY = timedelta(hours=1)
_CODE_WORD = re.compile(r"[a-z]\d+")


@dataclass(frozen=True)
class Intent:
    kind: str  # taken | skip | snooze | help | stop | start | flare | refill | tips_off | unknown
    minutes: int | None = None  # snooze length
    code: str | None = None  # a dose short code named in the text
    site: str | None = None  # the words after T that may name an injection site ("lt")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).strip().lower()
    # strip accents for keyword matching (si/sí, recaída/recaida), keep emoji
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def parse_reply(text: str) -> Intent:
    folded = _fold(text)
    for emoji in ("\u2705", "\u2714", "\U0001f44d"):
        if folded.startswith(emoji):
            return Intent("taken")
    words = re.findall(r"[a-z0-9]+", folded)
    if not words:
        return Intent("unknown")
    if len(words) > 1 and _CODE_WORD.fullmatch(words[0]):
        words = [*words[1:], words[0]]  # "A7 T": the code first
    phrase = " ".join(words)
    first = words[0]
    # A dose's reply code ("T A7", "tomada a7", "Z A7 30"): a letter and digits, any case.
    code = next((w.upper() for w in words[1:] if _CODE_WORD.fullmatch(w)), None)
    if first in SNOOZE or phrase in SNOOZE or phrase.startswith("mas tarde"):
        minutes = next((int(w) for w in words[1:] if w.isdigit()), None)
        if minutes is not None and not 1 <= minutes <= 720:
            minutes = None
        return Intent("snooze", minutes=minutes, code=code)
    if phrase in TIPS_OFF:
        return Intent("tips_off")
    if phrase in STOP or (first in STOP and len(words) == 1):
        return Intent("stop")
    if phrase in START or (first in START and len(words) == 1):
        return Intent("start")
    if first in HELP:
        return Intent("help")
    if first in FLARE:
        return Intent("flare", code=code)
    if first in REFILL and len(words) <= 2:
        return Intent("refill")
    if first in TAKEN or phrase in TAKEN:
        rest = [w for w in words[1:] if w.upper() != code and w not in TAKEN]
        site = " ".join(rest) if rest and first in TAKEN and phrase not in TAKEN else None
        return Intent("taken", code=code, site=site)
    if first in SKIP:
        return Intent("skip", code=code)
    return Intent("unknown")


@dataclass
class ReplyOutcome:
    intent: Intent
    dose: Dose | None = None
    answer: str | None = None  # text to answer with (TwiML or the outbox)
    events: list[RuleEvent] | None = None


def handle_reply(
    session: Session,
    *,
    catalog: Catalog,
    patient: Patient,
    text: str,
    now: datetime,
    snooze_minutes: int = 30,
    horizon_days: int = 35,
) -> ReplyOutcome:
    """Apply a patient's text. Returns the intent, the dose it touched and an answer."""
    intent = parse_reply(text)
    team = session.get(CareTeam, patient.team_id)
    assert team is not None and patient.id is not None
    lang = patient.language
    if intent.kind == "stop":
        patient.sms_status = "opted_out"
        patient.updated_at = now
        session.add(patient)
        _cancel_pending(session, patient, now)
        event = _event(session, patient, "opted_out", now)
        session.commit()
        return ReplyOutcome(intent, events=[event])  # the carrier answers STOP itself
    if intent.kind == "start":
        patient.sms_status = "active"
        patient.updated_at = now
        session.add(patient)
        session.commit()
        return ReplyOutcome(intent, answer=texts.answer("resumed", lang, team=team.name))
    if intent.kind == "tips_off":
        stop_subscriptions(session, patient.id, now)
        session.commit()
        return ReplyOutcome(intent, answer=nudge_texts.stopped(team.name, lang))
    if intent.kind == "help":
        contact = team.phone or team.email
        return ReplyOutcome(intent, answer=texts.help_answer(team.name, contact, lang))
    if intent.kind == "flare":
        event = _event(session, patient, "flare_reported", now, text_length=len(text))
        session.commit()
        told = team_reachable(session, team.id or 0)  # no coordinator: say so, ask to call
        return ReplyOutcome(
            intent,
            events=[event],
            answer=texts.flare_answer(team.name, team.phone, lang, told=told),
        )
    if intent.kind == "refill":
        ordered = _refill_ordered(session, patient, now)
        if ordered is not None:
            session.commit()
            return ReplyOutcome(
                intent, events=[ordered], answer=texts.refill_ordered_answer(team.name, lang)
            )
        intent = Intent("unknown")  # no refill text to answer: as any other text
    if intent.kind in ("taken", "skip", "snooze"):
        if intent.code is not None:
            # The dose the code names, answered or not; never another one.
            dose = codes.find_by_code(session, [patient.id], intent.code, now)
            if dose is None:
                return ReplyOutcome(intent, answer=texts.unknown_code(team.name, intent.code, lang))
        else:
            dose = open_dose_for_reply(session, patient.id, now)
        if dose is None:
            return ReplyOutcome(intent, answer=texts.answer("no_dose", lang, team=team.name))
        which = _which_dose(session, catalog, dose, patient, team, intent, now)
        if intent.kind == "snooze":
            if dose.status not in DOSE_OPEN:
                answer = texts.answer(
                    "already_taken" if dose.status == DoseStatus.TAKEN else "no_dose",
                    lang,
                    team=team.name,
                )
                return ReplyOutcome(intent, dose=dose, answer=_join(answer, which))
            until = snooze(session, dose=dose, minutes=intent.minutes or snooze_minutes, now=now)
            mins = max(1, round((until - now).total_seconds() / 60))
            answer = texts.answer("snoozed", lang, minutes=mins)
            return ReplyOutcome(intent, dose=dose, answer=_join(answer, which))
        try:
            result = confirm(
                session,
                catalog=catalog,
                dose=dose,
                status="taken" if intent.kind == "taken" else "skipped",
                at=now,
                now=now,
                via="sms",
                horizon_days=horizon_days,
            )
        except ConfirmError:
            return ReplyOutcome(intent, dose=dose)
        answer = _join(_recorded(intent, result, lang), which)
        if intent.site and result.applied and result.dose.status == DoseStatus.TAKEN:
            sited = record_site(session, catalog, result.dose, intent.site)
            if sited is not None and sited.site is not None:
                result.dose.updated_at = now
                session.commit()
            answer = _with_site(answer, sited, lang)
        return ReplyOutcome(intent, dose=dose, answer=answer, events=result.events)
    # Unknown: one help text per hour at most, never a conversation.
    recent = session.exec(
        select(OutboxMessage.id).where(
            OutboxMessage.patient_id == patient.id,
            OutboxMessage.purpose == "help",
            OutboxMessage.created_at >= now - HELP_REPLY_EVERY,
        )
    ).first()
    if recent is not None:
        return ReplyOutcome(intent)
    answer = texts.answer("unknown", lang)
    enqueue(
        session,
        key=f"help:{patient.id}:{int(now.timestamp()) // 3600}",
        to=patient.phone,
        body=answer,
        purpose="help",
        now=now,
        valid_until=now + timedelta(minutes=30),
        patient_id=patient.id,
    )
    session.commit()
    return ReplyOutcome(intent)


def _join(answer: str, which: str) -> str:
    return f"{answer} {which}" if which else answer


def _which_dose(
    session: Session,
    catalog: Catalog,
    dose: Dose,
    patient: Patient,
    team: CareTeam,
    intent: Intent,
    now: datetime,
) -> str:
    """Which dose the answer is about ("Dose: medication at 20:00 (A7)."), said when the
    reply could have meant another one: it named a code, the patient has another dose open,
    or the phone is shared; empty otherwise. As discreet as the reminder."""
    assert patient.id is not None
    sharing = [p for p in codes.phone_patients(session, patient.phone) if p.id != patient.id]
    others = [d for d in codes.open_doses(session, [patient.id], now) if d.id != dose.id]
    if intent.code is None and not sharing and not others:
        return ""
    plan = session.get(Plan, dose.plan_id)
    brand = onetap.brand_of(catalog, plan) if plan is not None else ""
    info = replace(
        onetap.dose_info(dose, patient, team, brand),
        code=dose.reply_code or "",
        whose=codes.whose(patient) if sharing else "",
    )
    return texts.recorded_for(info)


def _recorded(intent: Intent, result: Confirmation, language: str) -> str:
    """What the patient is told about a taken or skip reply: what the dose now says. A
    reply that found the dose answered already (an earlier reply, perhaps one recorded a
    moment before this one) is told so when that answer is not the one it gave."""
    recorded = result.dose.status
    if recorded == DoseStatus.TAKEN:
        if not result.applied and intent.kind != "taken":
            return texts.answer("already_taken", language)
        return texts.answer("taken_late" if result.late else "taken", language)
    if not result.applied and intent.kind != "skip":
        return texts.answer("already_skipped", language)
    return texts.answer("skipped", language)


def _with_site(answer: str, sited: SiteRecorded | None, language: str) -> str:
    """The confirmation, with a gentle word about the site: used recently (a repeat against
    the rotation rule) or not one of the therapy's sites (the dose is recorded anyway)."""
    if sited is None:
        return answer
    if sited.site is None:
        return f"{answer} {texts.answer('site_unknown', language)}"
    if sited.repeat is not None:
        name = sited.site.es if language == "es" else sited.site.en
        return f"{answer} {texts.answer('site_recent', language, site=name)}"
    return answer


def _refill_ordered(session: Session, patient: Patient, now: datetime) -> RuleEvent | None:
    """Record "refill ordered" on the plan of the patient's latest refill text (its key is
    ``refill:<plan>:<fill>``); None when the patient was sent none."""
    latest = session.exec(
        select(OutboxMessage.key)
        .where(OutboxMessage.patient_id == patient.id, OutboxMessage.purpose == REFILL_PURPOSE)
        .order_by(col(OutboxMessage.created_at).desc(), col(OutboxMessage.id).desc())
        .limit(1)
    ).first()
    parts = latest.split(":") if latest else []
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    assert patient.id is not None
    event = RuleEvent(
        plan_id=int(parts[1]),
        patient_id=patient.id,
        type=REFILL_ORDERED,
        at=now,
        details_json=json.dumps({"fill_id": int(parts[2])}, sort_keys=True),
        notified=True,  # a fact for the supply view, not for a care-team rule
    )
    session.add(event)
    return event


def _cancel_pending(session: Session, patient: Patient, now: datetime) -> None:
    session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.patient_id) == patient.id,
            col(OutboxMessage.status) == "pending",
        )
        .values(status="cancelled", next_attempt_at=None, updated_at=now)
    )


def _event(
    session: Session, patient: Patient, type_: str, now: datetime, **details: object
) -> RuleEvent:
    assert patient.id is not None
    plan = session.exec(
        select(Plan).where(Plan.patient_id == patient.id).order_by(col(Plan.id).desc())
    ).first()
    event = RuleEvent(
        plan_id=plan.id if plan else None,
        patient_id=patient.id,
        type=type_,
        at=now,
        details_json=json.dumps(details, sort_keys=True),
    )
    session.add(event)
    return event
