"""Injection-site rotation: the label's sites for a self-injectable and its rotation rule.

The catalog's ``[therapy.sites]`` table is parsed into a ``Rotation`` (``schedules.schema``);
the functions here are pure, so the reminder (which site to suggest) and the reply (did the
site used repeat against the rule) read the same rule the same way, and tests need no clock.

Rules (``rule`` in the catalog):

* ``min_days`` -- the same site not again within ``days`` days (glatiramer: once a week);
* ``not_last`` -- not the same site (``scope = "site"``) or area (``scope = "area"``) as
  the injection before (interferon beta-1b: "not the same area twice in a row");
* ``alternate_sides`` -- the other side from the injection before (left, right, left...);
* ``rotate`` -- the label asks only to rotate: a suggestion, never a repeat against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

SITE_RULES = ("min_days", "not_last", "alternate_sides", "rotate")
SCOPES = ("site", "area")
SIDES = ("left", "right")


@dataclass(frozen=True, slots=True)
class Site:
    """One injection site: its reply codes (English, Spanish), names, area and side."""

    code: str  # "LT": what the patient may text after T, and what the dose stores
    code_es: str  # "MI" (muslo izquierdo)
    en: str  # "left thigh"
    es: str  # "muslo izquierdo"
    area: str  # "thigh": what "not the same area" compares
    side: str  # left | right
    caregiver: bool = False  # only when a caregiver gives the injection (ofatumumab's arm)


@dataclass(frozen=True, slots=True)
class Rotation:
    """A therapy's sites and rotation rule, with its source as elsewhere in the catalog."""

    sites: tuple[Site, ...]
    rule: str
    text: str
    source: str  # label | secondary | unconfirmed
    reference: str = ""  # which label section says so
    days: int = 0  # min_days
    scope: str = "site"  # not_last
    intramuscular: tuple[str, ...] = ()  # codes for the IM route where the label differs

    def site(self, code: str) -> Site | None:
        return next((s for s in self.sites if s.code == code), None)


@dataclass(frozen=True, slots=True)
class Used:
    """A site used on a day (from the patient's recorded doses)."""

    code: str
    on: date


@dataclass(frozen=True, slots=True)
class Repeat:
    """Why a site used on a day repeats against the rule (None from ``breaks_rule`` if not)."""

    code: str
    on: date
    previous: Used
    why: str  # plain words for the patient page and exports


def lookup(rotation: Rotation, word: str) -> Site | None:
    """The site a patient's word names: a code (en or es) or a name ("left thigh",
    "muslo izquierdo"), any case; None for a word the therapy does not list."""
    folded = " ".join(word.lower().split())
    for site in rotation.sites:
        if folded in (site.code.lower(), site.code_es.lower(), site.en.lower(), site.es.lower()):
            return site
    return None


def _latest_first(history: Sequence[Used]) -> list[Used]:
    return sorted(history, key=lambda u: u.on, reverse=True)


def breaks_rule(rotation: Rotation, code: str, on: date, history: Sequence[Used]) -> Repeat | None:
    """Whether using ``code`` on ``on`` repeats against the rule, given the sites used
    before (``history``: uses strictly before this one, any order)."""
    before = [u for u in _latest_first(history) if u.on <= on]
    site = rotation.site(code)
    if site is None or not before:
        return None
    last = before[0]
    if rotation.rule == "min_days":
        for used in before:
            if (on - used.on).days >= rotation.days:
                break
            if used.code == code:
                days = (on - used.on).days
                return Repeat(
                    code, on, used, f"same site {days} days after (rule: {rotation.text})"
                )
        return None
    if rotation.rule == "not_last":
        previous = rotation.site(last.code)
        if rotation.scope == "site" and last.code == code:
            return Repeat(code, on, last, f"same site as last time (rule: {rotation.text})")
        if rotation.scope == "area" and previous is not None and previous.area == site.area:
            return Repeat(code, on, last, f"same area as last time (rule: {rotation.text})")
        return None
    if rotation.rule == "alternate_sides":
        previous = rotation.site(last.code)
        if previous is not None and previous.side == site.side:
            return Repeat(code, on, last, f"same side as last time (rule: {rotation.text})")
    return None


def suggest_next(
    rotation: Rotation,
    on: date,
    history: Sequence[Used],
    *,
    caregiver: bool = False,
    intramuscular: bool = False,
) -> Site | None:
    """The site to suggest for an injection on ``on``: of the sites the rule allows, the
    least recently used (never used first); ties go to catalog order, so the first
    injection is the first site listed. Caregiver-only sites only when a caregiver gives
    it. None when the rule allows no site (never with the catalog's rules)."""
    candidates = [
        s
        for s in rotation.sites
        if (caregiver or not s.caregiver)
        and (not intramuscular or not rotation.intramuscular or s.code in rotation.intramuscular)
    ]
    last_used: dict[str, date] = {}
    for used in history:
        if used.on <= on and (used.code not in last_used or used.on > last_used[used.code]):
            last_used[used.code] = used.on
    allowed = [s for s in candidates if breaks_rule(rotation, s.code, on, history) is None]
    if not allowed:
        return None
    order = {s.code: n for n, s in enumerate(rotation.sites)}
    return min(allowed, key=lambda s: (last_used.get(s.code, date.min), order[s.code]))
