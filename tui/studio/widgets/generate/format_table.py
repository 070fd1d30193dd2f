"""The cache race's second part: the same greedy text decoded with the weights read as fp32, bf16
and int8 (core's format race), as a table and a caption the numbers on it support."""

from __future__ import annotations

from rich.text import Text

from core import MAX_BPC_COST, FormatRaceResult

SPEEDUP = 1.1  # a format counts as faster from 10 % on: less is within a race's noise
OVERHEAD_BOUND = 2.0  # a step this many times its streaming floor is bound by other work


def format_table(result: FormatRaceResult) -> Text:
    """One row per format, then what the rows show."""
    text = Text("weights in fewer bytes", style="bold")
    text.append(
        f": the same {result.tokens} greedy tokens with each format's matrices "
        f"(memory reads at {result.read_gbs:.1f} GB/s)\n",
        style="dim",
    )
    text.append(
        f"{'format':<7}{'MB/token':>9}{'ms/token':>10}{'floor ms':>10}{'bpc cost':>10}  "
        "greedy text\n",
        style="bold",
    )
    for lane in result.lanes:
        if lane.weights == "fp32":
            agreement = "the reference"
        elif lane.first_difference is None:
            agreement = f"same {result.tokens} tokens"
        else:
            agreement = f"differs from position {lane.first_difference}"
        style = "bold" if lane.weights == result.chosen else ""
        text.append(f"{lane.weights:<7}", style=style)
        text.append(
            f"{lane.bytes_per_token / 1e6:>9.2f}{lane.ms_per_token:>10.2f}"
            f"{lane.floor_ms:>10.3f}{lane.bpc_cost:>+10.4f}  "
        )
        text.append(agreement + "\n", style="green" if "same" in agreement else "dim")
    text.append(caption(result) + "\n", style="dim")
    return text


def caption(result: FormatRaceResult) -> str:
    """What the table shows, said only where its numbers show it."""
    fp32 = result.lane("fp32")
    if fp32 is None:
        return ""
    chosen = f"--weights auto takes {result.chosen}: the fastest within {MAX_BPC_COST} bpc."
    faster = [
        lane
        for lane in result.lanes
        if lane.weights != "fp32"
        and lane.ms_per_token * SPEEDUP <= fp32.ms_per_token
        and lane.bpc_cost <= MAX_BPC_COST
    ]
    if faster:
        best = min(faster, key=lambda lane: lane.ms_per_token)
        return (
            f"{best.weights} reads {fp32.bytes_per_token / best.bytes_per_token:.1f}x fewer "
            f"bytes and decodes {fp32.ms_per_token / best.ms_per_token:.1f}x faster: each "
            "token reads every weight once, so fewer bytes per weight is a faster step, "
            f"for {best.bpc_cost:+.4f} bits per character. {chosen}"
        )
    over = fp32.ms_per_token / fp32.floor_ms if fp32.floor_ms else 0.0
    if over >= OVERHEAD_BOUND:
        return (
            f"No format is faster here: fp32's step takes {over:.0f}x the time its bytes need "
            "at this machine's read bandwidth, so it waits on per-operation work, not on "
            "memory, and fewer bytes cannot help at this size (a larger model reads more: "
            f"minigpt bench generate --preset seed). {chosen}"
        )
    return (
        "No format is faster here: the conversions each step makes cost what the bytes "
        f"saved would have. {chosen}"
    )
