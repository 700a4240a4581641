"""The catalog's label monitoring against its sources (docs/monitoring.md lists them): every
check has a source and a ref, and each therapy's checks fall on the dates its label gives.

Day 1 is Mon 2 Mar 2026; every plan here was enrolled on 1 Feb 2026 unless a test says
otherwise (a baseline check before Day 1 needs an enrolment before it). Dates are by hand.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from schedules import CatalogError, Item, expand, load_catalog
from schedules.describe import describe
from schedules.fields import SOURCES

CATALOG = load_catalog()
UTC = ZoneInfo("UTC")
DAY1 = date(2026, 3, 2)
ENROLLED = date(2026, 2, 1)
OPTIONS = {"cladribine": {"weight_kg": "60"}}

# Every check the label (or a secondary source) asks for, by therapy.
EXPECTED = {
    "teriflunomide": {"baseline", "alt"},
    "natalizumab": {"jcv"},
    "alemtuzumab": {"baseline", "cbc", "thyroid", "skin"},
    "fingolimod": {"baseline", "first-dose-observation", "eye-exam"},
    "siponimod": {"baseline"},
    "ponesimod": {"baseline"},
    "ozanimod": {"baseline"},
    "cladribine": {"lymphocytes-before", "lymphocytes-before-2", "lymphocytes"},
    "ocrelizumab": {"baseline"},
    "ocrelizumab-sc": {"baseline"},
    "ofatumumab": {"baseline"},
    "ublituximab": {"baseline"},
    "mitoxantrone": {"lvef-cbc"},
    "dimethyl-fumarate": {"baseline", "lymphocyte-count"},
    "diroximel-fumarate": {"baseline", "lymphocyte-count"},
    "monomethyl-fumarate": {"baseline", "lymphocyte-count"},
}


def checks(
    code: str, until: date, *, enrolled: date | None = ENROLLED, start: date = DAY1
) -> dict[str, list[date]]:
    therapy = CATALOG.get(code)
    options = OPTIONS.get(code) or {
        n: s.default or (s.values[0] if s.values else "1.8")
        for n, s in therapy.options.items()
        if s.required or s.default
    }
    items = expand(therapy.regimen(options), start=start, zone=UTC, until=until, enrolled=enrolled)
    out: dict[str, list[date]] = {}
    for item in items:
        if item.kind == "monitoring":
            out.setdefault(item.stream.split(":", 1)[1], []).append(item.local_date)
    return out


def monthly(first: date, n: int, every: int = 1) -> list[date]:
    return [date(first.year + (first.month - 1 + every * k) // 12,
                 (first.month - 1 + every * k) % 12 + 1, first.day) for k in range(n)]  # fmt: skip


def test_each_therapy_has_the_checks_its_label_asks_for() -> None:
    found = {t.code: {m.item.name for m in t.monitoring} for t in CATALOG if t.monitoring}
    assert found == EXPECTED


def test_every_check_has_a_source_and_a_ref_to_a_document_and_section() -> None:
    for therapy in CATALOG:
        for mon in (m.item for m in therapy.monitoring):
            assert mon.source in SOURCES, (therapy.code, mon.name)
            assert re.search(r"US PI (\d|Boxed Warning)", mon.ref), (therapy.code, mon.ref)


def test_teriflunomide_alt_monthly_for_the_first_6_months_and_a_baseline() -> None:
    got = checks("teriflunomide", date(2027, 3, 2))
    assert got["alt"] == monthly(date(2026, 4, 2), 6)  # 2 Apr ... 2 Sep, nothing after
    assert got["baseline"] == [DAY1 - timedelta(days=14)]  # 16 Feb, before the first dose


def test_a_baseline_check_is_never_before_enrolment_and_only_before_day_1() -> None:
    assert checks("teriflunomide", DAY1, enrolled=date(2026, 2, 20))["baseline"] == [
        date(2026, 2, 21)  # the day after enrolment, still before Day 1
    ]
    for enrolled in (date(2026, 3, 1), DAY1, date(2026, 3, 20), None):
        assert "baseline" not in checks("teriflunomide", DAY1, enrolled=enrolled)


def test_natalizumab_jcv_every_6_months_marked_secondary() -> None:
    got = checks("natalizumab", date(2028, 3, 2))
    assert got["jcv"] == monthly(date(2026, 9, 2), 4, every=6)
    (jcv,) = (m.item for m in CATALOG.get("natalizumab").monitoring)
    assert (jcv.source, jcv.ref) == ("secondary", "Tysabri US PI 5.1")


def test_alemtuzumab_until_48_months_after_the_last_infusion() -> None:
    # Course 1: 2-6 Mar 2026; course 2: 12 months after its last infusion, 6-8 Mar 2027.
    # 48 months after 8 Mar 2027 is 8 Mar 2031: the last monthly check is 2 Mar 2031.
    got = checks("alemtuzumab", date(2033, 1, 1))
    assert got["cbc"] == monthly(date(2026, 4, 2), 60)
    assert got["thyroid"] == monthly(date(2026, 6, 2), 20, every=3)
    assert got["skin"] == monthly(date(2027, 3, 2), 5, every=12)
    assert got["baseline"] == [date(2026, 2, 16)]


def test_cladribine_lymphocytes_before_and_2_and_6_months_after_each_course() -> None:
    # Course 1 starts on Day 1 (2 Mar 2026); course 2 on 28 Jan 2027 (its cycle 1).
    got = checks("cladribine", date(2028, 6, 1))
    assert got["lymphocytes-before"] == [date(2026, 2, 16)]
    assert got["lymphocytes-before-2"] == [date(2027, 1, 14)]
    assert got["lymphocytes"] == [
        date(2026, 5, 2),
        date(2026, 9, 2),
        date(2027, 3, 28),
        date(2027, 7, 28),
    ]


def test_fingolimod_eye_exam_3_months_after_the_start_once() -> None:
    got = checks("fingolimod", date(2028, 1, 1))
    assert got["eye-exam"] == [date(2026, 6, 2)]
    assert got["first-dose-observation"] == [DAY1]
    assert got["baseline"] == [date(2026, 2, 16)]


@pytest.mark.parametrize(
    "code",
    ["siponimod", "ponesimod", "ozanimod", "ocrelizumab", "ocrelizumab-sc", "ofatumumab",
     "ublituximab"],
)  # fmt: skip
def test_a_baseline_before_the_first_dose_and_nothing_after(code: str) -> None:
    assert checks(code, date(2028, 1, 1)) == {"baseline": [date(2026, 2, 16)]}


@pytest.mark.parametrize("code", ["dimethyl-fumarate", "diroximel-fumarate", "monomethyl-fumarate"])
def test_fumarates_lymphocytes_before_then_at_6_months_and_every_6_months(code: str) -> None:
    got = checks(code, date(2027, 12, 31))
    assert got == {
        "baseline": [date(2026, 2, 16)],
        "lymphocyte-count": monthly(date(2026, 9, 2), 3, every=6),
    }


def test_mitoxantrone_heart_and_blood_check_a_week_before_each_infusion() -> None:
    # Infusions every 3 months from Day 1; the first check falls on Day 1 (never before it).
    therapy = CATALOG.get("mitoxantrone")
    options = {n: s.default or "1.8" for n, s in therapy.options.items()}
    items = expand(therapy.regimen(options), start=DAY1, zone=UTC, until=date(2027, 3, 2))
    infusions = [i.local_date for i in items if i.kind == "infusion"]
    lvef = [i.local_date for i in items if i.kind == "monitoring"]
    assert lvef == [DAY1] + [d - timedelta(days=7) for d in infusions[1:]]


def test_regimens_show_gives_each_check_its_source_and_ref() -> None:
    fingolimod = CATALOG.get("fingolimod")
    text = "\n".join(describe(fingolimod, fingolimod.regimen()))
    assert "Eye exam (macula) 3-4 months after the start: from 3 months after Day 1; " in text
    assert "label: Gilenya US PI 5.3" in text
    assert "2 weeks before Day 1, never before enrolment; label: Gilenya US PI 2.1" in text


def _with_check(body: str) -> str:
    return f"""
