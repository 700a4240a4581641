"""Reading the visit summary's PDF back in tests: poppler's pdftotext (the text, in layout
order) and pdftoppm (each page as a PNG in test-output/summary/). Without poppler or
WeasyPrint a test is skipped on a developer's machine and fails under CI (``.ci/run``
installs both): it never silently skips there."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from adherence.care.summary import PdfUnavailable, render_pdf

ROOT = Path(__file__).resolve().parents[3]
OUTPUT = Path(os.environ.get("ADHERENCE_TEST_OUTPUT", ROOT / "test-output")) / "summary"


def missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing under CI (.ci/run installs it)")
    pytest.skip(f"{what} is not installed")


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        missing(f"{name} (Debian's poppler-utils)")
    assert found is not None
    return found


def pdf_of(html: str) -> bytes:
    try:
        return render_pdf(html)
    except PdfUnavailable as exc:
        missing(str(exc))
        raise


def pdf_text(pdf: Path) -> str:
    done = subprocess.run([tool("pdftotext"), "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True, timeout=60)  # fmt: skip
    return done.stdout


def pdf_pages(pdf: Path) -> int:
    done = subprocess.run([tool("pdfinfo"), str(pdf)], capture_output=True, text=True,
                          check=True, timeout=60)  # fmt: skip
    line = next(x for x in done.stdout.splitlines() if x.startswith("Pages:"))
    return int(line.split()[1])


def to_png(pdf: Path, name: str, dpi: int = 100) -> list[Path]:
    """Each page of ``pdf`` as ``test-output/summary/<name>-<n>.png``."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for old in OUTPUT.glob(f"{name}-*.png"):
        old.unlink()
    subprocess.run([tool("pdftoppm"), "-r", str(dpi), "-png", str(pdf), str(OUTPUT / name)],
                   check=True, timeout=120)  # fmt: skip
    return sorted(OUTPUT.glob(f"{name}-*.png"))
