"""The FHIR reader: a Bundle (R4 or R4B, JSON) of MedicationAdministration and
MedicationDispense resources, each validated with ``fhir.resources`` (R4B) on its own, so
one invalid resource is one refused row and the others still import.

What is read (anything else in a resource is ignored):

- MedicationAdministration: ``status`` completed -> taken, not-done -> skipped, or missed
  when a ``statusReason`` says "missed" (its text, or a coding's code or display); any other
  status is refused. ``effectiveDateTime`` or ``effectivePeriod.start``. ``dosage.dose``
  (value and unit), ``note`` texts, and the source: ``performer[0].actor.display``.
- MedicationDispense: ``whenHandedOver`` (else ``whenPrepared``), ``daysSupply.value``,
  ``quantity.value``, the source as for administrations. Only ``completed`` fills count.
- the patient: ``subject.reference`` to a Patient in the Bundle (by ``fullUrl`` or
  ``Patient/<id>``), matched by its identifiers' values against our external ids; a
  ``Patient/<id>`` not in the Bundle is our patient id or external id; a logical
  ``subject.identifier`` is an external id.
- the therapy: ``medicationCodeableConcept`` (or ``medicationReference`` to a Medication in
  the Bundle): RxNorm codings first (``codes``), then the codings' displays and the text.

A Bundle is read whole (JSON has no streaming reader in the standard library): files of a
million rows are CSV's job.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from adherence.history.csvfile import parse_at, parse_dispensed
from adherence.history.result import RowError
from adherence.history.rows import (
    MISSED,
    SKIPPED,
    TAKEN,
    DoseRow,
    FillRow,
    HistoryFileError,
    PatientRef,
    Row,
)

ADMINISTRATION, DISPENSE = "MedicationAdministration", "MedicationDispense"


def load_bundle(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HistoryFileError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        kind = data.get("resourceType") if isinstance(data, dict) else type(data).__name__
        raise HistoryFileError(f"not a FHIR Bundle (resourceType {kind!r})")
    if not isinstance(data.get("entry", []), list):
        raise HistoryFileError("Bundle.entry is not a list")
    return data


def _validate(resource: dict[str, Any]) -> tuple[str, str] | None:
    """(field, message) of the first problem ``fhir.resources`` finds, else None."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()) if not str(p).startswith("__"))
        return where or "resource", str(first.get("msg", "is not valid"))
    except (KeyError, ValueError) as exc:
        return "resourceType", str(exc)
    return None


