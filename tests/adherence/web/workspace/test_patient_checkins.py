"""The patient page's check-in section over real HTTP (SQLite and PostgreSQL): the cadence
form (CSRF, audit, the field named when refused), the trend charts and the answers table."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlmodel import Session, select

from adherence.storage.selfcare import CheckinSchedule, Observation
from tests.adherence.web.workspace.conftest import OUTPUT, Site, sign_in
from tests.adherence.web.workspace.test_patient_actions import audits, patient_of, post, signed_in


def test_set_and_stop_checkins_from_the_patient_page(site: Site) -> None:
    pid = patient_of(site.north, "N-1")
    c, csrf = signed_in(site, site.north, pid)
    page = c.get(f"/workspace/patients/{pid}").text
    assert "Symptom check-ins" in page and "This patient gets no check-ins." in page

    assert (
        post(c, f"/workspace/patients/{pid}/checkins", None, every="7", at="18:30").status_code
        == 403
    )
    bad = post(c, f"/workspace/patients/{pid}/checkins", csrf, every="7", at="6pm")
    assert bad.status_code == 303 and "notice=checkins-at" in bad.headers["location"]
    unknown = post(c, f"/workspace/patients/{pid}/checkins", csrf, every="7", at="18:30",
                   items="sleep")  # fmt: skip
    assert "notice=checkins-items" in unknown.headers["location"]
    shown = c.get(unknown.headers["location"]).text
    assert "items names a question the clinic does not have" in shown

    done = post(c, f"/workspace/patients/{pid}/checkins", csrf, every="7", at="18:30",
                items="fatigue,new_symptoms")  # fmt: skip
    assert done.status_code == 303 and "notice=checkins-set" in done.headers["location"]
    page = c.get(f"/workspace/patients/{pid}").text
    assert "every 7 days at 18:30" in page and "fatigue, new_symptoms" in page
    with Session(site.engine) as s:
        [row] = s.exec(select(CheckinSchedule).where(CheckinSchedule.patient_id == pid)).all()
        assert row.active and row.items == "fatigue,new_symptoms"
    assert [a.patient_id for a in audits(site, "checkin_set")] == [pid]

    other = patient_of(site.south, "S-1")
    assert post(c, f"/workspace/patients/{other}/checkins", csrf, every="7",
                at="18:30").status_code == 404  # fmt: skip

    stopped = post(c, f"/workspace/patients/{pid}/checkins/stop", csrf)
    assert "notice=checkins-stopped" in stopped.headers["location"]
    assert "This patient gets no check-ins." in c.get(f"/workspace/patients/{pid}").text
    assert len(audits(site, "checkin_stop")) == 1


def test_trend_chart_and_table_show_every_answer(site: Site) -> None:
    pid = patient_of(site.north, "N-2")
    with Session(site.engine) as s:
        for week, (fatigue, new) in enumerate([(3, 0.0), (5, 0.0), (9, 1.0)]):
            when = site.now - timedelta(days=7 * (3 - week))
            s.add(Observation(patient_id=pid, item="fatigue", value_type="score",
                              value=fatigue, observed_at=when))  # fmt: skip
            s.add(Observation(patient_id=pid, item="new_symptoms", value_type="yes_no",
                              value=new, observed_at=when))  # fmt: skip
        s.commit()
    c, _ = signed_in(site, site.north, pid)
    page = c.get(f"/workspace/patients/{pid}").text
    assert 'id="trend-fatigue"' in page and 'role="img"' in page
    assert [int(v) for v in re.findall(r'class="point" data-value="(\d+)"', page)] == [3, 5, 9]
    assert "fatigue, 0 (none) to 10 (worst), 3 answers" in page  # the chart's description
    assert 'class="threshold"' in page and "flag at 8" in page  # dashed and labelled
    table = page[page.index('class="stack checkin-answers"') :]
    assert table.index(">9<") < table.index(">5<") < table.index(">3<")  # newest first
    assert ">yes<" in table and ">no<" in table
    reads = [a for a in site.audit() if a.action == "read" and a.patient_id == pid]
    assert reads  # the page view, which shows the answers, is audited


def test_browser_start_checkins_and_read_the_trend(page: Any, site: Site) -> None:
    pid = patient_of(site.north, "N-1")
    with Session(site.engine) as s:
        for week, value in enumerate([2, 4, 3, 8]):
            s.add(Observation(patient_id=pid, item="fatigue", value_type="score", value=value,
                              observed_at=site.now - timedelta(days=7 * (4 - week))))  # fmt: skip
        s.commit()
    sign_in(page, site, site.north)
    page.goto(f"{site.base}/workspace/patients/{pid}#checkins")
    checkins = page.get_by_role("region", name="Symptom check-ins")  # nudges ask "every" too
    checkins.get_by_label("Every (days)").fill("14")
    checkins.get_by_label("At (HH:MM, the patient's time)").fill("19:15")
    page.get_by_role("button", name="Start check-ins").click()
    page.wait_for_url("**notice=checkins-set**")
    assert "every 14 days at 19:15" in page.text_content("#checkins + p")
    chart = page.get_by_role("img", name="fatigue over time")
    assert chart.count() == 1
    assert page.locator("#trend-fatigue circle.point").count() == 4
    shots = OUTPUT / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page.locator('section[aria-labelledby="checkins"]').screenshot(
        path=str(shots / "patient_checkins_section.png")
    )
