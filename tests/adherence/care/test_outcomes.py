"""The team page's figures on hand-built data (SQLite and PostgreSQL): the PDC histogram,
flags per week in the team's zone, clinic doses due with their booking, the share of
flagged patients contacted, and back on track within 15 days of contact."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from sqlmodel import Session

from adherence.care import outcomes
from adherence.core.config import Settings
from adherence.dosing.materialize import materialize
from adherence.patients.enrollment import create_team
from adherence.storage.models import Appointment, CareTeam, Flag
from adherence.storage.workspace import CallResult
from schedules import Catalog
from tests.adherence.engine_helpers import NY, Enrolled, at, doses, enroll

NOW = at(2026, 6, 17, 12)  # a Wednesday; the 12-week period starts Monday 30 March


def _team(session: Session, name: str = "Riverside MS Clinic") -> CareTeam:
    return create_team(session, name=name, tz="America/New_York", now=at(2026, 3, 1))


def _enroll(session: Session, catalog: Catalog, team: CareTeam, n: int, start: date,
            regimen: str = "Aubagio", **kw: object) -> Enrolled:  # fmt: skip
    return enroll(
        session, catalog, regimen, start, now=at(2026, 3, 1), times=["09:00"], team=team, n=n, **kw
    )


def _set(session: Session, e: Enrolled, days: Iterable[date], status: str) -> None:
    """Give the plan's doses on those local dates ``status`` (taken: at the due time)."""
    wanted = set(days)
    for dose in doses(session, e.plan):
        if dose.local_date in wanted:
            dose.status = status
            dose.taken_at = dose.due_at if status == "taken" else None
            dose.next_action_at = None
            session.add(dose)
    session.commit()


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# --- PDC ---------------------------------------------------------------------------------------


def test_pdc_histogram_bins_active_patients_and_counts_the_unmeasured_apart(
    session: Session, catalog: Catalog
) -> None:
    team = _team(session)
    other = _team(session, "Other Clinic")
    end = NOW.astimezone(NY).date()
    start = end - timedelta(days=29)  # [care] pdc_days = 30
    full, most, half, removed = (_enroll(session, catalog, team, n, start) for n in range(4))
    later = _enroll(session, catalog, team, 4, end + timedelta(days=3))  # nothing due yet
    infusions = _enroll(session, catalog, team, 5, start, regimen="ocrelizumab")
    elsewhere = _enroll(session, catalog, other, 6, start)
    removed.patient.active = False
    session.add(removed.patient)
    materialize(session, now=at(2026, 5, 1), catalog=catalog, horizon_days=60)
    window = _days(start, end)
    for e in (full, removed, elsewhere):
        _set(session, e, window, "taken")
    _set(session, most, window[:25], "taken")  # 25/30: 83%
    _set(session, most, window[25:], "missed")
    _set(session, half, window[::2], "taken")  # 15/30: 50%
    _set(session, half, window[1::2], "missed")
    assert later and infusions

    dist = outcomes.pdc_distribution(session, team, now=NOW, catalog=catalog, settings=Settings())

    assert (dist.start, dist.end, dist.threshold) == (start, end, 0.8)
    assert [b.patients for b in dist.bins] == [0, 0, 0, 0, 0, 1, 0, 0, 1, 1]
    assert [b.label for b in dist.bins][-2:] == ["80–89%", "90–100%"]
    assert (dist.measured, dist.not_measured, dist.at_or_above) == (3, 2, 2)


def test_pdc_bins_put_each_edge_in_the_bin_above() -> None:
    assert [outcomes.bin_of(p) for p in (0, 0.0999, 0.1, 0.3, 0.7, 0.79999, 0.8, 0.9, 1)] == [
        0, 0, 1, 3, 7, 7, 8, 9, 9,
    ]  # fmt: skip


# --- flags per week ----------------------------------------------------------------------------


def _flag(session: Session, e: Enrolled, rule: str, first_at: datetime,
          resolved_at: datetime | None = None) -> Flag:  # fmt: skip
    flag = Flag(
        open_key=None if resolved_at else f"plan:{e.plan.id}:{rule}",
        team_id=e.team.id,  # type: ignore[arg-type]
        patient_id=e.patient.id,  # type: ignore[arg-type]
        plan_id=e.plan.id,
        rule=rule,
        status="resolved" if resolved_at else "open",
        first_at=first_at,
        last_at=first_at,
        resolved_at=resolved_at,
        details_json=json.dumps({}),
    )
    session.add(flag)
    session.commit()
    return flag


