"""Label checks in virtual time: two reminders (the day before, on the day) at the clinic's
reminder time, discreet unless the patient opted in, in Spanish, held back by quiet hours,
none after STOP; the monitoring_overdue flag once after the window, none when recorded,
resolved when recorded late.

Aubagio from Mon 2 Mar 2026 (America/New_York): its first ALT test is due Thu 2 Apr 09:00.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from adherence.care.flags import evaluate
from adherence.core.config import Settings, settings_from_mapping
from adherence.dosing.confirm import confirm
from adherence.dosing.dispatch import DispatchPolicy, dispatch_due, next_due
from adherence.dosing.materialize import materialize
from adherence.dosing.replies import handle_reply
from adherence.storage.models import Dose, Flag, OutboxMessage
from notifiers import texts
from schedules import Catalog
from tests.adherence.engine_helpers import NY, Enrolled, at, enroll

SETTINGS = settings_from_mapping({"monitoring": {"overdue_days": 30}})
POLICY = DispatchPolicy(nudges=0, monitoring=SETTINGS.monitoring)
START = date(2026, 3, 2)
TEAM = "Riverside MS Clinic"


def _enrol(
    session: Session, catalog: Catalog, *, when: datetime | None = None, **patient: object
) -> tuple[Enrolled, Dose]:
    """Enrolled on Day 1; doses (and the check) materialised ``when`` (1 Apr 00:05)."""
    e = enroll(session, catalog, "Aubagio", START, now=at(2026, 3, 2, 0, 5), **patient)
    when = when or at(2026, 4, 1, 0, 5)
    materialize(
        session, now=when, catalog=catalog, horizon_days=(date(2026, 4, 3) - when.date()).days
    )
    check = session.exec(
        select(Dose)
        .where(Dose.plan_id == e.plan.id, Dose.kind == "monitoring")
        .order_by(col(Dose.due_at))
    ).first()
    assert check is not None
    assert (check.local_date, check.label) == (date(2026, 4, 2), "ALT (liver) blood test")
    return e, check


def _run(
    session: Session,
    catalog: Catalog,
    start: datetime,
    until: datetime,
    policy: DispatchPolicy = POLICY,
) -> None:
    """Dispatch at every instant something is due, from ``start`` to ``until``."""
    now = start
    while now <= until:
        dispatch_due(session, now=now, catalog=catalog, policy=policy)
        nxt = next_due(session)
        if nxt is None:
            return
        now = max(nxt, now + timedelta(seconds=1))


def _texts(session: Session, check: Dose) -> list[tuple[str, str]]:
    """(local time queued, body) of every text about the check."""
    rows = session.exec(
        select(OutboxMessage)
        .where(OutboxMessage.dose_id == check.id)
        .order_by(col(OutboxMessage.created_at), col(OutboxMessage.id))
    ).all()
    return [(m.created_at.astimezone(NY).strftime("%d %H:%M"), m.body) for m in rows]


def test_two_discreet_reminders_the_day_before_and_on_the_day(
    session: Session, catalog: Catalog
) -> None:
    _, check = _enrol(session, catalog)
    _run(session, catalog, at(2026, 4, 1, 0, 5), at(2026, 4, 3, 12))
    assert _texts(session, check) == [
        ("01 09:00", f"{TEAM}: you have a clinic check tomorrow. Reply HELP for contact."),
        ("02 09:00", f"{TEAM}: you have a clinic check today. Reply HELP for contact."),
    ]
    valid = session.exec(
        select(OutboxMessage.valid_until)
        .where(OutboxMessage.dose_id == check.id)
        .order_by(col(OutboxMessage.id))
    ).all()
    # The day-before text is stale once the on-the-day one is due; that one at midnight.
    assert [v.astimezone(NY) for v in valid] == [at(2026, 4, 2, 9), at(2026, 4, 3)]
    session.refresh(check)
    assert (check.status, check.next_action_at) == ("scheduled", None)  # never "missed"


def test_a_patient_who_opted_in_reads_the_check_and_spanish_reads_spanish(
    session: Session, catalog: Catalog
) -> None:
    e, named = _enrol(session, catalog, discreet=False)
    _, spanish = _enrol(session, catalog, language="es", n=1, team=e.team)
    _run(session, catalog, at(2026, 4, 1, 0, 5), at(2026, 4, 3))
    assert [b for _, b in _texts(session, named)] == [
        f"{TEAM}: you have a clinic check tomorrow: ALT (liver) blood test. Reply HELP for contact.",
        f"{TEAM}: you have a clinic check today: ALT (liver) blood test. Reply HELP for contact.",
    ]
    bodies = [b for _, b in _texts(session, spanish)]
    assert bodies == [
        f"{TEAM}: tiene un control médico mañana. Responda AYUDA para contacto.",
        f"{TEAM}: tiene un control médico hoy. Responda AYUDA para contacto.",
    ]
    assert all(texts.sms_units(b) == ("gsm7", len(b)) for b in bodies)  # é, ñ are GSM-7


def test_quiet_hours_hold_the_reminders_back_until_they_end(
    session: Session, catalog: Catalog
) -> None:
    _, check = _enrol(session, catalog, quiet_hours="07:00-10:30")
    _run(session, catalog, at(2026, 4, 1, 0, 5), at(2026, 4, 3))
    assert [t for t, _ in _texts(session, check)] == ["01 10:30", "02 10:30"]


def test_no_text_after_stop(session: Session, catalog: Catalog) -> None:
    e, check = _enrol(session, catalog)
    _run(session, catalog, at(2026, 4, 1, 0, 5), at(2026, 4, 1, 12))
    handle_reply(session, catalog=catalog, patient=e.patient, text="STOP", now=at(2026, 4, 1, 12))
    _run(session, catalog, at(2026, 4, 1, 12), at(2026, 4, 3))
    assert [t for t, _ in _texts(session, check)] == ["01 09:00"]


def test_a_reminder_whose_moment_passed_while_down_is_not_sent_late(
    session: Session, catalog: Catalog
) -> None:
    _, check = _enrol(session, catalog)
    _run(session, catalog, at(2026, 4, 2, 11), at(2026, 4, 3))  # down until the day itself
    assert [b for _, b in _texts(session, check)] == [
        f"{TEAM}: you have a clinic check today. Reply HELP for contact."
    ]


def test_remind_days_and_time_come_from_the_settings(session: Session, catalog: Catalog) -> None:
    settings = settings_from_mapping({"monitoring": {"remind_days": "3", "remind_time": "18:15"}})
    policy = DispatchPolicy(nudges=0, monitoring=settings.monitoring)
    _, check = _enrol(session, catalog, when=at(2026, 3, 29, 0, 5))
    _run(session, catalog, at(2026, 3, 29, 0, 5), at(2026, 4, 3), policy)
    assert _texts(session, check) == [
        ("30 18:15", f"{TEAM}: you have a clinic check on Thu 02 Apr. Reply HELP for contact.")
    ]


def _overdue(session: Session) -> list[Flag]:
    session.expire_all()
    return list(
        session.exec(
            select(Flag).where(Flag.rule == "monitoring_overdue").order_by(col(Flag.id))
        ).all()
    )


def _care(session: Session, catalog: Catalog, now: datetime, settings: Settings = SETTINGS) -> None:
    evaluate(session, now=now, catalog=catalog, settings=settings, full=True)
    session.commit()


def test_the_flag_is_raised_once_after_the_window(session: Session, catalog: Catalog) -> None:
    e, check = _enrol(session, catalog)
    _care(session, catalog, at(2026, 5, 2, 23, 59))  # due 2 Apr + 30 days: still inside
    assert _overdue(session) == []
    for day in (3, 4, 10):
        _care(session, catalog, at(2026, 5, day, 0, 1))
    (flag,) = _overdue(session)
    assert (flag.plan_id, flag.severity, flag.status, flag.occurrences) == (
        e.plan.id,
        "normal",
        "open",
        1,
    )
    assert flag.details["checks"][f"dose:{check.id}"]["due"] == "2026-04-02"


def test_no_flag_when_the_clinic_recorded_the_check(session: Session, catalog: Catalog) -> None:
    _, check = _enrol(session, catalog)
    confirm(
        session,
        catalog=catalog,
        dose=check,
        status="taken",
        at=at(2026, 4, 20, 10),
        now=at(2026, 4, 20, 10),
        via="clinic",
        by="nurse",
    )
    _care(session, catalog, at(2026, 5, 10))
    assert _overdue(session) == []


def test_recording_it_late_resolves_the_flag_and_it_is_not_raised_again(
    session: Session, catalog: Catalog
) -> None:
    _, check = _enrol(session, catalog)
    _care(session, catalog, at(2026, 5, 4))
    assert [f.status for f in _overdue(session)] == ["open"]
    confirm(
        session,
        catalog=catalog,
        dose=check,
        status="taken",
        at=at(2026, 5, 5, 9),
        now=at(2026, 5, 5, 9),
        via="clinic",
        by="nurse",
    )
    _care(session, catalog, at(2026, 5, 5, 9, 1))
    _care(session, catalog, at(2026, 5, 6))
    (flag,) = _overdue(session)
    assert (flag.status, flag.resolved_by) == ("resolved", "system: check recorded")


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("days_before", [0, 1, 5])
@pytest.mark.parametrize("discreet", [True, False])
def test_every_check_reminder_fits_one_segment(
    language: str, days_before: int, discreet: bool
) -> None:
    info = texts.DoseText(
        team="Riverside Multiple Sclerosis Care Ctr",  # a long team name (37 characters)
        language=language,
        discreet=discreet,
        what="Before the first dose: hepatitis B screening and serum immunoglobulins",
        kind="monitoring",
        local_date="Thu 02 Apr",
    )
    body = texts.check_reminder(info, days_before)
    encoding, units = texts.sms_units(body)
    assert units <= (160 if encoding == "gsm7" else 70), body
    assert "hepatitis" not in body or not discreet


def test_segment_counting_knows_gsm7_from_ucs2() -> None:
    assert texts.sms_units("a" * 160) == ("gsm7", 160) and texts.one_segment("a" * 160)
    assert not texts.one_segment("a" * 161)
    assert texts.sms_units("€") == ("gsm7", 2)  # an extension character: two septets
    assert texts.sms_units("clínica") == ("ucs2", 7)  # í is not GSM-7
    assert not texts.one_segment("í" + "a" * 70)


def test_a_baseline_check_before_day_1_is_reminded_like_any_check(
    session: Session, catalog: Catalog
) -> None:
    # Enrolled on 1 Feb for a start on 2 Mar: the baseline is due 14 days before, 16 Feb.
    e = enroll(session, catalog, "Aubagio", START, now=at(2026, 2, 1, 10))
    materialize(session, now=at(2026, 2, 14), catalog=catalog, horizon_days=5)
    (baseline,) = session.exec(
        select(Dose).where(Dose.plan_id == e.plan.id, Dose.kind == "monitoring")
    ).all()
    assert (baseline.local_date, baseline.day) == (date(2026, 2, 16), -13)
    _run(session, catalog, at(2026, 2, 14), at(2026, 2, 17))
    assert [t for t, _ in _texts(session, baseline)] == ["15 09:00", "16 09:00"]


def test_no_baseline_check_for_a_plan_enrolled_on_day_1(session: Session, catalog: Catalog) -> None:
    e = enroll(session, catalog, "Aubagio", START, now=at(2026, 3, 2, 0, 5))
    materialize(session, now=at(2026, 3, 2, 0, 5), catalog=catalog, horizon_days=35)
    rows = session.exec(
        select(Dose.local_date).where(Dose.plan_id == e.plan.id, Dose.kind == "monitoring")
    ).all()
    assert rows == [date(2026, 4, 2)]  # the first ALT test only
