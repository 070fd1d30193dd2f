"""The installed package carries what the project ships: the corpus, the pretrained model and
every module, so `minigpt` works from any folder after a non-editable install."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tui.paths import default_corpus, shipped_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = "tui/shipped/checkpoints/shakespeare-char"


def _packages_on_disk() -> set[str]:
    found = set()
    for init in [*ROOT.glob("core/**/__init__.py"), *ROOT.glob("tui/**/__init__.py")]:
        found.add(".".join(init.parent.relative_to(ROOT).parts))
    return found


def test_pyproject_lists_every_package_of_the_tree() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    assert {name for name in listed if not name.startswith("tui.shipped")} == _packages_on_disk()


def test_shipped_corpus_and_model_are_found_from_the_package() -> None:
    assert default_corpus().is_file() and default_corpus().stat().st_size > 1_000_000
    manifest = json.loads((shipped_checkpoint() / "checkpoint.json").read_text())
    assert all((shipped_checkpoint() / name).is_file() for name in manifest["files"].values())


def test_help_answers_without_loading_torch_or_textual() -> None:
    code = (
        "import sys\nfrom tui.cli import main\n"
        "for argv in (['--help'], ['train', '--help'], ['bench', 'train', '--help']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "print(sorted(m for m in ('torch', 'textual') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.slow
def test_wheel_carries_the_corpus_the_model_and_every_module(tmp_path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("minigpt_studio-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "tui/shipped/data/shakespeare_complete.txt" in names
    manifest = json.loads(zipfile.ZipFile(wheel).read(f"{SHIPPED}/checkpoint.json"))
    assert {f"{SHIPPED}/{name}" for name in manifest["files"].values()} <= names
    assert "tui/studio/app.tcss" in names
    modules = {
        str(path.relative_to(ROOT))
        for package in ("core", "tui")
        for path in (ROOT / package).rglob("*.py")
    }
    assert modules <= names
    # only the shipped run travels: a user's runs in checkpoints/ stay out of the wheel
    runs = {name.split("/")[3] for name in names if name.startswith("tui/shipped/checkpoints/")}
    assert runs == {"shakespeare-char"}
