"""What an import did: counts, and every refused row with its origin, field and reason.

One object for the CLI's lines, its ``--json`` and the API's answer. The refusals kept in
detail are capped (``MAX_ERRORS``) so that a file of a million bad rows still imports in
flat memory; ``refused`` counts them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_ERRORS = 1000


@dataclass(frozen=True, slots=True)
class RowError:
    origin: str  # "line 7" or "MedicationAdministration/abc"
    field: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.origin}: {self.field}: {self.message}"

    def as_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "line": self.line,
            "field": self.field,
            "message": self.message,
        }


@dataclass
class ImportResult:
    name: str
    sha256: str
    kind: str = ""  # "doses" | "dispensing" | "bundle"
    dry_run: bool = False
    strict: bool = False
    imported: int = 0  # doses recorded (new rows, or open/missed doses given their outcome)
    updated: int = 0  # of ``imported``: doses that existed and were given the outcome
    unchanged: int = 0  # doses already recorded exactly so (the same file again)
    fills_imported: int = 0
    fills_unchanged: int = 0
    refused: int = 0
    rolled_back: bool = False  # strict with a refusal, or a dry run: nothing kept
    rescheduled_plans: list[int] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    def refuse(self, error: RowError) -> None:
        self.refused += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(error)

    @property
    def ok(self) -> bool:
        return self.refused == 0

    @property
    def applied(self) -> bool:
        """Something was written and kept."""
        changed = self.imported + self.fills_imported
        return changed > 0 and not self.rolled_back

    def summary_lines(self) -> list[str]:
        would = "would be " if self.dry_run else ""
        lines = [
            f"{self.name}: {self.imported} dose(s) {would}imported"
            + (f" ({self.updated} existing dose(s) given their outcome)" if self.updated else ""),
            f"{self.name}: {self.unchanged} dose(s) unchanged (already recorded)",
        ]
        if self.fills_imported or self.fills_unchanged or self.kind in ("dispensing", "bundle"):
            lines.append(
                f"{self.name}: {self.fills_imported} fill(s) {would}imported, "
                f"{self.fills_unchanged} unchanged"
            )
        lines.append(f"{self.name}: {self.refused} row(s) refused")
        if self.dry_run:
            lines.append(f"{self.name}: dry run: nothing written")
        elif self.rolled_back:
            lines.append(f"{self.name}: --strict and a row was refused: nothing written")
        if self.refused > len(self.errors):
            lines.append(f"{self.name}: only the first {len(self.errors)} refusals are listed")
        return lines

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.name,
            "sha256": self.sha256,
            "kind": self.kind,
            "dry_run": self.dry_run,
            "strict": self.strict,
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "fills_imported": self.fills_imported,
            "fills_unchanged": self.fills_unchanged,
            "refused": self.refused,
            "rolled_back": self.rolled_back,
            "rescheduled_plans": self.rescheduled_plans,
            "errors": [e.as_json() for e in self.errors],
        }

    def counts(self) -> dict[str, int]:
        """The audit row's details."""
        return {
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "fills_imported": self.fills_imported,
            "fills_unchanged": self.fills_unchanged,
            "refused": self.refused,
        }
