"""Two runs' settings side by side, only those that differ: every Config field, the tokenizer's
vocabulary, the corpus (file, length, fingerprint), the processes and the steps done."""

from __future__ import annotations

from dataclasses import dataclass, fields

from core.checkpoint.manifest import check_manifest, read_manifest
from core.config import Config
from core.errors import UserError
from core.runs import RunSummary


@dataclass(frozen=True)
class SettingDiff:
    """One setting that differs between two runs, as each shows it."""

    name: str
    left: str
    right: str


def _shown(value: object) -> str:
    if isinstance(value, float):
        return repr(value)  # every digit: two values never read the same
    return "default" if value is None else str(value)


def _recorded(summary: RunSummary) -> dict[str, str]:
    """What a run's manifest records besides its config (a race records none of it)."""
    if summary.kind != "run":
        return {}
    try:
        extra = check_manifest(read_manifest(summary.path), summary.path, False).extra
    except UserError:
        return {}
    corpus = extra.get("corpus") if isinstance(extra.get("corpus"), dict) else {}
    shown = {
        "corpus file": extra.get("corpus_name"),
        "corpus characters": corpus.get("characters"),
        "corpus sha256": corpus.get("sha256"),
        "processes": extra.get("world_size", 1),
    }
    return {name: str(value) for name, value in shown.items() if value is not None}


def settings(summary: RunSummary) -> dict[str, str]:
    """A run's settings by name, each as text; UserError when its checkpoint is unreadable."""
    config = summary.config
    if config is None:
        raise UserError(
            f"{summary.name} has no readable checkpoint ({summary.problem}); its settings are "
            "unknown"
        )
    shown = {item.name: _shown(getattr(config, item.name)) for item in fields(Config)}
    if config.ffn_dim is None:
        shown["ffn_dim"] = f"{config.hidden_dim} (4 x embedding_dim)"
    shown["vocab_size"] = str(summary.vocab_size) if summary.vocab_size else "-"
    shown |= _recorded(summary)
    shown["steps done"] = str(summary.step)
    return shown


def settings_diff(left: RunSummary, right: RunSummary) -> list[SettingDiff]:
    """The settings in which two runs differ, in Config's order; "-" where one has none."""
    ours, theirs = settings(left), settings(right)
    names = list(ours) + [name for name in theirs if name not in ours]
    return [
        SettingDiff(name, ours.get(name, "-"), theirs.get(name, "-"))
        for name in names
        if ours.get(name, "-") != theirs.get(name, "-")
    ]
