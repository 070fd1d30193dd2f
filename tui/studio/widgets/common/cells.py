"""How the X-ray views write values into cells: numbers, attention shades and their legend, and
the one-line text fields where a typed \\n stands for a newline."""

from __future__ import annotations

import math
import textwrap

from rich.text import Text

from tui.studio.formatting import visible_token

ZERO = "·"  # exactly 0.0, never a small weight rounded down
SHADES = "░▒▓█"  # a weight above 0, by the square root of its size
SHADE_LIMITS = tuple(((i + 1) / len(SHADES)) ** 2 for i in range(len(SHADES) - 1))


def heat_color(weight: float) -> str:
    """Dark for no attention, through blue to bright yellow for all of it."""
    level = min(1.0, max(0.0, weight)) ** 0.5  # spreads out the many small weights
    red = int(25 + 230 * level)
    green = int(25 + 200 * level)
    blue = int(60 + 120 * (1 - abs(2 * level - 1)))
    return f"rgb({red},{green},{blue})"


def shade(weight: float) -> str:
    """One cell of a weight: the zero mark only for an exact 0, else a shade by size."""
    if weight == 0:
        return ZERO
    return SHADES[sum(weight >= limit for limit in SHADE_LIMITS)]


def shade_cell(weight: float, width: int = 1) -> Text:
    """A shaded cell, `width` characters wide, coloured by the weight (dim for exactly 0)."""
    mark = shade(weight)
    return Text(mark * width, style="dim" if weight == 0 else heat_color(weight))


def shade_legend() -> Text:
    """What each shade means, the exact-zero mark first."""
    text = Text("shades: ", style="dim")
    text.append(f"{ZERO} exactly 0", style="bold")
    bounds = (0.0, *SHADE_LIMITS, 1.0)
    for index, mark in enumerate(SHADES):
        low, high = bounds[index], bounds[index + 1]
        text.append("  ")
        text.append(mark, style=heat_color((low + high) / 2 or 1e-3))
        shown = f"> 0 and < {high:.0%}" if index == 0 else f"{low:.0%}–{high:.0%}"
        text.append(f" {shown}", style="dim")
    return text


def score(value: float) -> str:
    """A score (q . k, scaled or masked): -inf as such, else about four significant digits."""
    if math.isinf(value):
        return "-inf" if value < 0 else "inf"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def weight(value: float) -> str:
    """A probability: an exact 0 reads 0, a tiny one <.001, never rounded to look like 0."""
    if value == 0:
        return "0"
    if value < 0.001:
        return "<.001"
    return f"{value:.3f}"


def change(value: float) -> str:
    """How far something moved: exactly 0 reads 0."""
    return "0" if value == 0 else f"{value:.3g}"


def token_label(token: str, width: int) -> str:
    """A token made visible and cut to a cell, right-aligned."""
    return visible_token(token)[:width].rjust(width)


def text_from_input(value: str) -> str:
    r"""A one-line field's text: a typed \n stands for a newline."""
    return value.replace("\\n", "\n")


def input_from_text(text: str) -> str:
    r"""The other way: newlines shown as \n so the text fits one line."""
    return text.replace("\n", "\\n")


CROPPED = "›"  # a line cut at the view's edge: more lies to the right


def crop(line: Text, width: int) -> Text:
    """A line cut to `width` cells, the cut marked, so nothing is silently hidden."""
    if line.cell_len <= width:
        return line
    cut = line.copy()
    cut.truncate(max(1, width - 1))
    cut.append(CROPPED, style="bold magenta")
    return cut


def crop_lines(text: Text, width: int) -> Text:
    """Every line of a block cut to `width`, each cut marked."""
    return Text("\n").join(crop(line, width) for line in text.split("\n", allow_blank=True))


def signed_color(value: float, scale: float) -> str:
    """Blue for negative, red for positive, brighter the larger |value| is against `scale`."""
    level = min(1.0, abs(value) / scale) ** 0.5 if scale > 0 else 0.0
    base, top = 35, int(35 + 220 * level)
    if value < 0:
        return f"rgb({base},{int(base + 120 * level)},{top})"
    return f"rgb({top},{int(base + 60 * level)},{base})"


def signed_strip(values: list[float], scale: float | None = None, limit: int = 0) -> Text:
    """A vector as a strip of coloured cells, one per number (blue < 0 < red); `limit` cells
    at most, the cut marked."""
    scale = scale if scale is not None else max((abs(v) for v in values), default=0.0)
    shown = values[:limit] if 0 < limit < len(values) else values
    text = Text()
    for value in shown:
        text.append("█" if value else "·", style=signed_color(value, scale))
    if len(shown) < len(values):
        text.append(CROPPED, style="bold magenta")
    return text


def signed_legend(scale: float) -> Text:
    """What the strips' colours mean at this scale."""
    text = Text("strips: one cell per number, ", style="dim")
    for value in (-scale, -scale / 4, 0.0, scale / 4, scale):
        text.append("█", style=signed_color(value, scale))
    text.append(f" from -{scale:.2g} (blue) through 0 to +{scale:.2g} (red)", style="dim")
    return text


def wrapped(words: str, width: int, style: str = "dim") -> Text:
    """A sentence folded at the view's width (prose wraps; tables are cropped)."""
    return Text(textwrap.fill(words, max(20, width)) + "\n", style=style)
