"""Injection sites: the catalog's tables, and the rotation rule read by suggest and check."""

from __future__ import annotations

from datetime import date, timedelta
from importlib import resources

import pytest

from schedules import CatalogError, load_catalog
from schedules.sites import Rotation, Used, breaks_rule, lookup, suggest_next

CATALOG = load_catalog()
DAY = date(2026, 3, 2)
INJECTABLES = [
    "glatiramer",
    "interferon-beta-1a-im",
    "interferon-beta-1a-sc",
    "interferon-beta-1b",
    "ofatumumab",
    "peginterferon-beta-1a",
]


def rotation(code: str) -> Rotation:
    sites = CATALOG.get(code).sites
    assert sites is not None
    return sites


def packaged(old: str, new: str) -> str:
    text = resources.files("schedules").joinpath("data/therapies.toml").read_text("utf-8")
    assert text.count(old) == 1, old
    return text.replace(old, new)


# --- the catalog -------------------------------------------------------------------------


@pytest.mark.parametrize("code", INJECTABLES)
def test_every_self_injectable_lists_sites_a_rule_and_its_source(code: str) -> None:
    rot = rotation(code)
    assert rot.sites and rot.text and rot.reference
    assert rot.source in ("label", "secondary", "unconfirmed")
    codes = [s.code for s in rot.sites] + [s.code_es for s in rot.sites]
    assert len(codes) == len(set(codes))


def test_only_self_injectables_list_sites() -> None:
    listed = {t.code for t in CATALOG if t.sites is not None}
    assert listed == set(INJECTABLES)


def test_the_rules_follow_the_labels() -> None:
    assert (rotation("glatiramer").rule, rotation("glatiramer").days) == ("min_days", 7)
    assert (rotation("interferon-beta-1b").rule, rotation("interferon-beta-1b").scope) == (
        "not_last",
        "area",
    )
    kesimpta = rotation("ofatumumab")
    assert {s.area for s in kesimpta.sites if s.caregiver} == {"arm"}
    assert {s.area for s in kesimpta.sites if not s.caregiver} == {"thigh", "abdomen"}
    assert rotation("peginterferon-beta-1a").intramuscular == ("LT", "RT")


def test_unchecked_rotation_wording_is_flagged_for_review() -> None:
    assert any(line.startswith("sites ") for line in CATALOG.get("Rebif").unconfirmed())
    assert not any(line.startswith("sites ") for line in CATALOG.get("Copaxone").unconfirmed())


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'intramuscular = ["LT", "RT"]',
            'intramuscular = ["LT", "XX"]',
            "therapy 'peginterferon-beta-1a', sites.intramuscular[1]: 'XX' names no site",
        ),
        ('rule = "min_days"', 'rule = "weekly"', "therapy 'glatiramer', sites.rule: 'weekly'"),
        ("days = 7\n", "", "therapy 'glatiramer', sites.days: is required"),
        (
            'scope = "area"',
            'scope = "zone"',
            "therapy 'interferon-beta-1b', sites.scope: must be one of site, area",
        ),
        (
            'reference = "Kesimpta',
            'colour = "red"\nreference = "Kesimpta',
            "therapy 'ofatumumab', sites.colour: unknown field",
        ),
    ],
)
def test_a_broken_sites_table_is_refused_naming_therapy_and_key(
    old: str, new: str, message: str
) -> None:
    with pytest.raises(CatalogError) as caught:
        load_catalog(packaged(old, new))
    assert message in str(caught.value)


def test_a_site_code_listed_twice_is_refused() -> None:
    text = packaged(
        'code = "RT"\ncode_es = "MD"\nen = "right thigh"\nes = "muslo derecho"\n'
        'area = "thigh"\nside = "right"\n\n[[therapy.sites.site]]\ncode = "LU"\n'
        'code_es = "BI"\nen = "left upper arm"\nes = "brazo izquierdo"\narea = "arm"\n'
        'side = "left"\n\n[[therapy.sites.site]]\ncode = "RU"\ncode_es = "BD"\n'
        'en = "right upper arm"\nes = "brazo derecho"\narea = "arm"\nside = "right"\n\n'
        "[[therapy]]",
        'code = "LT"\ncode_es = "MD"\nen = "right thigh"\nes = "muslo derecho"\n'
        'area = "thigh"\nside = "right"\n\n[[therapy.sites.site]]\ncode = "LU"\n'
        'code_es = "BI"\nen = "left upper arm"\nes = "brazo izquierdo"\narea = "arm"\n'
        'side = "left"\n\n[[therapy.sites.site]]\ncode = "RU"\ncode_es = "BD"\n'
        'en = "right upper arm"\nes = "brazo derecho"\narea = "arm"\nside = "right"\n\n'
        "[[therapy]]",
    )
    with pytest.raises(CatalogError, match=r"interferon-beta-1a-im', sites.site\[1\].code: 'LT'"):
        load_catalog(text)


