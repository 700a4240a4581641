"""The catalog refuses a broken entry with a CatalogError naming the entry and the field,
and finds therapies by generic name, brand or alias.

Each broken-entry case starts from a verbatim copy of an entry in
schedules/data/therapies.toml and changes one field.
"""

from __future__ import annotations

from datetime import time
from importlib import resources

import pytest

from schedules import CatalogError, UnknownTherapy, load_catalog
from schedules.pieces import Step

GLATIRAMER = """\
[[therapy]]
code = "glatiramer"
name = "glatiramer acetate"
brands = ["Copaxone", "Glatopa"]
route = "subcutaneous"
kind = "injectable"
unit = "mg"
default_times = ["09:00"]
summary = "20 mg once daily, or 40 mg three times a week on the same weekdays at least 48 hours apart."
sources = ["Copaxone US prescribing information, section 2.1", "Glatopa US prescribing information"]

[therapy.options.strength]
type = "choice"
values = ["20", "40"]
default = "40"
help = "20 mg daily or 40 mg three times a week"

[therapy.options.weekdays]
type = "weekdays"
help = "the three injection weekdays for 40 mg, e.g. mon,wed,fri (default: the start date's weekday, +2 and +4 days)"

[[therapy.phases]]
name = "maintenance"
amount = 20
every = "1 day"
label = "20 mg injection"
when = { strength = "20" }

[[therapy.phases]]
name = "maintenance"
amount = 40
weekdays = true
label = "40 mg injection"
when = { strength = "40" }

[[therapy.rules]]
type = "min_spacing"
hours = 48
text = "At least 48 hours between 40 mg injections."
source = "label"
when = { strength = "40" }

[[therapy.rules]]
type = "late_window"
hours = 12
text = "A late dose still counts on the same day."
source = "unconfirmed"
when = { strength = "20" }

[[therapy.rules]]
type = "late_window"
hours = 24
text = "A late dose still counts within 24 hours, keeping 48 hours before the next one."
source = "unconfirmed"
when = { strength = "40" }

[[therapy.rules]]
type = "missed"
action = "take_late"
text = "Take a missed dose when remembered; never take two doses to make up."
source = "unconfirmed"

[[therapy.rules]]
type = "never_double"
text = "Never double a dose."
source = "unconfirmed"
"""

OCRELIZUMAB = """\
[[therapy]]
code = "ocrelizumab"
name = "ocrelizumab"
brands = ["Ocrevus"]
aliases = ["ocrelizumab IV"]
route = "intravenous"
kind = "infusion"
unit = "mg"
default_times = ["09:00"]
summary = "300 mg on Day 1 and Day 15, then 600 mg every 6 months from 6 months after Day 1; at least 5 months between doses."
sources = ["Ocrevus US prescribing information, sections 2.2-2.4"]

[[therapy.phases]]
name = "initial"
kind = "infusion"
amount = 300
every = "14 days"
count = 2
label = "300 mg infusion (first dose, split)"

[[therapy.phases]]
name = "maintenance"
kind = "infusion"
amount = 600
from_start = "6 months"
every = "6 months"
label = "600 mg infusion"
window = { earliest_after_previous = "5 months", latest_after_target = "1 month", each = true, source = "unconfirmed" }

[[therapy.rules]]
type = "min_spacing"
hours = 3600
text = "At least 5 months between doses."
source = "label"

[[therapy.rules]]
type = "late_window"
hours = 720
text = "An infusion within a month of its date counts as on time."
source = "unconfirmed"

[[therapy.rules]]
type = "missed"
action = "shift"
text = "Give a missed dose as soon as possible; the next dose 6 months after the one actually given."
source = "label"

[[therapy.rules]]
type = "shift_from_taken"
text = "The next infusion is counted from the one actually given."
source = "label"

[[therapy.rules]]
type = "premedication"
minutes_before = 30
text = "Methylprednisolone 100 mg IV about 30 minutes before and an antihistamine 30-60 minutes before each infusion."
source = "label"

[[therapy.rules]]
type = "observation"
hours = 1
text = "Observe for at least 1 hour after each infusion."
source = "label"
"""

