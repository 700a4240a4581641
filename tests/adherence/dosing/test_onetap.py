"""One-tap links: the engine puts one in reminder texts only when ``[sms] confirm_links`` is
on; a link is stored hashed, expires with the dose's late window, reading it changes
nothing, and answering through it goes through ``confirm`` (via "link") without ever
overwriting an answer given by text."""

from __future__ import annotations

import logging
import re
from datetime import date, timedelta

import pytest
from sqlmodel import Session, col, select

from adherence.core.config import settings_from_mapping
from adherence.core.tokens import hash_token
from adherence.dosing import onetap
from adherence.dosing.confirm import confirm
from adherence.dosing.dispatch import DispatchPolicy
from adherence.engine import dispatch_policy
from adherence.storage.models import Dose
from adherence.storage.workspace import ConfirmLink
from notifiers import texts
from schedules import Catalog
from tests.adherence.engine_helpers import Enrolled, at, doses, drive, enroll, outbox

BASE = "https://care.example.org"
LINK = re.compile(r"https://care\.example\.org/c/([A-Za-z0-9_-]+)")


def _policy(**sms: object) -> DispatchPolicy:
    return dispatch_policy(settings_from_mapping({"sms": sms, "http": {"public_base_url": BASE}}))


def _reminded(
    session: Session, catalog: Catalog, policy: DispatchPolicy, *, until_hour: int = 8, **kw: object
) -> tuple[Dose, Enrolled]:
    """Aubagio at 08:00 on 2 March, driven (no answer) until ``until_hour``:01."""
    start = at(2026, 3, 2, 0, 5)
    e = enroll(session, catalog, "Aubagio", date(2026, 3, 2), now=start, times=["08:00"], **kw)
    drive(
        session,
        catalog,
        start=start,
        until=at(2026, 3, 2, until_hour, 1),
        take=lambda d: False,
        policy=policy,
        horizon_days=2,
    )
    return doses(session, e.plan)[0], e


def _links(session: Session) -> list[ConfirmLink]:
    return list(session.exec(select(ConfirmLink).order_by(col(ConfirmLink.id))).all())


def _token(body: str) -> str:
    found = LINK.search(body)
    assert found, body
    return found.group(1)


def test_the_engine_sends_each_reminder_and_nudge_with_its_own_link_when_confirm_links_is_on(
    session: Session, catalog: Catalog
) -> None:
    policy = _policy(confirm_links=True)
    dose, _ = _reminded(session, catalog, policy, until_hour=10)

    sent = [m for m in outbox(session) if m.dose_id == dose.id]
    assert [m.purpose for m in sent] == ["reminder", "nudge", "nudge"]
    tokens = [_token(m.body) for m in sent]
    assert len(set(tokens)) == 3 and all(len(t) >= 43 for t in tokens)
    assert all(len(m.body) <= 160 for m in sent)
    assert all("Aubagio" not in m.body for m in sent)  # discreet by default
    assert sent[0].body.startswith("Riverside MS Clinic: time for your medication (08:00). Tap ")
    links = _links(session)
    # Only the hash is stored: the token itself is nowhere in the link table.
    assert [link.token_hash for link in links] == [hash_token(t) for t in tokens]
    assert all(t not in link.token_hash for t in tokens for link in links)
    assert {(link.dose_id, link.expires_at) for link in links} == {(dose.id, dose.window_closes_at)}


def test_the_engine_sends_no_link_when_confirm_links_is_off(
    session: Session, catalog: Catalog
) -> None:
    _reminded(session, catalog, _policy())

    (reminder,) = outbox(session, purpose="reminder")
    assert "/c/" not in reminder.body and "http" not in reminder.body
    assert _links(session) == []


def test_a_text_that_cannot_fit_its_link_goes_without_it_and_stores_no_link(
    session: Session, catalog: Catalog
) -> None:
    policy = _policy(confirm_links=True, max_length=90)

    _reminded(session, catalog, policy)

    (reminder,) = outbox(session, purpose="reminder")
    assert "/c/" not in reminder.body and "Reply T when taken" in reminder.body
    assert _links(session) == []


def test_a_long_base_url_falls_back_to_a_shorter_wording_that_fits() -> None:
    info = texts.DoseText(team="Riverside MS Clinic", local_time="08:00")
    link = "https://adherence.riverside-ms-clinic.example.org/c/" + "x" * 43

    text = texts.with_link(info, link, nudge=False, max_length=160)

    assert text is not None and link in text and len(text) <= 160
    assert text != _full(info, link)


def _full(info: texts.DoseText, link: str) -> str | None:
    return texts.with_link(info, link, nudge=False, max_length=10_000)


def test_a_link_opens_its_dose_until_the_late_window_closes_then_is_gone(
    session: Session, catalog: Catalog
) -> None:
    dose, _ = _reminded(session, catalog, _policy(confirm_links=True))
    token = _token(outbox(session, purpose="reminder")[0].body)

    live = onetap.look_up(session, token, now=dose.window_closes_at - timedelta(seconds=1),
                          catalog=catalog)  # fmt: skip
    assert isinstance(live, onetap.Linked) and live.dose.id == dose.id
    assert onetap.look_up(session, token, now=dose.window_closes_at, catalog=catalog) == "gone"


