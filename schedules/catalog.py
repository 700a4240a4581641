"""The therapy catalog: data reviewed by clinicians, parsed once when it is loaded.

``schedules/data/therapies.toml`` holds one ``[[therapy]]`` per therapy, read by
``schedules.schema`` into a ``Therapy`` (``schedules.therapy``) each. This module loads the
catalog, checks that every entry builds, and finds a therapy by name, brand or alias.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterator
from importlib import resources

from schedules.options import OptionError, OptionSpec
from schedules.schema import CatalogError, parse_entry
from schedules.therapy import Therapy

__all__ = ["Catalog", "CatalogError", "Therapy", "UnknownTherapy", "load_catalog", "normalise"]


class UnknownTherapy(LookupError):
    """No therapy (or more than one) answers to a name; carries suggestions."""

    def __init__(self, name: str, suggestions: list[str], ambiguous: bool = False) -> None:
        self.name = name
        self.suggestions = suggestions
        self.ambiguous = ambiguous
        if ambiguous:
            msg = f"{name!r} names several therapies: " + ", ".join(suggestions)
        elif suggestions:
            msg = f"unknown therapy {name!r}; did you mean " + " or ".join(suggestions) + "?"
        else:
            msg = f"unknown therapy {name!r}; `adherence regimens` lists them all"
        super().__init__(msg)


def normalise(name: str) -> str:
    """Case-insensitive, ignoring spaces, hyphens and punctuation: 'Ocrevus-Zunovo'."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


class Catalog:
    def __init__(self, therapies: list[Therapy]) -> None:
        self.therapies = therapies
        self._by_name: dict[str, list[Therapy]] = {}
        for therapy in therapies:
            for alias in {therapy.code, therapy.name, *therapy.brands, *therapy.aliases}:
                bucket = self._by_name.setdefault(normalise(alias), [])
                if therapy not in bucket:
                    bucket.append(therapy)

    def __iter__(self) -> Iterator[Therapy]:
        return iter(self.therapies)

    def __len__(self) -> int:
        return len(self.therapies)

    def get(self, name: str) -> Therapy:
        key = normalise(name)
        found = self._by_name.get(key, [])
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise UnknownTherapy(name, [t.display for t in found], ambiguous=True)
        # A generic name shared by several entries, e.g. "interferon beta-1a".
        partial = [t for t in self.therapies if key and normalise(t.name).startswith(key)]
        if len(partial) > 1:
            raise UnknownTherapy(name, [t.display for t in partial], ambiguous=True)
        close = difflib.get_close_matches(key, list(self._by_name), n=3, cutoff=0.6)
        names: list[str] = []
        for c in close:
            for t in self._by_name[c]:
                if t.display not in names:
                    names.append(t.display)
        raise UnknownTherapy(name, names)


def load_catalog(text: str | None = None) -> Catalog:
    """Load and validate the packaged catalog (or ``text``, for tests and reviewers)."""
    if text is None:
        text = resources.files("schedules").joinpath("data/therapies.toml").read_text("utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"catalog is not valid TOML: {exc}") from None
    entries = data.get("therapy")
    if not isinstance(entries, list) or not entries:
        raise CatalogError("catalog has no [[therapy]] entries")
    therapies = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        therapy = parse_entry(i, entry)
        if therapy.code in seen:
            raise CatalogError(f"therapy {therapy.code!r}, code: duplicate code")
        seen.add(therapy.code)
        therapies.append(therapy)
    catalog = Catalog(therapies)
    # Every entry must build with its defaults (or its required options' first value).
    for therapy in therapies:
        probe = {s.name: _probe_value(s) for s in therapy.options.values() if s.required}
        try:
            therapy.regimen(probe)
        except (OptionError, ValueError, KeyError, TypeError) as exc:
            raise CatalogError(f"therapy {therapy.code!r}: does not build: {exc}") from None
    return catalog


def _probe_value(spec: OptionSpec) -> str:
    if spec.values:
        return next(v for v in spec.values if v not in spec.refused)
    if spec.minimum is not None:
        return str(int(spec.minimum)) if spec.type == "integer" else str(spec.minimum)
    return "1"