TERIFLUNOMIDE = """\
[[therapy]]
code = "teriflunomide"
name = "teriflunomide"
brands = ["Aubagio"]
route = "oral"
kind = "oral"
unit = "mg"
default_times = ["09:00"]
summary = "7 mg or 14 mg once daily; ALT at least monthly for the first 6 months."
sources = ["Aubagio US prescribing information, sections 2.1 and 5.1"]

[therapy.options.strength]
type = "choice"
values = ["7", "14"]
default = "14"
help = "7 mg or 14 mg once daily"

[[therapy.phases]]
name = "maintenance"
amount = "$strength"
every = "1 day"
label = "{strength} mg tablet"

[[therapy.monitoring]]
name = "alt"
label = "ALT (liver) blood test"
anchor = "start"
offset = "1 month"
every = "1 month"
count = 6
source = "label"
ref = "Aubagio US PI 5.1"

[[therapy.rules]]
type = "late_window"
hours = 12
text = "A dose still counts later the same day."
source = "unconfirmed"

[[therapy.rules]]
type = "missed"
action = "skip"
text = "Skip a missed dose; never double."
source = "unconfirmed"

[[therapy.rules]]
type = "never_double"
text = "Never take two doses at once."
source = "unconfirmed"
"""

ENTRIES = {"glatiramer": GLATIRAMER, "ocrelizumab": OCRELIZUMAB, "teriflunomide": TERIFLUNOMIDE}


def broken(code: str, old: str, new: str) -> str:
    """The entry with exactly one occurrence of ``old`` replaced by ``new``."""
    text = ENTRIES[code]
    assert text.count(old) == 1, f"{old!r} must occur once in the {code} entry"
    return text.replace(old, new)


def test_the_copied_entries_load_alone_and_together() -> None:
    for code, text in ENTRIES.items():
        assert [t.code for t in load_catalog(text)] == [code]
    assert len(load_catalog("\n".join(ENTRIES.values()))) == 3


