"""Which catalog therapy a file means: an RxNorm code, or a name in its text.

RxNorm codes are listed only where a public crosswalk gives them; none is guessed. The
codes below are RxNorm concepts of the clinical drug (SCD) or branded drug (SBD) that
pharmacy and EHR systems send in ``MedicationAdministration.medicationCodeableConcept``;
ingredient-level (IN) codes could not be sourced, so they are not listed. A code that is not
here is not an error: the coding's display and the concept's text are matched by name.

Sources (NDC-to-RxNorm crosswalks, read 2026):

- ocrelizumab: 1876380 "ocrelizumab 300 MG in 10 ML Injection" (SCD) and 1876385
  "Ocrevus 300 MG in 10 ML Injection" (SBD), ndclist.com NDC 50242-150-01;
- fingolimod: 1012895 "fingolimod 0.5 MG Oral Capsule" (SCD) and 1012899 "Gilenya 0.5 MG
  Oral Capsule" (SBD), ndclist.com NDC 0078-0607-89;
- teriflunomide: 1310525 "teriflunomide 14 MG Oral Tablet" and 1310533 "teriflunomide 7 MG
  Oral Tablet" (SCD), ndclist.com NDC 70512-851;
- glatiramer acetate: 1487361, the only RxCUI openFDA's NDC directory gives for a 40 mg/mL
  glatiramer product (api.fda.gov, NDC 0378-6961, Mylan).

Text matching: the whole text as the catalog reads a name (generic, brand or alias,
ignoring case, spaces and punctuation), else the catalog names found as words inside it
("Ocrevus 300 MG in 10 ML Injection"); the longest name found wins ("Ocrevus Zunovo" over
"Ocrevus"), and a text naming two therapies matches neither.
"""

from __future__ import annotations

import re
from functools import lru_cache

from schedules import Catalog, UnknownTherapy

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"

RXNORM_CODES: dict[str, str] = {
    "1876380": "ocrelizumab",
    "1876385": "ocrelizumab",
    "1012895": "fingolimod",
    "1012899": "fingolimod",
    "1310525": "teriflunomide",
    "1310533": "teriflunomide",
    "1487361": "glatiramer",
}


class NoTherapy(LookupError):
    """No catalog therapy (or more than one) answers to what the row says."""


def from_code(system: str, code: str) -> str | None:
    """The catalog code for a coding, or None when the code is not one we list."""
    if system.rstrip("/") == RXNORM:
        return RXNORM_CODES.get(code.strip())
    return None


def from_text(catalog: Catalog, text: str) -> str:
    """The catalog code a name or a free-text drug description means."""
    return _from_text(catalog, text.strip())


@lru_cache(maxsize=4096)
def _from_text(catalog: Catalog, text: str) -> str:
    # Cached: a file names the same few therapies on every row.
    try:
        return catalog.get(text).code
    except UnknownTherapy as exc:
        if exc.ambiguous:
            raise NoTherapy(str(exc)) from None
        whole_error = str(exc)
    found: dict[str, int] = {}
    lowered = f" {_words(text)} "
    for therapy in catalog:
        for name in {therapy.name, therapy.code, *therapy.brands, *therapy.aliases}:
            words = _words(name)
            if words and f" {words} " in lowered:
                found[therapy.code] = max(found.get(therapy.code, 0), len(words))
    if not found:
        raise NoTherapy(whole_error)
    best = max(found.values())
    codes = sorted(code for code, length in found.items() if length == best)
    if len(codes) > 1:
        raise NoTherapy(f"{text!r} names several therapies: {', '.join(codes)}")
    return codes[0]


def _words(text: str) -> str:
    return " ".join(re.findall(r"[0-9a-z]+", text.lower()))


def resolve(catalog: Catalog, candidates: tuple[str, ...]) -> str:
    """The first candidate that names a therapy ("rxnorm|1876380" for a coding, else a
    name); raise ``NoTherapy`` with the first candidate's reason when none does."""
    first: str | None = None
    for candidate in candidates:
        system, sep, code = candidate.partition("|")
        if sep:
            found = from_code(system, code)
            if found is not None:
                return found
            continue
        try:
            return from_text(catalog, candidate)
        except NoTherapy as exc:
            first = first or str(exc)
    if first is None:
        shown = ", ".join(c.partition("|")[2] or c for c in candidates) or "nothing"
        raise NoTherapy(f"no therapy in the catalog has the code {shown}")
    raise NoTherapy(first)
