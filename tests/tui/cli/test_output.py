"""What the CLI prints for people: samples as text, a steady tokens/s figure."""

from __future__ import annotations

import io

from rich.console import Console

from tui.cli.experiment import _sample_text
from tui.cli.train import SmoothedRate


def test_a_race_sample_prints_as_its_text_not_a_repr_nor_markup() -> None:
    sample = "\nROMEO:\nI [bold]will[/bold] 'go'\nnow\nand more\n"
    shown = _sample_text(sample)
    out = io.StringIO()
    Console(file=out, width=80, color_system=None).print(shown)
    printed = out.getvalue()
    assert printed.splitlines() == ["  ROMEO:", "  I [bold]will[/bold] 'go'", "  now …"]
    assert "\\n" not in printed


def test_the_tokens_per_second_readout_is_a_debiased_average() -> None:
    rate = SmoothedRate(weight=0.9)
    assert abs(rate.update(1000.0) - 1000.0) < 1e-6  # the first value, not dragged to 0
    readings = [rate.update(value) for value in [1000.0] * 20 + [10.0]]
    assert 850 < readings[-1] < 1000  # one slow step moves it a little, not to 10