# (entry, old text, new text, field path the message must name)
BREAKS = [
    # top level
    ("glatiramer", 'unit = "mg"', 'unit = "mg"\ncolour = "blue"', "colour: unknown field"),
    ("glatiramer", 'kind = "injectable"', 'kind = "pill"', "kind:"),
    ("glatiramer", 'unit = "mg"', 'unit = "g"', "unit:"),
    ("glatiramer", 'name = "glatiramer acetate"\n', "", "name: is required"),
    ("glatiramer", 'default_times = ["09:00"]', 'default_times = ["25:00"]', "default_times:"),
    (
        "teriflunomide",
        'sources = ["Aubagio US prescribing information, sections 2.1 and 5.1"]',
        "sources = []",
        "sources: at least one source",
    ),
    # options
    ("glatiramer", 'default = "40"', 'default = "30"', "options.strength.default:"),
    ("glatiramer", 'type = "weekdays"', 'type = "days"', "options.weekdays.type:"),
    ("teriflunomide", 'help = "7 mg', 'hlp = "7 mg', "options.strength.hlp: unknown field"),
    # phases
    ("glatiramer", "amount = 20", 'amount = "twenty"', "phases[0].amount:"),
    ("glatiramer", "amount = 20", "amount = true", "phases[0].amount:"),
    ("glatiramer", "amount = 20", "amount = -20", "phases[0].amount:"),
    ("glatiramer", "amount = 20", "amout = 20", "phases[0].amout: unknown field"),
    ("teriflunomide", 'amount = "$strength"', 'amount = "$dose"', "phases[0].amount:"),
    ("glatiramer", 'every = "1 day"', 'every = "1 fortnight"', "phases[0].every:"),
    ("glatiramer", 'every = "1 day"', 'every = "0 days"', "phases[0].every:"),
    ("glatiramer", 'every = "1 day"', 'every = "-1 day"', "phases[0].every:"),
    ("glatiramer", 'every = "1 day"', "every = 1", "phases[0].every:"),
    ("glatiramer", "weekdays = true", 'weekdays = "yes"', "phases[1].weekdays:"),
    ("glatiramer", 'label = "20 mg injection"', "label = 20", "phases[0].label:"),
    (
        "glatiramer",
        'label = "20 mg injection"\nwhen = { strength = "20" }',
        'label = "20 mg injection"\nwhen = { dose = "20" }',
        "phases[0].when.dose: names no option",
    ),
    (
        "glatiramer",
        'label = "40 mg injection"\nwhen = { strength = "40" }',
        'label = "40 mg injection"\nwhen = { strength = "44" }',
        "phases[1].when.strength:",
    ),
    ("ocrelizumab", "count = 2", "count = 0", "phases[0].count:"),
    ("ocrelizumab", "count = 2", 'count = "2"', "phases[0].count:"),
    (
        "ocrelizumab",
        'kind = "infusion"\namount = 300',
        'kind = "monitoring"\namount = 300',
        "phases[0].kind:",
    ),
    (
        "ocrelizumab",
        'from_start = "6 months"',
        'from_start = "six months"',
        "phases[1].from_start:",
    ),
    (
        "ocrelizumab",
        'from_start = "6 months"',
        'from_start = "6 months"\nday = 183',
        "phases[1]: give only one",
    ),
    (
        "ocrelizumab",
        'earliest_after_previous = "5 months"',
        'earliest_after_previous = "5 mo"',
        "phases[1].window.earliest_after_previous:",
    ),
    ("ocrelizumab", "each = true", 'each = "yes"', "phases[1].window.each:"),
    (
        "ocrelizumab",
        "each = true",
        'each = true, latest = "1 month"',
        "phases[1].window.latest: unknown field",
    ),
    (
        "ocrelizumab",
        'each = true, source = "unconfirmed"',
        'each = true, source = "guess"',
        "phases[1].window.source:",
    ),
    # monitoring
    ("teriflunomide", 'offset = "1 month"', 'offset = "1 mnth"', "monitoring[0].offset:"),
    ("teriflunomide", 'every = "1 month"', 'every = "0 months"', "monitoring[0].every:"),
    ("teriflunomide", "count = 6", "count = 0", "monitoring[0].count:"),
    ("teriflunomide", 'anchor = "start"', 'anchor = "end"', "monitoring[0].anchor:"),
    (
        "teriflunomide",
        'count = 6\nsource = "label"',
        'count = 6\nsource = "guess"',
        "monitoring[0].source:",
    ),
    ("teriflunomide", "count = 6", 'count = 6\nat = "7am"', "monitoring[0].at:"),
    ("teriflunomide", "count = 6", 'count = 6\nphases = ["titration"]', "monitoring[0].phases[0]:"),
    (
        "teriflunomide",
        "count = 6",
        "count = 6\nfasting = true",
        "monitoring[0].fasting: unknown field",
    ),
    ("teriflunomide", "count = 6", 'count = 6\nwhen = { dose = "7" }', "monitoring[0].when.dose:"),
    # rules
    (
        "glatiramer",
        'source = "unconfirmed"\nwhen = { strength = "20" }',
        'source = "guess"\nwhen = { strength = "20" }',
        "rules[1].source:",
    ),
    ("glatiramer", "hours = 48", 'hours = "48"', "rules[0].hours:"),
    ("glatiramer", 'type = "min_spacing"', 'type = "spacing"', "rules[0].type:"),
    ("glatiramer", "hours = 48", "hours = 48\ndays = 2", "rules[0].days: unknown field"),
    (
        "glatiramer",
        "hours = 48",
        'hours = 48\nsplit_phases = ["initial"]',
        "rules[0].split_phases[0]: 'initial' names no phase",
    ),
    ("glatiramer", 'action = "take_late"', 'action = "ignore"', "rules[3].action:"),
    (
        "glatiramer",
        'source = "label"\nwhen = { strength = "40" }',
        'source = "label"\nwhen = { strenght = "40" }',
        "rules[0].when.strenght:",
    ),
    (
        "ocrelizumab",
        'text = "At least 5 months between doses."\n',
        "",
        "rules[0].text: is required",
    ),
    # shapes the catalog once let through, or named imprecisely
    ("ocrelizumab", 'brands = ["Ocrevus"]', 'brands = "Ocrevus"', "brands:"),
    ("glatiramer", 'values = ["20", "40"]', 'values = "20,40"', "options.strength.values:"),
    (
        "glatiramer",
        'default_times = ["09:00"]',
        'default_times = ["09:00"]\nmonitoring_time = "9am"',
        "monitoring_time:",
    ),
    ("glatiramer", 'default_times = ["09:00"]', "default_times = [9]", "default_times:"),
    (
        "teriflunomide",
        "count = 6",
        'count = 6\nphases = "maintenance"',
        "monitoring[0].phases: expected a list",
    ),
    ("teriflunomide", 'type = "choice"', 'type = "choice"\nrequired = "no"', "options.strength"),
]