def test_unknown_and_malformed_tokens_open_nothing(session: Session, catalog: Catalog) -> None:
    _reminded(session, catalog, _policy(confirm_links=True))
    now = at(2026, 3, 2, 8, 5)
    token = _token(outbox(session, purpose="reminder")[0].body)

    for wrong in (token[:-1] + ("A" if token[-1] != "A" else "B"), "", "x" * 500, "a/b", "é"):
        assert onetap.look_up(session, wrong, now=now, catalog=catalog) == "unknown"
    # The stored hash is not a token either.
    (link,) = _links(session)
    assert onetap.look_up(session, link.token_hash, now=now, catalog=catalog) == "unknown"


def test_looking_a_link_up_changes_nothing(session: Session, catalog: Catalog) -> None:
    dose, e = _reminded(session, catalog, _policy(confirm_links=True))
    token = _token(outbox(session, purpose="reminder")[0].body)
    before = (dose.status, dose.updated_at, dose.confirmed_via)

    for _ in range(3):
        onetap.look_up(session, token, now=at(2026, 3, 2, 8, 5), catalog=catalog)

    (after,) = doses(session, e.plan)[:1]
    assert (after.status, after.updated_at, after.confirmed_via) == before
    assert _links(session)[0].used_at is None


def test_taken_through_the_link_is_recorded_via_link_and_spends_every_link_of_the_dose(
    session: Session, catalog: Catalog
) -> None:
    dose, e = _reminded(session, catalog, _policy(confirm_links=True), until_hour=9)
    first, second = (_token(m.body) for m in outbox(session) if m.dose_id == dose.id)
    now = at(2026, 3, 2, 9, 12)
    linked = onetap.look_up(session, second, now=now, catalog=catalog)
    assert isinstance(linked, onetap.Linked)

    outcome = onetap.confirm_through(
        session, linked, "taken", now=now, catalog=catalog, horizon_days=2
    )

    assert (outcome.status, outcome.applied, outcome.taken_at) == ("taken", True, now)
    (stored,) = doses(session, e.plan)[:1]
    assert (stored.status, stored.confirmed_via, stored.taken_at) == ("taken", "link", now)
    assert all(link.used_at == now for link in _links(session))
    assert onetap.look_up(session, first, now=now, catalog=catalog) == "gone"
    assert onetap.look_up(session, second, now=now, catalog=catalog) == "gone"


def test_a_dose_answered_by_text_is_not_overwritten_through_its_link(
    session: Session, catalog: Catalog
) -> None:
    dose, e = _reminded(session, catalog, _policy(confirm_links=True))
    token = _token(outbox(session, purpose="reminder")[0].body)
    now = at(2026, 3, 2, 8, 10)
    linked = onetap.look_up(session, token, now=now, catalog=catalog)
    assert isinstance(linked, onetap.Linked)
    # The patient replies S by text while the page is open; then taps Taken.
    confirm(session, catalog=catalog, dose=dose, status="skipped", at=now, now=now, via="sms")

    outcome = onetap.confirm_through(
        session, linked, "taken", now=now + timedelta(minutes=1), catalog=catalog, horizon_days=2
    )

    assert (outcome.status, outcome.applied) == ("skipped", False)
    (stored,) = doses(session, e.plan)[:1]
    assert (stored.status, stored.confirmed_via) == ("skipped", "sms")


def test_the_page_words_are_discreet_unless_the_patient_opted_in_and_in_their_language(
    session: Session, catalog: Catalog
) -> None:
    _reminded(session, catalog, _policy(confirm_links=True), language="es", discreet=False)
    (reminder,) = outbox(session, purpose="reminder")
    assert reminder.body.startswith("Riverside MS Clinic: hora de su Aubagio 14 mg (08:00). Toque ")
    linked = onetap.look_up(session, _token(reminder.body), now=at(2026, 3, 2, 8, 5),
                            catalog=catalog)  # fmt: skip
    assert isinstance(linked, onetap.Linked)

    words = texts.page_texts(linked.info, taken_time="08:05")

    assert words["heading"] == "Riverside MS Clinic: su Aubagio 14 mg"
    assert (words["taken"], words["skip"]) == ("Tomada", "Omitir")
    assert words["recorded_taken"] == "Registrado: tomada a las 08:05. Gracias."
    discreet = texts.page_texts(texts.DoseText(team="T", what="Aubagio 14 mg"))
    assert discreet["heading"] == "T: your medication"


def test_no_log_line_carries_a_token_even_at_debug(
    session: Session, catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _reminded(session, catalog, _policy(confirm_links=True))
    token = _token(outbox(session, purpose="reminder")[0].body)
    linked = onetap.look_up(session, token, now=at(2026, 3, 2, 8, 5), catalog=catalog)
    assert isinstance(linked, onetap.Linked)
    onetap.confirm_through(
        session, linked, "taken", now=at(2026, 3, 2, 8, 5), catalog=catalog, horizon_days=2
    )

    assert any("one-tap answer" in r.getMessage() for r in caplog.records)
    assert all(token not in r.getMessage() for r in caplog.records)
    assert all(hash_token(token) not in r.getMessage() for r in caplog.records)
