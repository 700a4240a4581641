"""Inside ``adherence/``: the daemon and the web app never import each other (the CLI's
``run`` composes them), and ``bootstrap`` stays a foundation-level builder that imports no
engine step. Checked on the source, function-level imports included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "adherence"

# What bootstrap may build from: settings, storage, the clock (and the catalog, outside).
FOUNDATIONS = {
    "adherence.core.config",
    "adherence.storage.db",
    "adherence.storage.models",
    "adherence.core.clock",
}


def own_imports(path: Path) -> set[str]:
    """Every ``adherence.*`` module ``path`` imports, anywhere in the file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("adherence"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "adherence":
                names.update(f"adherence.{a.name}" for a in node.names)
            elif node.module.startswith("adherence."):
                names.add(node.module)
    return names


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_the_daemon_never_imports_the_web_app_or_the_cli() -> None:
    found = own_imports(ROOT / "daemon.py")
    assert not {n for n in found if _under(n, "adherence.web") or _under(n, "adherence.cli")}


@pytest.mark.parametrize("path", sorted((ROOT / "web").rglob("*.py")), ids=lambda p: p.name)
def test_the_web_app_never_imports_the_daemon_or_the_cli(path: Path) -> None:
    found = own_imports(path)
    assert not {n for n in found if _under(n, "adherence.daemon") or _under(n, "adherence.cli")}


def test_bootstrap_imports_foundations_only() -> None:
    assert own_imports(ROOT / "bootstrap.py") <= FOUNDATIONS


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def serve():\n    from adherence.web import create_app\n    import adherence.cli\n"
    )
    assert own_imports(bad) == {"adherence.web", "adherence.cli"}