@pytest.mark.parametrize(("code", "old", "new", "field"), BREAKS, ids=[b[3] for b in BREAKS])
def test_a_broken_field_is_refused_naming_the_entry_and_the_field(
    code: str, old: str, new: str, field: str
) -> None:
    with pytest.raises(CatalogError) as caught:
        load_catalog(broken(code, old, new))
    message = str(caught.value)
    assert message.startswith(f"therapy {code!r}, {field}"), message


def packaged(old: str, new: str) -> str:
    """The packaged catalog with exactly one occurrence of ``old`` replaced by ``new``."""
    text = resources.files("schedules").joinpath("data/therapies.toml").read_text("utf-8")
    assert text.count(old) == 1, f"{old!r} must occur once in the packaged catalog"
    return text.replace(old, new)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('from = "weight_kg"', 'from = "weight"', "derive.from: 'weight' names no option"),
        ("mg_per_tablet = 10", 'mg_per_tablet = "10"', "derive.mg_per_tablet:"),
        ("[40, 50, 4, 4]", "[40, 50, 4]", "derive.bands[0]: expected [from, below, cycle1"),
        (", 10 = [2, 2, 2, 2, 2] }", " }", "derive.bands[6]: derive.split gives no days for 10"),
        ("5 = [1, 1, 1, 1, 1]", '5 = "one a day"', "derive.split.5:"),
    ],
)
def test_a_broken_derive_table_is_refused_when_loaded(old: str, new: str, field: str) -> None:
    with pytest.raises(CatalogError) as caught:
        load_catalog(packaged(old, new))
    assert str(caught.value).startswith(f"therapy 'cladribine', {field}"), str(caught.value)


MINIMAL = """\
[[therapy]]
code = "minimal"
name = "minimal"
kind = "oral"
unit = "mg"
sources = ["a label"]

[[therapy.phases]]
name = "daily"
amount = 1
every = "1 day"

[[therapy.monitoring]]
name = "lab"
label = "A blood test"
anchor = "start"
ref = "A US PI 5.1"
"""


def test_keys_left_out_take_their_defaults() -> None:
    therapy = load_catalog(MINIMAL).get("minimal")
    assert (therapy.brands, therapy.aliases, therapy.route, therapy.summary) == ((), (), "", "")
    regimen = therapy.regimen()
    assert regimen.default_times == (time(9, 0),) and regimen.times_per_day == 1
    assert regimen.monitoring_time == time(9, 0)
    assert (regimen.min_gap_days, regimen.cap, regimen.weekdays) == (2, None, ())
    (phase,) = regimen.phases
    assert (phase.kind, phase.label, phase.amounts, phase.count, phase.window) == (
        "dose",
        "",
        (),
        None,
        None,
    )
    (lab,) = regimen.monitoring
    assert (lab.offsets, lab.source, lab.every, lab.at) == ((Step(),), "label", None, None)


def test_a_regimen_comes_from_the_parsed_entry_not_from_the_raw_table() -> None:
    therapy = load_catalog(TERIFLUNOMIDE).get("teriflunomide")
    seven = therapy.regimen({"strength": "7"})
    assert (seven.phases[0].amount, seven.phases[0].label) == (7.0, "7 mg tablet")
    fourteen = therapy.regimen({"strength": "14"})
    assert (fourteen.phases[0].amount, fourteen.phases[0].label) == (14.0, "14 mg tablet")
    # ``raw`` is the table as written, kept for people; nothing reads it after loading.
    therapy.raw["phases"][0]["every"] = "2 days"
    assert therapy.regimen({"strength": "7"}) == seven


def test_not_toml_is_refused() -> None:
    with pytest.raises(CatalogError, match="not valid TOML"):
        load_catalog(GLATIRAMER.replace('code = "glatiramer"', "code = glatiramer"))


def test_a_catalog_without_entries_is_refused() -> None:
    with pytest.raises(CatalogError, match=r"no \[\[therapy\]\] entries"):
        load_catalog("# nothing here\n")


