"""docs/architecture.md is the one exact description of the tree: every source file is listed
in its folder there, and every file it names exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"


def _tree() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    return text.split("```\n", 2)[1].splitlines()


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _section(lines: list[str], folder: str) -> list[str] | None:
    """The lines of `folder/`'s entry: its own line and every deeper one after it."""
    for i, line in enumerate(lines):
        if line.split() and line.split()[0] == folder + "/":
            depth = _indent(line)
            end = next((j for j in range(i + 1, len(lines)) if _indent(lines[j]) <= depth), None)
            return lines[i : end if end is not None else len(lines)]
    return None


def _source_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "core", "tui"], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.split()
    on_disk = {str(p.relative_to(ROOT)) for d in ("core", "tui") for p in (ROOT / d).rglob("*.py")}
    return sorted({*listed, *on_disk} - {p for p in on_disk if "__pycache__" in p})


def test_every_source_file_is_listed_in_its_folder() -> None:
    missing = []
    for path in _source_files():
        *folders, name = path.split("/")
        if name == "__init__.py" and len(folders) > 1:
            continue  # a subpackage's docstring: its folder's line says what it holds
        lines: list[str] | None = _tree()
        for folder in folders:
            lines = _section(lines, folder) if lines is not None else None
        words = re.findall(r"[\w.]+", "\n".join(lines or []))
        if name not in words:
            missing.append(path)
    assert missing == [], "add these to docs/architecture.md"


def test_every_file_the_tree_names_exists() -> None:
    names = {Path(path).name for path in _source_files()}
    names |= {path.name for path in (ROOT / "tests").glob("*.py")}
    named = set(re.findall(r"\b\w+\.(?:py|tcss)\b", "\n".join(_tree())))
    assert named - names == set(), "docs/architecture.md names files that are gone"
