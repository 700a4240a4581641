"""The patient page over real HTTP (SQLite and PostgreSQL) and in Chromium: the header, the
month calendar read from the seeded doses, the timeline, messages, flags, supply, the team
boundary and the audit row."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from sqlalchemy import event
from sqlmodel import Session, select

from adherence.core.config import SupplySettings
from adherence.storage.models import Dose, DoseChange, InboundMessage
from adherence.storage.workspace import CallResult
from adherence.supply.actions import add_fill
from schedules import Catalog
from tests.adherence.web.workspace.conftest import Site, sign_in

CELL = re.compile(r'data-day="(\d{4}-\d\d-\d\d)" data-status="(\w+)"')


def statuses(html: str) -> dict[date, str]:
    return {date.fromisoformat(d): s for d, s in CELL.findall(html)}


def url(site: Site, n: int = 1, **query: str) -> str:
    pid = site.north.patients[n].patient.id
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/workspace/patients/{pid}" + (f"?{q}" if q else "")


def test_calendar_shows_the_last_four_days_missed_and_the_rest_taken(site: Site) -> None:
    html = site.signed_in(site.north).get(url(site)).text
    days = statuses(html)
    assert len(days) == 31 and min(days) == date(2026, 3, 1)  # the patient's current month
    assert all(days[date(2026, 3, d)] == "taken" for d in range(1, 17))
    assert [days[date(2026, 3, d)] for d in range(17, 21)] == ["missed"] * 4
    assert days[date(2026, 3, 21)] == "upcoming"  # today, the 09:00 dose still ahead
    assert days[date(2026, 3, 31)] in ("upcoming", "nothing_due")
    assert "<caption>March 2026" in html


def test_calendar_moves_by_month_and_a_bad_month_is_said_and_ignored(site: Site) -> None:
    c = site.signed_in(site.north)
    feb = statuses(c.get(url(site, month="2026-02")).text)
    assert min(feb) == date(2026, 2, 1) and set(feb.values()) == {"nothing_due"}  # before Day 1
    bad = c.get(url(site, month="March"))
    assert bad.status_code == 200 and "month: use YYYY-MM" in bad.text
    assert min(statuses(bad.text)) == date(2026, 3, 1)
    assert 'href="/workspace/patients/' in bad.text and "?month=2026-04" in bad.text


def test_header_shows_phone_as_tel_link_texting_status_and_plan(site: Site) -> None:
    e = site.north.patients[1]
    html = site.signed_in(site.north).get(url(site)).text
    assert f'href="tel:{e.patient.phone}"' in html
    assert "N-2" in html and "Teriflunomide" in html.replace("teriflunomide", "Teriflunomide")
    assert "✓ active" in html
    assert "consecutive doses missed" in html  # the seeded flag, with its forms
    assert (
        'action="/workspace/flags/' in html
        and f'value="/workspace/patients/{e.patient.id}"' in html
    )


def test_timeline_shows_how_doses_were_confirmed_and_corrections(site: Site) -> None:
    e = site.north.patients[0]
    with Session(site.engine) as s:
        dose = s.exec(select(Dose).where(Dose.plan_id == e.plan.id, Dose.status == "taken")).first()
        assert dose is not None
        s.add(
            DoseChange(
                dose_id=dose.id,  # type: ignore[arg-type]
                old_status="taken",
                new_status="skipped",
                changed_by="Dr Who (coordinator:1)",
                changed_at=site.now,
                reason="patient said she skipped it",
            )
        )
        s.add(
            InboundMessage(
                provider_sid="SM-test-1",
                patient_id=e.patient.id,
                from_number=e.patient.phone,
                body="TAKEN thanks",
                intent="taken",
                received_at=site.now - timedelta(hours=2),
            )
        )
        s.add(
            CallResult(
                team_id=e.team.id,  # type: ignore[arg-type]
                patient_id=e.patient.id,  # type: ignore[arg-type]
                by="North coordinator",
                outcome="voicemail",
                at=site.now - timedelta(hours=1),
            )
        )
        s.commit()
    html = site.signed_in(site.north).get(url(site, 0)).text
    assert "text reply" in html  # confirmed by SMS in the seed
    assert "taken → skipped by Dr Who (coordinator:1)" in html
    assert "patient said she skipped it" in html
    assert "TAKEN thanks" in html and "← received" in html
    assert "→ sent" in html  # the reminders
    assert "left voicemail" in html


def test_supply_shows_days_on_hand_and_refill_dates(site: Site, catalog: Catalog) -> None:
    e = site.north.patients[0]
    with Session(site.engine, expire_on_commit=False) as s:
        add_fill(
            s,
            catalog=catalog,
            plan=e.plan,
            patient=e.patient,
            settings=SupplySettings(),
            dispensed_on=date(2026, 3, 11),
            days_supply=30,
            now=site.now,
        )
    html = site.signed_in(site.north).get(url(site, 0)).text
    section = html.split('id="supply"')[1].split('id="actions-appointments"')[0]
    assert "Wed 11 Mar 2026, 30 days" in section
    assert re.search(r"\b(19|20|21) days\b", section)  # about 20 days left
    assert "Runs out" in section


def test_another_teams_patient_is_a_404_and_each_view_is_audited(site: Site) -> None:
    c = site.signed_in(site.north)
    other = site.south.patients[0].patient.id
    assert c.get(f"/workspace/patients/{other}").status_code == 404
    assert c.get("/workspace/patients/0").status_code == 404
    assert c.get(url(site)).status_code == 200
    reads = [a for a in site.audit() if a.resource.startswith("patient:")]
    assert [a.resource for a in reads] == [f"patient:{site.north.patients[1].patient.id}"]
    assert reads[0].action == "read" and '"workspace"' in reads[0].details_json


# --- in Chromium -------------------------------------------------------------------------


def test_coordinator_opens_a_patient_from_the_list_and_reads_the_calendar(
    page: Any, site: Site
) -> None:
    sign_in(page, site, site.north)
    page.get_by_role("link", name="Patients", exact=True).click()
    page.get_by_role("link", name=site.north.patients[1].patient.name).click()
    cal = page.get_by_role("table", name=re.compile("March 2026"))
    assert "missed" in cal.locator('[data-day="2026-03-18"]').inner_text().replace("miss", "missed")
    assert cal.locator('[data-day="2026-03-18"] abbr').get_attribute("title") == "missed"
    assert cal.locator('[data-day="2026-03-16"] abbr').get_attribute("title") == "taken on time"
    page.get_by_role("link", name=re.compile("February 2026")).click()
    assert page.get_by_role("table", name=re.compile("February 2026")).is_visible()


def test_patient_page_has_no_horizontal_scroll_at_phone_width(page: Any, site: Site) -> None:
    page.set_viewport_size({"width": 375, "height": 800})
    sign_in(page, site, site.north)
    page.goto(site.base + url(site))
    assert page.get_by_role("heading", name="Adherence calendar").is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"page is {width}px wide"


def test_a_notice_code_after_a_redirect_is_shown_as_its_sentence_only(site: Site) -> None:
    c = site.signed_in(site.north)
    assert "Flag resolved." in c.get(url(site, notice="flag-resolved")).text
    assert 'class="notice"' not in c.get(url(site, notice="<b>x</b>")).text


def test_every_seeded_patient_page_opens_infusions_and_flares_included(site: Site) -> None:
    c = site.signed_in(site.north)
    for n, e in enumerate(site.north.patients):
        r = c.get(url(site, n))
        assert r.status_code == 200, (n, r.text[:300])
        assert f"<h1>{e.patient.name}" in r.text
    flare = c.get(url(site, 2)).text
    assert "! urgent" in flare and "patient reported a flare" in flare
    infusion = c.get(url(site, 3)).text
    assert "No home supply to track" in infusion  # infusions are given at the clinic


def test_the_page_reads_a_fixed_number_of_statements_whatever_the_history(site: Site) -> None:
    c = site.signed_in(site.north)
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(site.engine, "before_cursor_execute", count)
    try:
        c.get(url(site, 0))
        short = len(seen)
        e = site.north.patients[0]
        with Session(site.engine) as s:
            for i in range(40):
                s.add(
                    InboundMessage(
                        provider_sid=f"SM-many-{i}", patient_id=e.patient.id,
                        from_number=e.patient.phone, body="ok", intent="taken",
                        received_at=site.now - timedelta(hours=i),
                    )
                )  # fmt: skip
            s.commit()
        seen.clear()
        c.get(url(site, 0))
        c.get(url(site, 0, month="2026-02"))
    finally:
        event.remove(site.engine, "before_cursor_execute", count)
    # The budget grows by a statement or two per section (check-ins, visits), never per row.
    assert len(seen) == 2 * short and short < 32
