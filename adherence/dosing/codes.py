"""Dose reply codes: which dose a reply is about when more than one could be meant.

A patient on two plans (a daily pill and a relapse course), or two patients sharing one
phone, can have two doses open at once; "T" alone cannot say which. Each of those doses
then gets a short code that its texts name ("Reply T A7 when taken"), and a reply naming
the code applies to that dose.

A code is a letter and a digit, from an alphabet without look-alikes: no B G I L O Q S Z
(8 6 1 1 0 0 5 2, and S and Z are the skip and snooze keywords) and no digits 0 and 1.
That leaves 18 x 8 = 144 codes; one is given when a dose's text first needs it, never
changes, and is unique among the doses of every patient on the same phone that a reply
can still be about (due, and whose window closed less than a day ago, answered or not:
a repeated "T A7" finds its dose answered, never another one). Case does not matter.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from adherence.dosing.confirm import LATE_REPLY_GRACE
from adherence.storage.models import DOSE_OPEN, Dose, Patient
from notifiers.texts import DoseText

LETTERS = "ACDEFHJKMNPRTUVWXY"
DIGITS = "23456789"
CODE = re.compile(rf"[{LETTERS}][{DIGITS}]", re.IGNORECASE)
# How early before its time a dose is open for a reply (as ``open_dose_for_reply``).
DUE_SOON = timedelta(minutes=15)


def is_code(word: str) -> bool:
    return CODE.fullmatch(word) is not None


def phone_patients(session: Session, phone: str) -> list[Patient]:
    """The active patients texted at ``phone``, oldest enrolment first."""
    return list(
        session.exec(
            select(Patient)
            .where(col(Patient.phone) == phone, col(Patient.active).is_(True))
            .order_by(col(Patient.id))
        ).all()
    )


def _replyable(patient_ids: Sequence[int], now: datetime) -> SelectOfScalar[Dose]:
    """Doses a reply from these patients could still be about, answered or not."""
    return select(Dose).where(
        col(Dose.patient_id).in_(patient_ids),
        Dose.kind == "dose",
        Dose.due_at <= now + DUE_SOON,
        Dose.window_closes_at >= now - LATE_REPLY_GRACE,
    )


def open_doses(session: Session, patient_ids: Sequence[int], now: datetime) -> list[Dose]:
    """The doses open for an answer right now (due, window open, no answer yet)."""
    return list(
        session.exec(
            select(Dose)
            .where(
                col(Dose.patient_id).in_(patient_ids),
                Dose.kind == "dose",
                col(Dose.status).in_(DOSE_OPEN),
                Dose.due_at <= now + DUE_SOON,
                Dose.window_closes_at > now,
            )
            .order_by(col(Dose.due_at).desc(), col(Dose.id).desc())
        ).all()
    )


def code_for(session: Session, dose: Dose, patient: Patient, now: datetime) -> str | None:
    """The code ``dose``'s text names: its own once given; a new one when the phone it goes
    to has another dose open (or belongs to more than one patient); else None. Codes are
    given to every open dose on the phone at once, so their next texts name them too."""
    if dose.reply_code:
        return dose.reply_code
    if dose.kind != "dose":
        return None
    ids = [p.id for p in phone_patients(session, patient.phone) if p.id is not None]
    if patient.id not in ids:
        ids.append(patient.id)  # type: ignore[arg-type]
    opened = open_doses(session, ids, now)
    if dose not in opened:
        opened.append(dose)
    if len(opened) < 2 and len(ids) < 2:
        return None
    taken = {
        d.reply_code for d in session.exec(_replyable(ids, now)).all() if d.reply_code is not None
    }
    free = (f"{letter}{digit}" for digit in DIGITS for letter in LETTERS)
    for d in sorted((d for d in opened if not d.reply_code), key=lambda d: (d.due_at, d.id or 0)):
        code = next((c for c in free if c not in taken), None)
        if code is None:
            break  # 144 doses open for one phone: the rest go without a code
        d.reply_code = code
        taken.add(code)
        session.add(d)
    return dose.reply_code


def find_by_code(
    session: Session, patient_ids: Sequence[int], code: str, now: datetime
) -> Dose | None:
    """The dose of these patients that ``code`` names, while a reply can be about it."""
    return session.exec(
        _replyable(patient_ids, now)
        .where(Dose.reply_code == code.upper())
        .order_by(col(Dose.due_at).desc())
        .limit(1)
    ).first()


def whose(patient: Patient) -> str:
    """Who a text on a shared phone is for, discreetly: the initials ("A.M."), or the first
    name for a patient who opted in to names (not discreet)."""
    parts = patient.name.split()
    if not parts:
        return ""
    if not patient.discreet:
        return parts[0]
    return "".join(f"{p[0].upper()}." for p in parts[:3])


def labelled(
    session: Session, info: DoseText, dose: Dose, patient: Patient, now: datetime
) -> DoseText:
    """``info`` for a text about ``dose`` with its reply code (when a reply could mean
    another dose) and, on a phone shared by patients, whose dose it is."""
    shared = len(phone_patients(session, patient.phone)) > 1
    return replace(
        info,
        code=code_for(session, dose, patient, now) or "",
        whose=whose(patient) if shared else "",
    )
