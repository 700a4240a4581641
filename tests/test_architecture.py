"""The layering rule, checked on the source: adherence -> notifiers -> schedules.

``schedules`` is pure (standard library only, no I/O, never reads the clock) and
``notifiers`` never imports ``adherence``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OWN = {"adherence", "schedules", "notifiers"}

# Modules that would let schedules/ do I/O, reach the network or read the clock.
FORBIDDEN_IN_SCHEDULES = {
    "os",
    "io",
    "socket",
    "sqlite3",
    "subprocess",
    "urllib",
    "http",
    "pathlib",
    "shutil",
    "time",
    "random",
    "secrets",
    "threading",
    "asyncio",
    "logging",
    "tempfile",
}
CLOCK_CALLS = {"now", "today", "utcnow", "time", "monotonic", "perf_counter"}


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", _modules("schedules"), ids=lambda p: p.name)
def test_schedules_imports_only_the_standard_library(path: Path) -> None:
    for name in _imports(path):
        if name == "schedules":
            continue
        assert name not in OWN, f"{path.name} imports {name}: schedules must not"
        assert name in sys.stdlib_module_names, f"{path.name} imports third-party {name}"
        assert name not in FORBIDDEN_IN_SCHEDULES, f"{path.name} imports {name} (I/O or clock)"


@pytest.mark.parametrize("path", _modules("schedules"), ids=lambda p: p.name)
def test_schedules_never_reads_the_clock_or_opens_files(path: Path) -> None:
    tree = ast.parse(path.read_text("utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                assert func.id != "open", f"{path.name}:{node.lineno} calls open()"
            if isinstance(func, ast.Attribute) and func.attr in CLOCK_CALLS:
                base = ast.unparse(func.value)
                assert base not in {"datetime", "date", "time"}, (
                    f"{path.name}:{node.lineno} reads the clock ({base}.{func.attr})"
                )


@pytest.mark.parametrize("path", _modules("notifiers"), ids=lambda p: p.name)
def test_notifiers_never_import_adherence(path: Path) -> None:
    assert "adherence" not in _imports(path), f"{path.name} imports adherence"


def test_the_checks_see_a_violation(tmp_path: Path) -> None:
    # Guard against a checker that silently passes: a bad module must be caught.
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import os\nfrom adherence import db\nfrom datetime import datetime\nx = datetime.now()\n"
    )
    assert {"os", "adherence", "datetime"} <= _imports(bad)
