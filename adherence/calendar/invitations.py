"""E-mailed invitations for booked appointments (iTIP over SMTP, through the outbox).

Booking or moving sends ``METHOD:REQUEST``, cancelling ``METHOD:CANCEL``; every one
carries the appointment's UID (never changes) and its current SEQUENCE (one higher after
each change), so the patient's calendar updates or removes the one event it already has.
Only for patients with an e-mail address who opted in (``Patient.invites``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from email.utils import parseaddr

from sqlmodel import Session

from adherence.core.config import Settings
from adherence.messaging.mail import enqueue_email
from adherence.storage.models import Appointment, CareTeam, Patient
from notifiers import appointment_texts as texts
from notifiers.ical import CalEvent, itip

log = logging.getLogger("adherence.invitations")


def wants_invitations(patient: Patient) -> bool:
    return bool(patient.active and patient.invites and patient.email.strip())


def invitation_key(appointment: Appointment, method: str) -> str:
    return f"invite:{appointment.id}:{appointment.sequence}:{method.lower()}"


def _description(text: texts.AppointmentText, team: CareTeam) -> str:
    lines = [f"{texts.title(text)} - {team.name}"]
    if text.location:
        lines.append(text.location)
    if not text.discreet and text.premedication:
        lines.append(text.premedication)
    if team.phone:
        lines.append(f"Questions or changes: {team.phone}")
    return "\n".join(lines)


def invite(
    session: Session,
    *,
    appointment: Appointment,
    patient: Patient,
    team: CareTeam,
    text: texts.AppointmentText,
    alarms: Sequence[timedelta],
    settings: Settings,
    now: datetime,
) -> bool:
    """Queue the invitation for the appointment as it now stands (REQUEST while booked,
    CANCEL once cancelled), part of the caller's transaction. True if queued."""
    if not wants_invitations(patient):
        return False
    method = "CANCEL" if appointment.status == "cancelled" else "REQUEST"
    event = CalEvent(
        uid=appointment.uid,
        start=appointment.at,
        end=appointment.at + timedelta(minutes=appointment.duration_minutes),
        summary=texts.title(text),
        dtstamp=appointment.updated_at,
        sequence=appointment.sequence,
        location=appointment.location,
        description=_description(text, team),
        alarms=tuple(alarms),
    )
    calendar = itip(
        event,
        method=method,
        # [smtp] from_address may carry a display name ("Clinic <invites@x.org>"): the
        # ORGANIZER is the bare address, the team's name is its CN.
        organizer_email=parseaddr(settings.smtp.from_address)[1] or settings.smtp.from_address,
        organizer_name=team.name,
        attendee_email=patient.email.strip(),
        attendee_name=patient.name,
        zone=patient.tz,
    )
    queued = enqueue_email(
        session,
        key=invitation_key(appointment, method),
        to=patient.email.strip(),
        subject=texts.subject(text, method),
        text=texts.email_body(text, method, team.phone),
        purpose="invitation",
        now=now,
        calendar=calendar,
        method=method,
        patient_id=patient.id,
        # An invitation is still worth sending until the appointment has begun.
        valid_for=max(appointment.at - now, timedelta(hours=1)),
    )
    log.info(
        "invitation queued appointment=%s method=%s sequence=%s",
        appointment.id,
        method,
        appointment.sequence,
    )
    return queued
