"""Imports point one way: tui.cli -> tui.studio -> tui.report -> core, never in a circle. core
never loads a UI; tui never imports torch; every source file stays short enough to read."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400
LONG_FILES: dict[str, str] = {
    # path: why it may be longer for now (an entry fails once its file is short again)
}
# tui imports `from core import ...`; only these core packages may be named, and only by these
CORE_SUBPACKAGE_USERS = {"core.bench": ("tui.cli.bench",)}
# a tui module may import from its own layer and the ones below it, never from one above
LAYERS = {"tui.__main__": 4, "tui.cli": 3, "tui.studio": 2, "tui.report": 1, "tui.paths": 1}


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


def test_cli_starts_without_textual() -> None:
    # train, sample and chat should not pay for the studio's imports (see tui.cli.cmd_studio)
    code = "import sys, tui.cli\nprint('textual' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == "False"


def test_core_has_no_argument_parsing() -> None:
    # torch itself loads argparse, so this rule is checked in the source, not sys.modules
    front_end = {"argparse", "textual", "textual_plotext", "plotext", "tui", "rich"}
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "core").rglob("*.py")
        if front_end & {name.split(".")[0] for name in _imported_modules(path)}
    ]
    assert offenders == []


def test_front_ends_never_import_torch() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "tui").rglob("*.py")
        if {"torch", "safetensors"} & {name.split(".")[0] for name in _imported_modules(path)}
    ]
    assert offenders == []


def test_front_ends_reach_core_only_through_its_public_api() -> None:
    offenders = []
    for path in (ROOT / "tui").rglob("*.py"):
        module = _module_name(path)
        for name in _imported_modules(path):
            if name.split(".")[0] != "core" or name == "core":
                continue
            users = CORE_SUBPACKAGE_USERS.get(name, ())
            if not any(module == user or module.startswith(user + ".") for user in users):
                offenders.append(f"{module} imports {name}")
    assert offenders == []


def test_front_end_imports_point_down_cli_studio_report() -> None:
    assert _imports_where(lambda importer, imported: _layer(imported) > _layer(importer)) == []


def test_studio_never_imports_the_cli() -> None:
    def from_studio_to_cli(importer: str, imported: str) -> bool:
        return importer.startswith("tui.studio") and (imported + ".").startswith("tui.cli.")

    assert _imports_where(from_studio_to_cli) == []


def test_no_import_circle_among_front_end_modules() -> None:
    assert _circles(_tui_import_graph()) == []


def test_no_import_circle_among_core_modules() -> None:
    # every import counts, TYPE_CHECKING ones too: a circle there is a design smell
    # (one module reaching for another's whole object). `core` itself is left out: its
    # __init__ lists the public API and imports every module.
    graph = {
        _module_name(path): {
            name
            for name in _imported_modules(path)
            if name.startswith("core.") and _is_module(name)
        }
        for path in (ROOT / "core").rglob("*.py")
        if path.name != "__init__.py" or path.parent != ROOT / "core"
    }
    assert _circles(graph) == []


# what tensors answer to; the front ends get plain values and never call these
TENSOR_ATTRIBUTES = {
    "detach", "item", "numpy", "tolist", "nbytes", "softmax", "log_softmax", "topk", "argmax",
    "argsort", "numel", "element_size", "unsqueeze", "squeeze", "requires_grad", "grad",
}  # fmt: skip


def _tensor_api() -> set[str]:
    """core's public functions that take or return a tensor."""
    import core

    names = set()
    for name in core.__all__:
        value = getattr(core, name)
        if inspect.isfunction(value):
            if "Tensor" in " ".join(str(a) for a in value.__annotations__.values()):
                names.add(name)
    return names


def test_front_ends_do_no_tensor_work() -> None:
    tensor_api = _tensor_api()
    offenders = []
    for path in (ROOT / "tui").rglob("*.py"):
        where = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "core":
                offenders += [
                    f"{where} imports {a.name}" for a in node.names if a.name in tensor_api
                ]
            elif isinstance(node, ast.Attribute) and node.attr in TENSOR_ATTRIBUTES:
                offenders.append(f"{where}:{node.lineno} .{node.attr}")
    assert offenders == [], "compute it in core and hand the studio plain values"


def test_core_never_prints() -> None:
    offenders = []
    for path in (ROOT / "core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


def test_no_source_file_is_over_400_lines() -> None:
    lengths = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for folder in ("core", "tui")
        for path in (ROOT / folder).rglob("*.py")
    }
    too_long = [
        f"{p}: {n} lines" for p, n in lengths.items() if n > MAX_LINES and p not in LONG_FILES
    ]
    assert too_long == [], f"split these (about {MAX_LINES} lines at most)"
    short_again = [p for p in LONG_FILES if lengths.get(p, 0) <= MAX_LINES]
    assert short_again == [], "remove these from LONG_FILES: they are short now (or gone)"


# --- the import graph -----------------------------------------------------------------------


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (function bodies too), by absolute name.

    `from a.b import c` names `a.b.c` when that is a module of this project, else `a.b`.
    """
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                names.add(submodule if _is_module(submodule) else base)
    return names


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _tui_import_graph() -> dict[str, set[str]]:
    """tui module -> the tui modules it imports."""
    return {
        _module_name(path): {
            name for name in _imported_modules(path) if name == "tui" or name.startswith("tui.")
        }
        for path in (ROOT / "tui").rglob("*.py")
    }


def _imports_where(rule: Callable[[str, str], bool]) -> list[str]:
    """The tui imports `rule(importer, imported)` picks out, as readable lines."""
    return [
        f"{importer} imports {imported}"
        for importer, targets in sorted(_tui_import_graph().items())
        for imported in sorted(targets)
        if rule(importer, imported)
    ]


def _layer(module: str) -> int:
    group = ".".join(module.split(".")[:2])
    return LAYERS.get(group, 0)  # `tui` itself: the package docstring, below everything


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (or one importing itself)."""
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(node: str) -> None:
        index[node] = lowest[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                lowest[node] = min(lowest[node], lowest[target])
            elif target in stack:
                lowest[node] = min(lowest[node], index[target])
        if lowest[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                circles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles
