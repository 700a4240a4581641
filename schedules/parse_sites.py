"""``[therapy.sites]``: the label's injection sites and rotation rule."""

from __future__ import annotations

from typing import Any

from schedules.fields import (
    Schema,
    _any,
    _Entry,
    _flag,
    _list_of,
    _one_of,
    _source,
    _table,
    _text,
    _whole,
)
from schedules.sites import SCOPES, SIDES, SITE_RULES, Rotation, Site

_SITE: Schema = {
    "code": _text,
    "code_es": _text,
    "en": _text,
    "es": _text,
    "area": _text,
    "side": _one_of(SIDES, f"must be one of {', '.join(SIDES)}"),
    "caregiver": _flag,
}
_ROTATION: Schema = {
    "rule": _one_of(SITE_RULES, "{value!r} is not one of " + ", ".join(SITE_RULES)),
    "text": _text,
    "source": _source,
    "reference": _text,
    "days": _whole(refs=False),
    "scope": _one_of(SCOPES, f"must be one of {', '.join(SCOPES)}"),
    "intramuscular": _list_of(_text, "expected a list of site codes"),
    "site": _any,
}


def parse_rotation(entry: _Entry, value: Any) -> Rotation:
    """``[therapy.sites]`` and its ``[[therapy.sites.site]]`` list. Every code (English and
    Spanish) is one word of letters, unique in the therapy; the rule names only listed codes."""
    table = _table(entry, value, "sites.", _ROTATION, required=("rule", "text", "source", "site"))
    raw = table.pop("site")
    if not isinstance(raw, list) or not raw:
        raise entry.fail("sites.site", "at least one site is required")
    sites = tuple(
        Site(**_table(entry, s, f"sites.site[{n}].", _SITE, required=tuple(_SITE)[:6]))
        for n, s in enumerate(raw)
    )
    seen: set[str] = set()
    for n, site in enumerate(sites):
        for key in ("code", "code_es"):
            code = getattr(site, key)
            if not code.isalpha() or not code.isupper() or len(code) > 4:
                raise entry.fail(f"sites.site[{n}].{key}", f"{code!r} must be 1-4 capital letters")
            if code in seen:
                raise entry.fail(f"sites.site[{n}].{key}", f"{code!r} is listed twice")
            seen.add(code)
    codes = [s.code for s in sites]
    for n, code in enumerate(table.get("intramuscular", ())):
        if code not in codes:
            raise entry.fail(
                f"sites.intramuscular[{n}]",
                f"{code!r} names no site of this therapy (sites: {', '.join(codes)})",
            )
    if table["rule"] == "min_days" and "days" not in table:
        raise entry.fail("sites.days", "is required for rule min_days")
    if table["rule"] != "min_days" and "days" in table:
        raise entry.fail("sites.days", "is only for rule min_days")
    return Rotation(sites=sites, **table)
