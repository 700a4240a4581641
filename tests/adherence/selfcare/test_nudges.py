"""Opt-in self-care nudges in virtual time: nothing unless added, the cadence, the stop
keyword and STOP, quiet hours, hot months, Spanish, one segment; through the real engine
tick and outbox on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from adherence.core.config import Settings, settings_from_mapping
from adherence.dosing.replies import handle_reply, parse_reply
from adherence.engine import dispatch_policy, tick
from adherence.patients.enrollment import create_patient, create_team
from adherence.selfcare.nudges.step import nudge_step
from adherence.selfcare.nudges.subscriptions import NudgeError, add, list_for, stop
from adherence.storage.models import AuditEvent, OutboxMessage, Patient
from notifiers import nudge_texts
from notifiers.sms import MemorySms
from schedules import Catalog
from tests.adherence.engine_helpers import PHONES, at

SETTINGS = Settings()
T0 = at(2026, 6, 1, 9)  # a Monday in June (a hot month by default)


def patient(session: Session, n: int = 0, **kw: object) -> Patient:
    team = create_team(session, name=f"Lakeside Clinic {n}", tz="America/New_York", now=T0)
    return create_patient(
        session,
        team=team,
        name=f"Patient {n}",
        phone=PHONES[n],
        tz="America/New_York",
        now=T0,
        **kw,  # type: ignore[arg-type]
    )


def tips(session: Session) -> list[OutboxMessage]:
    session.expire_all()
    return list(
        session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.purpose == "selfcare_nudge")
            .order_by(col(OutboxMessage.id))
        ).all()
    )


def run_days(session: Session, start: datetime, days: int, settings: Settings = SETTINGS) -> None:
    """The step every hour for ``days`` days."""
    for h in range(days * 24):
        nudge_step(session, now=start + timedelta(hours=h), settings=settings)


def test_nothing_is_sent_unless_the_patient_opted_in(session: Session, catalog: Catalog) -> None:
    patient(session)
    sms = MemorySms()
    for h in range(0, 24 * 8, 6):
        tick(
            session,
            now=T0 + timedelta(hours=h),
            catalog=catalog,
            policy=dispatch_policy(SETTINGS),
            channel=sms,
            horizon_days=10,
            do_materialize=False,
            settings=SETTINGS,
        )
    assert tips(session) == [] and sms.sent == []


def test_the_engine_sends_at_the_chosen_time_every_n_days(
    session: Session, catalog: Catalog
) -> None:
    p = patient(session)
    sub = add(
        session, patient=p, topic="exercise", now=T0, settings=SETTINGS, by="cli:t", every_days=3
    )
    assert sub.next_at == at(2026, 6, 1, 10)  # [nudges] local_time, the same day
    sms = MemorySms()
    nexts = []
    for h in range(0, 24 * 7):
        result = tick(
            session,
            now=T0 + timedelta(hours=h),
            catalog=catalog,
            policy=dispatch_policy(SETTINGS),
            channel=sms,
            horizon_days=10,
            do_materialize=False,
            settings=SETTINGS,
        )
        nexts.append(result.next_at)
    rows = tips(session)
    assert [r.key for r in rows] == [
        f"tip:{sub.id}:2026-06-01",
        f"tip:{sub.id}:2026-06-04",
        f"tip:{sub.id}:2026-06-07",
    ]
    assert [m.body for m in sms.sent] == [r.body for r in rows]
    assert rows[0].body == (
        "Lakeside Clinic 0: a gentle reminder to move a little today, at a pace that feels "
        "right for you. Reply TIPS OFF to stop."
    )
    assert at(2026, 6, 10, 10) in nexts  # the tick knows when the next one is due


def test_a_second_step_at_the_same_instant_adds_nothing(session: Session) -> None:
    p = patient(session)
    add(session, patient=p, topic="stress", now=T0, settings=SETTINGS, by="t")
    when = at(2026, 6, 1, 10)
    nudge_step(session, now=when, settings=SETTINGS)
    nudge_step(session, now=when, settings=SETTINGS)
    assert len(tips(session)) == 1


def test_missed_occurrences_are_skipped_not_sent_in_a_burst(session: Session) -> None:
    p = patient(session)
    sub = add(session, patient=p, topic="stress", now=T0, settings=SETTINGS, by="t", every_days=1)
    nudge_step(session, now=at(2026, 6, 5, 12), settings=SETTINGS)  # the daemon was down
    assert len(tips(session)) == 1
    session.refresh(sub)
    assert sub.next_at == at(2026, 6, 6, 10)


def test_quiet_hours_hold_the_nudge_until_they_end(session: Session) -> None:
    p = patient(session, quiet_hours="21:00-08:00")
    sub = add(
        session, patient=p, topic="stress", now=T0, settings=SETTINGS, by="t", local_time="07:00"
    )
    nudge_step(session, now=at(2026, 6, 2, 7), settings=SETTINGS)
    assert tips(session) == []
    session.refresh(sub)
    assert sub.next_at == at(2026, 6, 2, 8)
    nudge_step(session, now=at(2026, 6, 2, 8), settings=SETTINGS)
    assert [r.key for r in tips(session)] == [f"tip:{sub.id}:2026-06-02"]
    session.refresh(sub)
    assert sub.next_at == at(2026, 6, 9, 7)  # the cadence keeps its own time


def test_hydration_only_in_the_hot_months(session: Session) -> None:
    settings = settings_from_mapping({"nudges": {"hot_months": "7,8"}})
    p = patient(session)
    add(session, patient=p, topic="hydration", now=T0, settings=settings, by="t", every_days=7)
    run_days(session, T0, 62, settings)  # 1 June to 1 August
    dates = [r.key.rsplit(":", 1)[1] for r in tips(session)]
    assert dates and all(d.startswith(("2026-07", "2026-08")) for d in dates)
    assert "warm days ahead" in tips(session)[0].body


def test_spanish_smoking_line_is_the_configured_one_and_fits_one_segment(
    session: Session,
) -> None:
    settings = settings_from_mapping({"nudges": {"quitline_es": "1-855-000-1111"}})
    p = patient(session, language="es")
    add(session, patient=p, topic="smoking", now=T0, settings=settings, by="t")
    nudge_step(session, now=at(2026, 6, 1, 10), settings=settings)
    (row,) = tips(session)
    assert "llame al 1-855-000-1111" in row.body and "NO TIPS" in row.body
    assert len(row.body) <= 160


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_text_fits_one_segment_with_a_long_team_name(language: str) -> None:
    team = "Riverside Neurology Associates"  # 30 characters
    for topic in nudge_texts.TOPICS:
        assert (
            len(nudge_texts.nudge(topic, team=team, language=language, line="1-800-784-8669"))
            <= 160
        )
    assert len(nudge_texts.stopped(team, language)) <= 160


@pytest.mark.parametrize(
    "text", ["TIPS OFF", "tips off.", "No tips", "STOP TIPS", "sin consejos", "No más tips"]
)
def test_the_stop_keyword_is_its_own_intent(text: str) -> None:
    assert parse_reply(text).kind == "tips_off"


def test_no_and_stop_alone_keep_their_meaning() -> None:
    assert parse_reply("no").kind == "skip"
    assert parse_reply("stop").kind == "stop"


def test_tips_off_stops_every_nudge_and_withdraws_the_pending_text(
    session: Session, catalog: Catalog
) -> None:
    p = patient(session, language="es")
    add(session, patient=p, topic="stress", now=T0, settings=SETTINGS, by="t")
    add(session, patient=p, topic="exercise", now=T0, settings=SETTINGS, by="t")
    nudge_step(session, now=at(2026, 6, 1, 10), settings=SETTINGS)
    assert {r.status for r in tips(session)} == {"pending"}
    out = handle_reply(
        session, catalog=catalog, patient=p, text="No tips", now=at(2026, 6, 1, 10, 1)
    )
    assert out.answer is not None and out.answer.startswith("Lakeside Clinic 0: no recibirá")
    assert {r.status for r in tips(session)} == {"cancelled"}
    assert [s.active for s in list_for(session, p)] == [False, False]
    assert p.sms_status == "active"  # other texts continue
    run_days(session, at(2026, 6, 1, 11), 14)
    assert len(tips(session)) == 2


def test_stop_ends_nudges_with_every_other_text(session: Session, catalog: Catalog) -> None:
    p = patient(session)
    add(session, patient=p, topic="stress", now=T0, settings=SETTINGS, by="t", every_days=1)
    handle_reply(session, catalog=catalog, patient=p, text="STOP", now=T0)
    run_days(session, T0, 5)
    assert tips(session) == []


def test_a_removed_patient_gets_none(session: Session) -> None:
    p = patient(session)
    add(session, patient=p, topic="stress", now=T0, settings=SETTINGS, by="t", every_days=1)
    p.active = False
    session.add(p)
    session.commit()
    run_days(session, T0, 3)
    assert tips(session) == []


def test_the_care_team_stops_one_topic_and_restarts_it_with_audit(session: Session) -> None:
    p = patient(session)
    add(session, patient=p, topic="stress", now=T0, settings=SETTINGS, by="cli:ana")
    add(session, patient=p, topic="exercise", now=T0, settings=SETTINGS, by="cli:ana")
    assert stop(session, patient=p, topic="stress", now=T0, by="cli:ana") == 1
    assert {s.topic: s.active for s in list_for(session, p)} == {"exercise": True, "stress": False}
    again = add(session, patient=p, topic="stress", now=T0, settings=SETTINGS, by="cli:ana")
    assert again.active and len(list_for(session, p)) == 2
    actions = session.exec(select(AuditEvent.action).where(AuditEvent.patient_id == p.id)).all()
    assert list(actions) == ["nudge.add", "nudge.add", "nudge.stop", "nudge.add"]


def test_bad_input_names_the_field(session: Session) -> None:
    p = patient(session)
    with pytest.raises(NudgeError, match="topic: 'yoga' is not one of exercise"):
        add(session, patient=p, topic="yoga", now=T0, settings=SETTINGS, by="t")
    with pytest.raises(NudgeError, match="every: 0 is not 1 to 90"):
        add(session, patient=p, topic="stress", now=T0, settings=SETTINGS, by="t", every_days=0)
    with pytest.raises(NudgeError, match="at: '25:00'"):
        add(
            session,
            patient=p,
            topic="stress",
            now=T0,
            settings=SETTINGS,
            by="t",
            local_time="25:00",
        )


def test_an_unknown_topic_in_the_table_is_skipped_not_a_crash(session: Session) -> None:
    p = patient(session)
    sub = add(session, patient=p, topic="stress", now=T0, settings=SETTINGS, by="t", every_days=1)
    sub.topic = "yoga"  # as if written by an import
    session.add(sub)
    session.commit()
    nudge_step(session, now=at(2026, 6, 1, 10), settings=SETTINGS)
    assert tips(session) == []
    session.refresh(sub)
    assert sub.next_at == at(2026, 6, 2, 10)