# --- words ---------------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["LT", "lt", "MI", "mi", "left thigh", "Muslo  Izquierdo"])
def test_a_code_or_name_in_either_language_finds_the_site(word: str) -> None:
    site = lookup(rotation("glatiramer"), word)
    assert site is not None and site.code == "LT"


def test_a_word_the_therapy_does_not_list_finds_nothing() -> None:
    assert lookup(rotation("glatiramer"), "elbow") is None
    assert lookup(rotation("interferon-beta-1a-im"), "LA") is None  # Avonex: no abdomen


# --- the rules -----------------------------------------------------------------------------


def used(code: str, days_ago: int) -> Used:
    return Used(code, DAY - timedelta(days=days_ago))


def test_no_history_suggests_the_first_site_listed_and_breaks_nothing() -> None:
    for code in INJECTABLES:
        rot = rotation(code)
        assert suggest_next(rot, DAY, []) == rot.sites[0]
        assert all(breaks_rule(rot, s.code, DAY, []) is None for s in rot.sites)


def test_glatiramer_the_same_site_within_a_week_repeats_and_after_a_week_does_not() -> None:
    rot = rotation("glatiramer")
    repeat = breaks_rule(rot, "LT", DAY, [used("LT", 6), used("RA", 2)])
    assert repeat is not None and repeat.previous == used("LT", 6)
    assert "6 days" in repeat.why
    assert breaks_rule(rot, "LT", DAY, [used("LT", 7)]) is None
    assert breaks_rule(rot, "RT", DAY, [used("LT", 1)]) is None


def test_glatiramer_suggests_the_least_recently_used_site_the_rule_allows() -> None:
    rot = rotation("glatiramer")
    codes = [s.code for s in rot.sites]
    # every site used once, one a day, oldest first: the oldest is 8 days ago
    history = [used(c, 8 - n) for n, c in enumerate(codes)]
    suggested = suggest_next(rot, DAY, history)
    assert suggested is not None and suggested.code == codes[0]
    # all used within the week but one never used: that one
    history = [used(c, 6 - n) for n, c in enumerate(codes[:-1])]
    suggested = suggest_next(rot, DAY, history)
    assert suggested is not None and suggested.code == codes[-1]


def test_glatiramer_daily_rotation_of_eight_sites_never_repeats_within_a_week() -> None:
    rot = rotation("glatiramer")
    history: list[Used] = []
    for n in range(30):
        on = DAY + timedelta(days=n)
        site = suggest_next(rot, on, history)
        assert site is not None and breaks_rule(rot, site.code, on, history) is None
        history.append(Used(site.code, on))


def test_interferon_beta_1b_the_same_area_twice_in_a_row_repeats() -> None:
    rot = rotation("interferon-beta-1b")
    repeat = breaks_rule(rot, "RT", DAY, [used("LT", 2)])
    assert repeat is not None and "same area" in repeat.why
    assert breaks_rule(rot, "LT", DAY, [used("LT", 4), used("LA", 2)]) is None
    suggested = suggest_next(rot, DAY, [used("LA", 4), used("RA", 2)])
    assert suggested is not None and suggested.code == "LT"  # never used, first listed


@pytest.mark.parametrize("code", ["interferon-beta-1a-im", "interferon-beta-1a-sc"])
def test_interferon_beta_1a_not_the_same_site_twice_in_a_row(code: str) -> None:
    rot = rotation(code)
    assert breaks_rule(rot, "LT", DAY, [used("LT", 7)]) is not None
    assert breaks_rule(rot, "RT", DAY, [used("LT", 7)]) is None


def test_ofatumumab_suggests_the_arm_only_when_a_caregiver_gives_it() -> None:
    rot = rotation("ofatumumab")
    history = [used("LT", 120), used("RT", 90), used("LA", 60), used("RA", 30)]
    alone = suggest_next(rot, DAY, history)
    assert alone is not None and alone.code == "LT"
    helped = suggest_next(rot, DAY, history, caregiver=True)
    assert helped is not None and helped.code == "LU"
    assert breaks_rule(rot, "LT", DAY, [used("LT", 30)]) is None  # rotate: a suggestion only


def test_peginterferon_intramuscular_suggests_the_other_thigh() -> None:
    rot = rotation("peginterferon-beta-1a")
    first = suggest_next(rot, DAY, [], intramuscular=True)
    assert first is not None and first.code == "LT"
    nxt = suggest_next(rot, DAY, [used("LT", 14)], intramuscular=True)
    assert nxt is not None and nxt.code == "RT"
    sc = suggest_next(rot, DAY, [used("LA", 14)])
    assert sc is not None and sc.code == "RA"


def test_ties_go_to_catalog_order_and_later_uses_do_not_count() -> None:
    rot = rotation("interferon-beta-1a-sc")
    history = [used("LA", 3), used("RA", 3), used("LT", -2)]  # LT used after DAY: ignored
    suggested = suggest_next(rot, DAY, history)
    assert suggested is not None and suggested.code == "LT"
