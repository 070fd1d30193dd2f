"""The Generate screen's text: the prompt and every generated token coloured by the probability
it was given, the part that slid out of the context window struck through."""

from __future__ import annotations

from rich.text import Text
from textual.selection import Selection
from textual.widgets import Static

from core import GenerationStep
from tui.studio.widgets.common.probability import probability_color

CURSORS = ("▌", "▍")  # the end of the text, stopped and running


class TokenText(Static):
    """The prompt and every generated token, coloured by the probability it was given."""

    def show(
        self, prompt: str, steps: list[GenerationStep], running: bool, outside: int = 0
    ) -> None:
        """`outside`: characters at the front that slid out of the context window, struck
        through: the model can no longer read them."""
        text = Text(prompt, style="dim")
        edge = min(outside, len(prompt))  # where the window starts, in shown characters
        left = outside - edge
        for step in steps:
            style = probability_color(step.prob)
            if step.forced:
                style += " underline"
            shown = step.text
            if left > 0:
                gone = shown[:left]
                edge += len(gone) + gone.count("\n")  # each newline shows as ↵ and a newline
                left -= len(gone)
            if "\n" in shown:
                shown = shown.replace("\n", "↵\n")
            text.append(shown, style=style)
        if edge:
            text.stylize("strike dim", 0, edge)
        self.outside_shown = text[:edge].plain  # what is struck through, as shown
        text.append(CURSORS[running], style="blink" if running else "")
        self.update(text)

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        """The selected text as generated: without the newline marks and the cursor."""
        shown = super().get_selection(selection)
        if shown is None:
            return None
        text, ending = shown
        return text.replace("↵\n", "\n").rstrip("".join(CURSORS)), ending