def test_flags_per_week_counts_opened_and_resolved_in_the_team_zone(
    session: Session, catalog: Catalog
) -> None:
    team = _team(session)
    e = _enroll(session, catalog, team, 0, date(2026, 3, 2))
    f = _enroll(session, catalog, _team(session, "Other Clinic"), 1, date(2026, 3, 2))
    # Monday 00:30 in New York: this week. Sunday 23:30 in New York is Monday in UTC, but
    # the week before in the team's zone.
    _flag(session, e, "missed_doses", at(2026, 6, 15, 0, 30))
    _flag(session, e, "low_pdc", at(2026, 6, 14, 23, 30), resolved_at=at(2026, 6, 16, 10))
    _flag(session, e, "silence", at(2026, 4, 1, 9), resolved_at=at(2026, 4, 8, 9))
    _flag(session, e, "old", at(2026, 3, 20, 9), resolved_at=at(2026, 3, 31, 9))  # opened before
    _flag(session, f, "missed_doses", at(2026, 6, 15, 9))  # another team

    weeks = outcomes.flags_per_week(session, team, now=NOW)

    assert len(weeks) == 12
    assert (weeks[0].monday, weeks[-1].monday) == (date(2026, 3, 30), date(2026, 6, 15))
    assert [(w.opened, w.resolved) for w in weeks] == [
        (1, 1), (0, 1), *[(0, 0)] * 8, (1, 0), (1, 1),
    ]  # fmt: skip
    assert sum(w.opened for w in weeks) == 3


# --- clinic doses due --------------------------------------------------------------------------


def test_clinic_doses_due_in_30_days_with_their_booking(session: Session, catalog: Catalog) -> None:
    team = _team(session)
    today = NOW.astimezone(NY).date()
    ocrevus = _enroll(session, catalog, team, 0, today + timedelta(days=2), regimen="ocrelizumab")
    _enroll(session, catalog, team, 1, today)  # home doses: never listed
    late = _enroll(session, catalog, team, 2, today + timedelta(days=40), regimen="ocrelizumab")
    elsewhere = _enroll(session, catalog, _team(session, "Other Clinic"), 3,
                        today + timedelta(days=2), regimen="ocrelizumab")  # fmt: skip
    materialize(session, now=NOW, catalog=catalog, horizon_days=60)
    day1, day15 = doses(session, ocrevus.plan)[:2]
    session.add(
        Appointment(
            uid="a1", plan_id=ocrevus.plan.id, patient_id=ocrevus.patient.id,  # type: ignore[arg-type]
            dose_id=day15.id, at=day15.due_at + timedelta(hours=1), status="booked",
            created_at=NOW, updated_at=NOW,
        )
    )  # fmt: skip
    session.add(
        Appointment(
            uid="a2", plan_id=ocrevus.plan.id, patient_id=ocrevus.patient.id,  # type: ignore[arg-type]
            dose_id=day1.id, at=day1.due_at, status="cancelled", created_at=NOW, updated_at=NOW,
        )
    )  # fmt: skip
    session.commit()
    assert late and elsewhere

    due = outcomes.clinic_doses_due(session, team, now=NOW)

    assert [(d.dose_id, d.kind, d.patient_id) for d in due] == [
        (day1.id, "infusion", ocrevus.patient.id),
        (day15.id, "infusion", ocrevus.patient.id),
    ]
    assert due[0].booked_at is None  # its only appointment was cancelled
    assert due[1].booked_at == day15.due_at + timedelta(hours=1)
    assert due[0].due_at == day1.due_at and due[0].patient_name == "Patient 0"


# --- follow-up ---------------------------------------------------------------------------------


def _call(session: Session, e: Enrolled, outcome: str, when: datetime) -> None:
    session.add(
        CallResult(
            team_id=e.team.id,  # type: ignore[arg-type]
            patient_id=e.patient.id,  # type: ignore[arg-type]
            by="Dana (coordinator:1)",
            outcome=outcome,
            at=when,
        )
    )
    session.commit()