[[therapy]]
code = "demo"
name = "demo"
kind = "oral"
unit = "mg"
sources = ["demo"]
[[therapy.phases]]
name = "daily"
amount = 1
every = "1 day"
[[therapy.monitoring]]
name = "lab"
label = "A blood test"
{body}
"""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('anchor = "start"', "monitoring[0].ref: is required"),
        ('anchor = "start"\nref = "the label"', "monitoring[0].ref: expected a document and section"),
        ('anchor = "before_start"\nref = "A US PI 2.1"', "monitoring[0].offset: anchor before_start needs one negative offset"),
        ('anchor = "before_start"\noffset = "14 days"\nref = "A US PI 2.1"', "needs one negative offset"),
        ('anchor = "before_start"\noffset = "-14 days"\nevery = "1 month"\nref = "A US PI 2.1"', "monitoring[0].every: is not for anchor before_start"),
        ('anchor = "phase_start"\nref = "A US PI 2.1"', "monitoring[0].phases: is required for anchor phase_start"),
        ('anchor = "start"\noffset = "1 month"\noffsets = ["2 months"]\nref = "A US PI 2.1"', "give only one of offset, offsets"),
    ],
)  # fmt: skip
def test_a_bad_check_names_its_field(body: str, message: str) -> None:
    with pytest.raises(CatalogError, match=re.escape(message)) as info:
        load_catalog(_with_check(body))
    assert "therapy 'demo'" in str(info.value)


def test_items_of_a_check_before_day_1_are_tests_not_visits() -> None:
    items: list[Item] = expand(
        CATALOG.get("fingolimod").regimen(), start=DAY1, zone=UTC, until=DAY1, enrolled=ENROLLED
    )
    units = {i.stream: i.unit for i in items if i.kind == "monitoring"}
    assert units == {"monitoring:baseline": "test", "monitoring:first-dose-observation": "visit"}
