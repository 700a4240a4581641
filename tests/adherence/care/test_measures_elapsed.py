"""PDC counts only days that are over: a patient whose first dose is still to come has
nothing to measure yet (not a PDC of 0), in the measures, the CLI report and the team's
median; a period that reaches past today is measured up to yesterday, as the peer
implementation (`pdcscore`) measures the same fills over the days that have passed."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col

from adherence.care.measures import measure_patient, measure_plan, measure_team
from adherence.dosing.materialize import materialize
from adherence.storage.models import Dose
from schedules import Catalog
from tests.adherence.care.test_measures import SETTINGS, fills, pdcscore, plan_case
from tests.adherence.cli.test_cli_enrollment import Cli
from tests.adherence.cli.test_cli_report_export import cli  # noqa: F401  (fixture)
from tests.adherence.engine_helpers import at, enroll

NY = ZoneInfo("America/New_York")


def test_a_plan_whose_first_dose_is_tonight_has_nothing_to_measure_yet(
    session: Session, catalog: Catalog
) -> None:
    now = at(2026, 4, 3, 10)
    e = enroll(session, catalog, "teriflunomide", date(2026, 4, 3), now=now, times=["20:00"])
    materialize(session, now=now, catalog=catalog, horizon_days=30)
    pm = measure_patient(
        session, e.patient, start=date(2026, 3, 5), end=date(2026, 4, 3), catalog=catalog,
        settings=SETTINGS, now=now,
    )  # fmt: skip
    js = pm.to_json()
    assert (js["pdc"], js["adherent"], js["persistent"]) == (None, None, None)
    assert js["pdc_status"] == "nothing to measure yet"
    assert js["measured_to"] == "2026-04-02"
    assert js["plans"][0]["pdc_status"] == "nothing to measure yet"


def test_a_period_reaching_past_today_is_measured_up_to_yesterday_as_pdcscore_does(
    session: Session, catalog: Catalog
) -> None:
    def every_fourth_missed(d: Dose, i: int) -> timedelta | None:
        return None if i % 4 == 3 else timedelta(minutes=20)

    start = date(2026, 3, 2)
    case = plan_case(session, catalog, "teriflunomide", start, days=20, outcome=every_fourth_missed)
    now = at(2026, 3, 22, 10)  # 20 days over (2-21 March), today's dose still to come
    m = measure_plan(
        session, case.plan, start=start, end=date(2026, 3, 31), catalog=catalog,
        settings=SETTINGS, now=now,
    )  # fmt: skip
    yesterday = date(2026, 3, 21)
    peer = pdcscore(fills(case, yesterday), start, yesterday, overlap=False)
    assert m.pdc == pytest.approx(peer) == pytest.approx(15 / 20)
    assert (m.days_in_period, m.measured_to) == (20, yesterday)


def test_the_report_and_the_team_median_leave_out_a_patient_starting_tomorrow(
    cli: Cli,  # noqa: F811
    engine: Engine,
    catalog: Catalog,
) -> None:
    now = datetime.now(NY)  # the CLI reads the real clock
    today = now.date()
    with Session(engine, expire_on_commit=False) as s:
        steady = enroll(
            s, catalog, "teriflunomide", today - timedelta(days=10), now=now - timedelta(days=10),
            times=["09:00"], external_id="MRN-STEADY",
        )  # fmt: skip
        new = enroll(
            s, catalog, "teriflunomide", today + timedelta(days=1), now=now, times=["09:00"],
            team=steady.team, n=1, external_id="MRN-NEW",
        )  # fmt: skip
        materialize(s, now=now - timedelta(days=10), catalog=catalog, horizon_days=20)
        s.execute(
            update(Dose)
            .where(col(Dose.plan_id) == steady.plan.id, col(Dose.local_date) < today)
            .values(status="taken", taken_at=Dose.due_at, next_action_at=None)
        )
        s.commit()
        team = measure_team(
            s, steady.team, start=today - timedelta(days=29), end=today + timedelta(days=5),
            catalog=catalog, settings=SETTINGS, now=now,
        ).to_json()  # fmt: skip
    assert team["pdc_median"] == 1.0 and team["adherent"] is True
    assert (team["patients_in_pdc"], team["patients_nothing_to_measure_yet"]) == (1, 1)
    period = ["--from", (today - timedelta(days=29)).isoformat()]
    period += ["--to", (today + timedelta(days=5)).isoformat()]
    js = cli.json("report", "MRN-NEW", *period, "--json")
    assert (js["pdc"], js["adherent"], js["pdc_status"]) == (None, None, "nothing to measure yet")
    text = cli.ok("report", "MRN-NEW", *period)
    assert "nothing to measure yet" in text and "0.0%" not in text
    team_text = cli.ok("report", "--team", str(steady.team.id), *period)
    assert "median PDC 100.0%" in team_text and "1 with nothing to measure yet" in team_text
    assert new.plan.id is not None
