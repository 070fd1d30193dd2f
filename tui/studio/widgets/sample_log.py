"""The Train screen's log: a sample of text at each evaluation, and the run's milestones."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from core import StepMetrics

HINT = (
    "Press t to train. Every evaluation writes a sample from the same prompt and seed here, "
    "so you can watch the text improve."
)


class SampleLog(RichLog):
    """Samples from the same prompt and seed at each evaluation, between the run's notes."""

    def __init__(self, id: str = "samples") -> None:
        super().__init__(id=id, wrap=True, markup=False, max_lines=400, min_width=20)
        self.hinted = False  # the log holds only the hint, which goes once a run writes here

    def on_mount(self) -> None:
        self.border_title = "samples at each evaluation (same prompt and seed)"

    def hint(self, text: str = HINT) -> None:
        """A dim line, written once the log has a width so that it wraps instead of being cut."""
        self.hinted = True
        self.call_after_refresh(self._write_hint, Text(text, style="dim"))

    def _write_hint(self, text: Text) -> None:
        if self.hinted:
            self.write(text)

    def write_run(self, text: Text) -> None:
        """A line of a run: the hint on how to start one has done its job."""
        if self.hinted:
            self.hinted = False
            self.clear()
        self.write(text)

    def note(self, text: str, style: str = "dim") -> None:
        self.write_run(Text(text, style=style))

    def sample(self, metrics: StepMetrics) -> None:
        """A rule naming the step and validation loss, then the sample, cut to what fits under
        it: the newest sample and its label are always on screen together."""
        width = max(20, self.scrollable_content_region.width or self.app.size.width - 4)
        rows = max(1, self.scrollable_content_region.height - 1)
        label = Text(f"── step {metrics.step} · val loss {metrics.val_loss:.3f} ", style="bold")
        label.append("─" * max(0, width - label.cell_len), style="dim")
        self.write_run(label)
        if not metrics.sample:
            return
        body = Text()
        for number, line in enumerate(metrics.sample.strip("\n").split("\n")):
            if number:
                body.append("↵", style="dim")  # newlines kept visible, in a fraction of the rows
            body.append(line)
        lines = body.wrap(self.app.console, width)
        if len(lines) > rows:  # wrapping drops the spaces it breaks at: this many always fit
            body = body[: sum(line.cell_len for line in lines[:rows]) - 1]
            body.append("…", style="dim")
        self.write(body)