def test_a_duplicate_code_is_refused() -> None:
    with pytest.raises(CatalogError, match="therapy 'glatiramer', code: duplicate"):
        load_catalog(GLATIRAMER + "\n" + GLATIRAMER)


# --- the packaged catalog ----------------------------------------------------------------

REFERENCE_CODES = {
    "glatiramer",
    "interferon-beta-1a-im",
    "interferon-beta-1a-sc",
    "interferon-beta-1b",
    "ofatumumab",
    "peginterferon-beta-1a",
    "cladribine",
    "dimethyl-fumarate",
    "diroximel-fumarate",
    "monomethyl-fumarate",
    "fingolimod",
    "ponesimod",
    "siponimod",
    "teriflunomide",
    "ozanimod",
    "alemtuzumab",
    "mitoxantrone",
    "ocrelizumab",
    "ocrelizumab-sc",
    "natalizumab",
    "ublituximab",
    "methylprednisolone",
    "prednisone",
    "corticotropin",
    "plasma-exchange",
}


def test_the_packaged_catalog_holds_every_therapy_of_the_reference_once() -> None:
    codes = [t.code for t in load_catalog()]
    assert len(codes) == 25
    assert set(codes) == REFERENCE_CODES


@pytest.mark.parametrize(
    "name",
    ["glatiramer", "Avonex", "Rebif", "Tecfidera", "Vumerity", "Bafiertam", "Briumvi"],
)
def test_missed_dose_rules_the_reference_marks_unconfirmed_are_flagged(name: str) -> None:
    flagged = load_catalog().get(name).unconfirmed()
    assert any(line.split()[1] == "missed:" for line in flagged), flagged


# --- finding a therapy by name -----------------------------------------------------------

CATALOG = load_catalog()


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Glatopa", "glatiramer"),
        ("copaxone", "glatiramer"),
        ("Extavia", "interferon-beta-1b"),
        ("Betaseron", "interferon-beta-1b"),
        ("Ocrevus", "ocrelizumab"),
        ("Ocrevus Zunovo", "ocrelizumab-sc"),
        ("ocrevus-zunovo", "ocrelizumab-sc"),
        ("OCREVUS ZUNOVO", "ocrelizumab-sc"),
        ("Solu-Medrol", "methylprednisolone"),
        ("solumedrol", "methylprednisolone"),
        ("Deltasone", "prednisone"),
        ("Acthar Gel", "corticotropin"),
        ("H.P. Acthar Gel", "corticotropin"),
        ("plasma exchange", "plasma-exchange"),
        ("Plasma-Exchange", "plasma-exchange"),
        ("Mavenclad", "cladribine"),
        ("Novantrone", "mitoxantrone"),
        ("interferon beta-1a IM", "interferon-beta-1a-im"),
        ("interferon beta-1a SC", "interferon-beta-1a-sc"),
    ],
)
def test_a_brand_or_alias_finds_its_therapy(name: str, code: str) -> None:
    assert CATALOG.get(name).code == code


def test_interferon_beta_1a_is_ambiguous_and_lists_both() -> None:
    with pytest.raises(UnknownTherapy) as caught:
        CATALOG.get("interferon beta-1a")
    assert caught.value.ambiguous
    assert caught.value.suggestions == [
        "interferon beta-1a (intramuscular) (Avonex)",
        "interferon beta-1a (subcutaneous) (Rebif)",
    ]
    assert "Avonex" in str(caught.value) and "Rebif" in str(caught.value)


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [
        ("Tecfidra", "dimethyl fumarate (Tecfidera)"),
        ("Gilenia", "fingolimod (Gilenya)"),
        ("Kesimta", "ofatumumab (Kesimpta)"),
        ("plasma exchnage", "plasma exchange"),
    ],
)
def test_a_misspelling_suggests_the_close_match(typo: str, suggestion: str) -> None:
    with pytest.raises(UnknownTherapy, match="did you mean") as caught:
        CATALOG.get(typo)
    assert not caught.value.ambiguous
    assert suggestion in caught.value.suggestions


def test_a_name_like_nothing_points_to_the_list() -> None:
    with pytest.raises(UnknownTherapy, match="adherence regimens") as caught:
        CATALOG.get("xyzzy")
    assert caught.value.suggestions == []
