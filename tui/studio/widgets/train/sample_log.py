"""The Train screen's log: a sample of text at each evaluation, and the run's milestones."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from core import StepMetrics

MAX_ENTRIES = 200  # lines and samples kept, and written again when the log is resized
HINT = (
    "Press t to train. Every evaluation writes a sample from the same prompt and seed here, "
    "so you can watch the text improve."
)


class SampleLog(RichLog):
    """Samples from the same prompt and seed at each evaluation, between the run's notes.

    The log keeps what it was told and writes it again at each new size: a RichLog renders a
    line once, at the width it had then, and would cut it when the form takes back its room.
    """

    def __init__(self, id: str = "samples") -> None:
        super().__init__(id=id, wrap=True, markup=False, max_lines=400, min_width=20)
        self.entries: list[Text | StepMetrics] = []  # notes, and the evaluations' samples
        self.hinted = False  # the log holds only the hint, which goes once a run writes here
        self._written_for = (0, 0)  # the size the entries were last written at

    def on_mount(self) -> None:
        self.border_title = "samples at each evaluation (same prompt and seed)"

    def hint(self, text: str = HINT) -> None:
        """A dim line on how to start, until the first line of a run."""
        self.hinted = True
        self._add(Text(text, style="dim"))

    def note(self, text: str, style: str = "dim") -> None:
        self._add_to_run(Text(text, style=style))

    def sample(self, metrics: StepMetrics) -> None:
        """A rule naming the step and validation loss, then the sample."""
        self._add_to_run(metrics)

    def _add_to_run(self, entry: Text | StepMetrics) -> None:
        if self.hinted:
            self.hinted, self.entries = False, []
            self.clear()
        self._add(entry)

    def _add(self, entry: Text | StepMetrics) -> None:
        self.entries = [*self.entries, entry][-MAX_ENTRIES:]
        if self._written_for == self._region_size():
            self._write(entry)  # else written with the others once the log has its size

    def _region_size(self) -> tuple[int, int]:
        region = self.scrollable_content_region
        return region.width, region.height

    def on_resize(self) -> None:
        if self._region_size() != self._written_for and self._region_size()[0] > 0:
            self._written_for = self._region_size()
            self.clear()
            for entry in self.entries:
                self._write(entry)

    def _write(self, entry: Text | StepMetrics) -> None:
        if isinstance(entry, Text):
            self.write(entry)
        else:
            self._write_sample(entry)

    def _write_sample(self, metrics: StepMetrics) -> None:
        """The sample cut to what fits under its rule, with a row to spare for a note: the
        newest sample and its label are on screen together."""
        width, height = self._region_size()
        rows = max(1, height - 2)
        label = Text(f"── step {metrics.step} · val loss {metrics.val_loss:.3f} ", style="bold")
        if metrics.checkpoint:
            label.append("· saved ", style="green")
        label.append("─" * max(0, width - label.cell_len), style="dim")
        self.write(label)
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
