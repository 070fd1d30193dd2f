"""How numbers, durations and tokens read on the studio's screens."""

from __future__ import annotations

import math
from pathlib import Path

from core import SamplingConfig


def visible_token(text: str) -> str:
    """A token as it should appear in a list: whitespace made visible."""
    return (
        text.replace(" ", "␠")
        .replace("\n", "↵")
        .replace("\t", "⇥")
        .replace("\r", "␍")
        .replace("\x00", "␀")
    ) or "∅"


def format_count(value: float) -> str:
    """1834560 -> 1.83M, 12000 -> 12k."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return (
                f"{value / limit:.3g}{suffix}"
                if value / limit < 100
                else f"{value / limit:.0f}{suffix}"
            )
    return f"{value:.0f}"


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def token_kind(tokenizer: str) -> str:
    """What one token of this tokenizer kind ("char" or "bpe") is, in words."""
    return "character" if tokenizer == "char" else "BPE token"


def format_path(path: str | Path) -> str:
    """A folder as a user would type it from here: relative to the working folder when inside
    it, else with ~ for the home folder."""
    path = Path(path).absolute()
    for base, prefix in ((Path.cwd(), ""), (Path.home(), "~/")):
        if path.is_relative_to(base):
            relative = str(path.relative_to(base))
            return prefix + relative if relative != "." else prefix.rstrip("/") or "."
    return str(path)


def form_advice(message: str) -> str:
    """A core error's advice as the studio's form takes it: the corpus field, not --data."""
    return message.replace("pass --data with", "set the corpus field to")


def format_setting(value: float) -> str:
    """A sampling setting as it would be typed: 0.8, 1.25, 1e-05 (4 significant digits)."""
    return f"{value:.4g}"


def compact_label(label: str, cells: int = 20) -> str:
    """Which weights, for a narrow line: without "checkpoint ", cut with … past `cells`."""
    short = label.removeprefix("checkpoint ")
    return short if len(short) <= cells else short[: cells - 1] + "…"


def sampling_settings(
    sampling: SamplingConfig, seed: int, keys: dict[str, str] | None = None
) -> tuple[str, str]:
    """Every sampling setting in effect, long (with the keys that change each, when given) and
    short."""
    keys = keys or {}
    t, p, m, r = (
        format_setting(value)
        for value in (
            sampling.temperature,
            sampling.top_p,
            sampling.min_p,
            sampling.repetition_penalty,
        )
    )
    k = sampling.top_k or "off"

    def key(name: str) -> str:
        return f" ({keys[name]})" if name in keys else ""

    long = (
        f"temperature {t}{key('temperature')} · top-k {k}{key('top_k')} · top-p {p}{key('top_p')}"
        f" · min-p {m} · repetition penalty {r} · seed {seed}{key('form')}"
    )
    return long, f"T {t} · k {k} · p {p} · min-p {m} · rep {r} · seed {seed}"