class BundleHistory:
    kind = "bundle"

    def __init__(self, text: str) -> None:
        self.bundle = load_bundle(text)
        self.entries: list[dict[str, Any]] = [
            e for e in self.bundle.get("entry", []) if isinstance(e, dict)
        ]
        self._by_ref: dict[str, dict[str, Any]] = {}
        for entry in self.entries:
            resource = entry.get("resource")
            if not isinstance(resource, dict):
                continue
            if entry.get("fullUrl"):
                self._by_ref[str(entry["fullUrl"])] = resource
            if resource.get("id"):
                self._by_ref[f"{resource.get('resourceType')}/{resource['id']}"] = resource

    def __iter__(self) -> Iterator[Row]:
        for n, entry in enumerate(self.entries):
            resource = entry.get("resource")
            if not isinstance(resource, dict):
                continue
            kind = resource.get("resourceType")
            if kind not in (ADMINISTRATION, DISPENSE):
                continue  # Patients, Medications: read through the references
            origin = f"{kind}/{resource['id']}" if resource.get("id") else f"Bundle.entry[{n}]"
            problem = _validate(resource)
            if problem is not None:
                yield RowError(origin, problem[0], problem[1])
                continue
            if kind == ADMINISTRATION:
                yield self._administration(origin, resource)
            else:
                yield self._dispense(origin, resource)

    # --- references ---------------------------------------------------------------------

    def _patient(self, resource: dict[str, Any]) -> PatientRef | None:
        subject = resource.get("subject") or {}
        ref = str(subject.get("reference") or "")
        if ref:
            target = self._by_ref.get(ref)
            if target is not None and target.get("resourceType") == "Patient":
                values = tuple(
                    str(i["value"]).strip()
                    for i in target.get("identifier", [])
                    if isinstance(i, dict) and i.get("value")
                )
                return PatientRef(values, by_id=False) if values else None
            if ref.startswith("Patient/"):
                return PatientRef((ref.removeprefix("Patient/"),))
            return None
        value = (subject.get("identifier") or {}).get("value")
        return PatientRef((str(value).strip(),), by_id=False) if value else None

    def _medication(self, resource: dict[str, Any]) -> tuple[str, ...]:
        concept = resource.get("medicationCodeableConcept")
        if concept is None:
            ref = str((resource.get("medicationReference") or {}).get("reference") or "")
            target = self._by_ref.get(ref) or {}
            concept = target.get("code") or {}
            if not concept and (resource.get("medicationReference") or {}).get("display"):
                return (str(resource["medicationReference"]["display"]),)
        codes: list[str] = []
        names: list[str] = []
        for coding in concept.get("coding", []):
            if coding.get("code") and coding.get("system"):
                codes.append(f"{coding['system']}|{coding['code']}")
            if coding.get("display"):
                names.append(str(coding["display"]))
        if concept.get("text"):
            names.append(str(concept["text"]))
        return tuple(codes + names)

    @staticmethod
    def _source(resource: dict[str, Any]) -> str:
        for performer in resource.get("performer", []):
            display = (performer.get("actor") or {}).get("display")
            if display:
                return str(display).strip()
        return ""

    # --- resources ----------------------------------------------------------------------

    def _common(
        self, origin: str, resource: dict[str, Any]
    ) -> tuple[PatientRef, tuple[str, ...]] | RowError:
        patient = self._patient(resource)
        if patient is None:
            return RowError(origin, "subject", "names no Patient with an identifier in the Bundle")
        regimen = self._medication(resource)
        if not regimen:
            return RowError(origin, "medicationCodeableConcept", "has no coding or text")
        return patient, regimen

    def _administration(self, origin: str, resource: dict[str, Any]) -> Row:
        common = self._common(origin, resource)
        if isinstance(common, RowError):
            return common
        status_raw = resource.get("status", "")
        if status_raw == "completed":
            status = TAKEN
        elif status_raw == "not-done":
            status = MISSED if _says_missed(resource.get("statusReason", [])) else SKIPPED
        else:
            return RowError(
                origin, "status", f"{status_raw!r} is not completed or not-done: not imported"
            )
        raw_at = resource.get("effectiveDateTime") or (resource.get("effectivePeriod") or {}).get(
            "start"
        )
        at = parse_at(str(raw_at or ""))
        if at is None:
            return RowError(
                origin,
                "effectiveDateTime",
                f"{raw_at!r} is not a date-time (a date alone says not when)",
            )
        dose = (resource.get("dosage") or {}).get("dose") or {}
        amount = float(dose["value"]) if dose.get("value") is not None else None
        unit = str(dose.get("unit") or dose.get("code") or "") if amount is not None else ""
        notes = [str(n.get("text", "")).strip() for n in resource.get("note", [])]
        return DoseRow(
            origin=origin,
            line=None,
            patient=common[0],
            regimen=common[1],
            at=at,
            status=status,
            amount=amount,
            unit=unit,
            source=self._source(resource),
            note="; ".join(n for n in notes if n),
        )

    def _dispense(self, origin: str, resource: dict[str, Any]) -> Row:
        common = self._common(origin, resource)
        if isinstance(common, RowError):
            return common
        if resource.get("status") != "completed":
            return RowError(
                origin, "status", f"{resource.get('status')!r} is not completed: not imported"
            )
        field = "whenHandedOver" if resource.get("whenHandedOver") else "whenPrepared"
        raw = resource.get(field)
        dispensed = parse_dispensed(str(raw or ""))
        if dispensed is None:
            return RowError(origin, field, f"{raw!r} is not a date or a date-time")
        days = (resource.get("daysSupply") or {}).get("value")
        if days is None or float(days) != int(float(days)):
            return RowError(origin, "daysSupply", f"{days!r} is not a whole number of days")
        quantity = (resource.get("quantity") or {}).get("value")
        return FillRow(
            origin=origin,
            line=None,
            patient=common[0],
            regimen=common[1],
            dispensed=dispensed,
            days_supply=int(float(days)),
            quantity=float(quantity) if quantity is not None else None,
            source=self._source(resource),
        )


def _says_missed(reasons: list[dict[str, Any]]) -> bool:
    for reason in reasons:
        texts = [str(reason.get("text", ""))]
        texts += [
            str(c.get("code", "")) + " " + str(c.get("display", ""))
            for c in reason.get("coding", [])
        ]
        if any("missed" in t.lower() for t in texts):
            return True
    return False


__all__ = ["BundleHistory", "load_bundle"]