def test_share_of_flagged_patients_contacted_counts_calls_after_their_first_flag(
    session: Session, catalog: Catalog
) -> None:
    team = _team(session)
    reached, voicemail, wrong, before, unflagged, old = (
        _enroll(session, catalog, team, n, date(2026, 3, 2)) for n in range(6)
    )
    for e in (reached, voicemail, wrong, before):
        _flag(session, e, "missed_doses", at(2026, 6, 1, 9))
    _flag(session, old, "missed_doses", at(2026, 3, 20, 9))  # before the period
    _call(session, reached, "no_answer", at(2026, 6, 1, 10))
    _call(session, reached, "reached", at(2026, 6, 2, 10))
    _call(session, voicemail, "voicemail", at(2026, 6, 1, 10))
    _call(session, wrong, "wrong_number", at(2026, 6, 1, 10))
    _call(session, before, "reached", at(2026, 5, 30, 10))  # before its flag
    _call(session, unflagged, "reached", at(2026, 6, 1, 10))
    _call(session, old, "reached", at(2026, 6, 1, 10))

    c = outcomes.flagged_contacted(session, team, now=NOW)

    assert (c.flagged, c.attempted, c.contacted) == (4, 2, 1)
    assert (c.attempted_share, c.contacted_share) == (0.5, 0.25)
    assert c.since == at(2026, 3, 30)


def test_back_on_track_needs_a_dose_taken_within_15_days_and_no_miss_after_it(
    session: Session, catalog: Catalog
) -> None:
    team = _team(session)
    back, relapsed, too_late, missed_first, recent, voicemail = (
        _enroll(session, catalog, team, n, date(2026, 4, 1)) for n in range(6)
    )
    materialize(session, now=at(2026, 4, 1), catalog=catalog, horizon_days=80)
    call = at(2026, 5, 1, 12)  # dose times are 09:00: the day's dose is before the call
    for e in (back, relapsed, too_late, missed_first, voicemail):
        _call(session, e, "agreed_restart" if e is back else "reached", call)
    _set(session, back, _days(date(2026, 5, 3), date(2026, 5, 16)), "taken")
    _set(session, relapsed, [date(2026, 5, 4)], "taken")
    _set(session, relapsed, [date(2026, 5, 6)], "missed")
    _set(session, too_late, [date(2026, 5, 17)], "taken")  # day 16 after the call
    _set(session, too_late, _days(date(2026, 5, 2), date(2026, 5, 16)), "missed")
    _set(session, missed_first, [date(2026, 5, 2)], "missed")  # before the dose taken
    _set(session, missed_first, [date(2026, 5, 3), date(2026, 5, 20)], "taken")
    _set(session, missed_first, [date(2026, 5, 25)], "missed")  # after day 15
    _call(session, recent, "reached", NOW - timedelta(days=10))  # not 15 days ago yet
    _set(session, recent, [(NOW - timedelta(days=8)).astimezone(NY).date()], "taken")
    # Its "reached" call is a contact (never back on track); a voicemail is not a contact.
    _call(session, voicemail, "voicemail", at(2026, 5, 2, 12))

    b = outcomes.back_on_track(session, team, now=NOW)

    assert (b.contacts, b.back) == (5, 2)
    assert b.patients == {back.patient.id, missed_first.patient.id}
    assert b.share == 0.4
    assert b.until == NOW - timedelta(days=15)


def test_figures_are_empty_not_errors_for_a_team_with_no_patients(
    session: Session, catalog: Catalog
) -> None:
    team = _team(session)
    dist = outcomes.pdc_distribution(session, team, now=NOW, catalog=catalog, settings=Settings())
    assert (dist.measured, dist.not_measured) == (0, 0)
    assert outcomes.clinic_doses_due(session, team, now=NOW) == []
    c = outcomes.flagged_contacted(session, team, now=NOW)
    assert (c.flagged, c.contacted_share) == (0, None)
    b = outcomes.back_on_track(session, team, now=NOW)
    assert (b.contacts, b.share) == (0, None)
    assert sum(w.opened + w.resolved for w in outcomes.flags_per_week(session, team, now=NOW)) == 0
