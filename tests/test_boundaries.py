"""Imports point one way: tui -> core. core never loads a UI; tui never imports torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_core_imports_no_front_end() -> None:
    code = (
        "import sys, core\n"
        "bad = [m for m in ('textual', 'textual_plotext', 'plotext', 'tui', 'rich')"
        " if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == ""


def test_core_has_no_argument_parsing() -> None:
    # torch itself loads argparse, so this rule is checked in the source, not sys.modules
    offenders = [
        path.name
        for path in (ROOT / "core").rglob("*.py")
        if {"argparse", "textual", "tui", "rich"} & _imported_modules(path)
    ]
    assert offenders == []


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_front_ends_never_import_torch() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "tui").rglob("*.py")
        if {"torch", "safetensors"} & _imported_modules(path)
    ]
    assert offenders == []


def test_core_never_prints() -> None:
    offenders = []
    for path in (ROOT / "core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
