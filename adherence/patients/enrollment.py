"""Care teams, patients and therapy plans: validated data access (keyword-only)."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime
from email.utils import parseaddr

import phonenumbers
from sqlalchemy import update
from sqlmodel import Session, col, select

from adherence.storage.models import CareTeam, Dose, Patient, Plan
from notifiers.texts import LANGUAGES
from schedules import Catalog, OptionError, UnknownTherapy
from schedules.localtime import load_zone, parse_hhmm, zone_advice

log = logging.getLogger("adherence.enrollment")


class EnrollmentError(ValueError):
    """Bad input for a team, patient or plan; the message names the field."""


class NotFound(LookupError):
    pass


def valid_phone(raw: str, field: str = "phone") -> str:
    """E.164 from an E.164 string; a clear error otherwise (no region guessing)."""
    text = raw.strip()
    if not text.startswith("+"):
        raise EnrollmentError(f"{field} {raw!r} must be in E.164 form, e.g. +15551234567")
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise EnrollmentError(f"{field} {raw!r} is not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise EnrollmentError(f"{field} {raw!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def valid_zone(raw: str, field: str = "tz") -> str:
    """An IANA zone name; a fixed offset such as ``EST`` is kept, with a warning naming the
    region zone that was probably meant."""
    try:
        load_zone(raw)
    except ValueError as exc:
        raise EnrollmentError(f"{field}: {exc}") from None
    if advice := zone_advice(raw):
        log.warning("warning: %s: %s", field, advice)
    return raw


def valid_quiet_hours(raw: str | None) -> tuple[str | None, str | None]:
    if not raw:
        return None, None
    start, sep, end = raw.partition("-")
    try:
        if not sep:
            raise ValueError("expected HH:MM-HH:MM")
        s, e = parse_hhmm(start), parse_hhmm(end)
    except ValueError as exc:
        raise EnrollmentError(f"quiet hours {raw!r}: {exc} (e.g. 22:00-07:00)") from None
    if s == e:
        raise EnrollmentError(f"quiet hours {raw!r}: start and end are the same")
    return s.strftime("%H:%M"), e.strftime("%H:%M")


def valid_email(raw: str, field: str = "email") -> str:
    """An e-mail address, or "" for none. ``email.utils.parseaddr`` must read back exactly
    the address given (no display name, no comments), and it must look deliverable: one
    "@", a local part, a dotted domain, no spaces or control characters."""
    text = raw.strip()
    if not text:
        return ""
    _, address = parseaddr(text)
    local, at, domain = address.rpartition("@")
    if (
        address != text
        or not at
        or not local
        or "@" in local
        or "." not in domain.strip(".")
        or domain.startswith(".")
        or domain.endswith(".")
        or ".." in domain
        or any(c.isspace() or ord(c) < 32 or c in '<>()[],;:\\"' for c in domain)
        or any(c.isspace() or ord(c) < 32 for c in local)
        or len(address) > 320
    ):
        raise EnrollmentError(f"{field} {raw!r} is not an e-mail address like name@example.org")
    return address


# --- teams -----------------------------------------------------------------------------------


def create_team(
    session: Session, *, name: str, tz: str, now: datetime, phone: str = "", email: str = ""
) -> CareTeam:
    name = name.strip()
    if not name:
        raise EnrollmentError("team name is empty")
    if session.exec(select(CareTeam).where(CareTeam.name == name)).first():
        raise EnrollmentError(f"a team named {name!r} already exists")
    team = CareTeam(
        name=name,
        tz=valid_zone(tz),
        phone=valid_phone(phone, "team phone") if phone else "",
        email=email,
        created_at=now,
    )
    session.add(team)
    session.commit()
    session.refresh(team)
    return team


def find_team(session: Session, ref: str) -> CareTeam:
    team = None
    if ref.isdigit():
        team = session.get(CareTeam, int(ref))
    if team is None:
        team = session.exec(select(CareTeam).where(CareTeam.name == ref)).first()
    if team is None:
        raise NotFound(f"no care team {ref!r} (give its id or exact name)")
    return team


# --- patients --------------------------------------------------------------------------------


def create_patient(
    session: Session,
    *,
    team: CareTeam,
    name: str,
    phone: str,
    tz: str,
    now: datetime,
    external_id: str | None = None,
    discreet: bool = True,
    quiet_hours: str | None = None,
    language: str = "en",
    email: str = "",
    commit: bool = True,
    invites: bool = False,
    caregiver_name: str = "",
    caregiver_phone: str = "",
    caregiver_email: str = "",
    caregiver_consent: bool = False,
) -> Patient:
    if not name.strip():
        raise EnrollmentError("name is empty")
    if language not in LANGUAGES:
        raise EnrollmentError(f"language {language!r} is not one of {', '.join(LANGUAGES)}")
    qs, qe = valid_quiet_hours(quiet_hours)
    if external_id is not None and not external_id.strip():
        external_id = None
    if (
        external_id
        and session.exec(select(Patient).where(Patient.external_id == external_id)).first()
    ):
        raise EnrollmentError(f"external id {external_id!r} is already enrolled")
    assert team.id is not None
    patient = Patient(
        team_id=team.id,
        name=name.strip(),
        phone=valid_phone(phone),
        tz=valid_zone(tz),
        external_id=external_id,
        discreet=discreet,
        quiet_start=qs,
        quiet_end=qe,
        language=language,
        email=valid_email(email),
        invites=invites,
        caregiver_name=caregiver_name.strip(),
        caregiver_phone=valid_phone(caregiver_phone, "caregiver phone") if caregiver_phone else "",
        caregiver_email=valid_email(caregiver_email, "caregiver email"),
        caregiver_consent_at=now if caregiver_consent else None,
        created_at=now,
        updated_at=now,
    )
    if invites and not patient.email:
        raise EnrollmentError("invites: the patient has no e-mail address (give --email)")
    session.add(patient)
    if commit:
        session.commit()
        session.refresh(patient)
    else:
        session.flush()
    return patient


def shared_phone_warning(session: Session, patient: Patient) -> str | None:
    """One line when ``patient``'s phone is also another active patient's (a family phone):
    allowed, and said at enrolment so that the coordinator knows how its texts differ.
    Names patient ids only (no number, no name)."""
    others = session.exec(
        select(Patient.id)
        .where(
            col(Patient.phone) == patient.phone,
            col(Patient.active).is_(True),
            col(Patient.id) != patient.id,
        )
        .order_by(col(Patient.id))
    ).all()
    if not others:
        return None
    ids = ", ".join(str(i) for i in others)
    return (
        f"warning: phone is shared with patient {ids}: its reminders carry a dose code and "
        "whose dose it is (initials), and a reply without a code is never guessed"
    )


def find_patient(session: Session, ref: str) -> Patient:
    patient = session.exec(select(Patient).where(Patient.external_id == ref)).first()
    if patient is None and ref.isdigit():
        patient = session.get(Patient, int(ref))
    if patient is None:
        raise NotFound(f"no patient {ref!r} (give an id or an external id)")
    return patient


def update_patient(
    session: Session, *, patient: Patient, now: datetime, **changes: object
) -> Patient:
    """Change contact details, zone (travel: future doses keep their wall-clock time in
    the new zone), discretion, quiet hours or language."""
    for key, value in changes.items():
        if value is None:
            continue
        if key == "phone":
            patient.phone = valid_phone(str(value))
            patient.sms_status = (
                "active" if patient.sms_status == "undeliverable" else patient.sms_status
            )
        elif key == "tz":
            patient.tz = valid_zone(str(value))
        elif key == "name":
            patient.name = str(value).strip() or patient.name
        elif key == "discreet":
            patient.discreet = bool(value)
        elif key == "quiet_hours":
            patient.quiet_start, patient.quiet_end = valid_quiet_hours(str(value) or None)
        elif key == "language":
            if value not in LANGUAGES:
                raise EnrollmentError(f"language {value!r} is not one of {', '.join(LANGUAGES)}")
            patient.language = str(value)
        elif key == "email":
            patient.email = valid_email(str(value))
        elif key == "invites":
            patient.invites = bool(value)
        elif key == "caregiver_name":
            patient.caregiver_name = str(value).strip()
        elif key == "caregiver_phone":
            raw = str(value).strip()
            patient.caregiver_phone = valid_phone(raw, "caregiver phone") if raw else ""
        elif key == "caregiver_email":
            patient.caregiver_email = valid_email(str(value), "caregiver email")
        elif key == "caregiver_consent":
            # Consent is a dated fact: given now (kept if already given), or withdrawn.
            if not value:
                patient.caregiver_consent_at = None
            elif patient.caregiver_consent_at is None:
                patient.caregiver_consent_at = now
        else:
            raise EnrollmentError(f"unknown patient field {key!r}")
    if patient.invites and not patient.email:
        session.rollback()  # nothing half-changed stays on the patient
        raise EnrollmentError("invites: the patient has no e-mail address (give --email)")
    patient.updated_at = now
    session.add(patient)
    session.commit()
    session.refresh(patient)
    return patient


def remove_patient(session: Session, *, patient: Patient, now: datetime) -> None:
    """Deactivate: no more texts, plans stopped; every recorded dose is kept."""
    patient.active = False
    patient.updated_at = now
    session.add(patient)
    for plan in session.exec(select(Plan).where(Plan.patient_id == patient.id)).all():
        if plan.status in ("active", "paused"):
            _stop(session, plan, now, "patient removed")
    session.commit()


# --- plans -----------------------------------------------------------------------------------


def create_plan(
    session: Session,
    *,
    catalog: Catalog,
    patient: Patient,
    regimen: str,
    start: date,
    now: datetime,
    times: list[str] | None = None,
    options: dict[str, str] | None = None,
    commit: bool = True,
    rebases: dict[int, date] | None = None,
) -> Plan:
    """A plan from Day 1 ``start`` (in the past for a patient already on therapy: nothing
    before ``now`` is reminded) with ``rebases`` (occasion -> the date it was given)."""
    try:
        therapy = catalog.get(regimen)
        resolved = therapy.regimen(options or {})
    except (UnknownTherapy, OptionError) as exc:
        raise EnrollmentError(str(exc)) from None
    parsed = []
    for t in times or []:
        try:
            parsed.append(parse_hhmm(t).strftime("%H:%M"))
        except ValueError as exc:
            raise EnrollmentError(f"time: {exc}") from None
    if parsed and len(parsed) != resolved.times_per_day:
        raise EnrollmentError(
            f"{therapy.name} is taken {resolved.times_per_day} time(s) a day; "
            f"got {len(parsed)} time(s)"
        )
    if len(set(parsed)) != len(parsed):
        raise EnrollmentError("the same time is given twice")
    assert patient.id is not None
    plan = Plan(
        patient_id=patient.id,
        regimen=therapy.code,
        options_json=json.dumps(dict(sorted((options or {}).items()))),
        start_date=start,
        epoch_start=start,
        times_json=json.dumps(sorted(parsed)),
        rebases_json=json.dumps(
            {str(k): v.isoformat() for k, v in sorted((rebases or {}).items())}
        ),
        created_at=now,
        updated_at=now,
    )
    session.add(plan)
    if commit:
        session.commit()
        session.refresh(plan)
    else:
        session.flush()
    return plan


def find_plan(session: Session, ref: str) -> Plan:
    plan = session.get(Plan, int(ref)) if ref.isdigit() else None
    if plan is None:
        raise NotFound(f"no plan {ref!r}")
    return plan


def _cancel_future(session: Session, plan: Plan, now: datetime) -> None:
    session.execute(
        update(Dose)
        .where(
            col(Dose.plan_id) == plan.id,
            col(Dose.status) == "scheduled",
            col(Dose.due_at) > now,
        )
        .values(status="cancelled", next_action_at=None, updated_at=now)
    )


def _stop(session: Session, plan: Plan, now: datetime, reason: str) -> None:
    plan.status = "stopped"
    plan.stop_reason = reason
    plan.updated_at = now
    _cancel_future(session, plan, now)
    session.add(plan)


def pause_plan(session: Session, *, plan: Plan, now: datetime) -> Plan:
    if plan.status != "active":
        raise EnrollmentError(f"plan {plan.id} is {plan.status}, not active")
    plan.status = "paused"
    plan.paused_at = now
    plan.updated_at = now
    _cancel_future(session, plan, now)
    session.add(plan)
    session.commit()
    return plan


def resume_plan(session: Session, *, plan: Plan, now: datetime) -> Plan:
    if plan.status != "paused":
        raise EnrollmentError(f"plan {plan.id} is {plan.status}, not paused")
    plan.status = "active"
    plan.paused_at = None
    plan.updated_at = now
    session.add(plan)
    session.commit()
    return plan


def stop_plan(session: Session, *, plan: Plan, now: datetime, reason: str = "stopped") -> Plan:
    if plan.status in ("stopped", "completed"):
        raise EnrollmentError(f"plan {plan.id} is already {plan.status}")
    _stop(session, plan, now, reason)
    session.commit()
    return plan
