"""`minigpt inspect attention|probe|tape|size` (and the views of `inspect_deep`): the studio's
X-ray computations, scriptable."""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict

from rich.console import Console
from rich.table import Table

from core import (
    attention_stages,
    build_tokenizer,
    load_corpus,
    load_model,
    perturbation_probe,
    prediction_tape,
    size_model,
    token_lens,
)
from tui.cli.args import config_from_args
from tui.cli.generate import resolve_checkpoint
from tui.cli.inspect_deep import deep_report, print_deep
from tui.paths import default_corpus

DEEP_VIEWS = ("qkv", "knockout", "lens", "embeddings")


def cmd_inspect(args: argparse.Namespace) -> int:
    if args.view == "size":
        report = _size(args)
    else:
        folder, why = resolve_checkpoint(args.checkpoint)
        model, checkpoint = load_model(folder)
        print(f"checkpoint {folder} (step {checkpoint.step}): {why}", file=sys.stderr)
        tokenizer = checkpoint.tokenizer
        if args.view in DEEP_VIEWS:
            report = deep_report(args, model, tokenizer)
        elif args.view == "attention":
            fill = float("-inf") if args.mask_fill == "-inf" else 0.0
            stages = attention_stages(
                model, tokenizer, args.text, args.layer, args.head, not args.no_scale, fill
            )
            report = asdict(stages)
            report["masked"] = [[_finite(v) for v in row] for row in report["masked"]]
        elif args.view == "probe":
            report = asdict(perturbation_probe(model, tokenizer, args.text, args.position))
        else:
            report = asdict(prediction_tape(model, tokenizer, args.text))
    if args.json:
        json.dump(report, sys.stdout)
        sys.stdout.write("\n")
    elif args.view in DEEP_VIEWS:
        print_deep(args.view, report)
    else:
        _print(args.view, report, scaled=not getattr(args, "no_scale", False))
    return 0


def _finite(value: float) -> float | None:
    """JSON has no -inf: a masked entry is null."""
    return value if math.isfinite(value) else None


def _size(args: argparse.Namespace) -> dict:
    config = config_from_args(args)
    text = load_corpus(args.data or default_corpus())
    char = build_tokenizer("char", text)
    report = asdict(size_model(config, char.vocab_size))
    report["config"] = asdict(config)
    if args.text:
        tokenizers = {"char": char, "bpe": build_tokenizer("bpe", text, config.bpe_vocab_size)}
        report["tokens"] = [asdict(v) for v in token_lens(args.text, tokenizers, config.block_size)]
    return report


CELL = 5  # a weight in % ("100") and a space either side


def _attention_table(report: dict, width: int, scaled: bool) -> Table:
    """The weights as a query x key table of at most `width` columns: when the text is longer,
    the last queries and keys that fit, and each row's weight on the keys left out in one
    column, so every row still sums to 100."""
    tokens = [repr(token)[1:-1] for token in report["tokens"]]
    count = len(tokens)
    label = max(len(token) for token in tokens) + 1
    fits = max(1, (width - (label + 2) - (7 + 2) - (4 + 2)) // CELL)  # label, earlier, bits
    first = max(0, count - fits)  # the first query and key shown
    spread = "scaled scores" if scaled else "unscaled scores (--no-scale)"
    title = (
        f"softmax weights in % (rows: queries; '.' is exactly 0; {spread}' spread "
        f"{report['spread']:.2f} logits; entropy in bits)"
    )
    if first:
        title += (
            f"\nshowing queries and keys {first}..{count - 1} of {count} to fit {width} "
            f"columns; 'earlier' sums each row's weight on keys 0..{first - 1}; --json for all"
        )
    table = Table(title=title, box=None, padding=(0, 1), title_justify="left")
    table.add_column("")
    if first:
        table.add_column("earlier", justify="right")
    for token in tokens[first:]:
        table.add_column(token, justify="right", min_width=CELL - 2)
    table.add_column("bits", justify="right")
    for i in range(first, count):
        row, bits = report["weights"][i], report["entropy"][i]
        cells = ["." if w == 0 else f"{100 * w:.0f}" for w in row[first:]]
        if first:
            cells.insert(0, f"{100 * sum(row[:first]):.0f}")
        table.add_row(tokens[i], *cells, f"{bits:.2f}")
    return table


def _print(view: str, report: dict, scaled: bool = True) -> None:
    console = Console()
    if view == "attention":
        console.print(_attention_table(report, console.width, scaled), highlight=False)
        if report["cropped"]:
            console.print(f"(the first {report['cropped']} tokens were cropped to fit the block)")
    elif view == "probe":
        table = Table(
            title=f"changed position {report['position']} to {report['replacement']!r}: "
            "the largest change of each position's vector"
        )
        columns = ("position", "token", "attention out", "FFN alone out", "logits")
        for column in columns:
            table.add_column(column, justify="right")
        rows = zip(
            report["tokens"],
            report["attention_change"],
            report["ffn_change"],
            report["max_change"],
            strict=True,
        )
        for i, (token, attended, ffn, whole) in enumerate(rows):
            table.add_row(str(i), repr(token), f"{attended:.3g}", f"{ffn:.3g}", f"{whole:.3g}")
        console.print(table)
    elif view == "tape":
        table = Table(title=f"prediction tape: mean loss {report['mean_loss']:.4f}")
        for column in ("input", "target", "p(target)", "top guess", "-log p (nats)"):
            table.add_column(column, justify="right")
        rows = zip(
            report["inputs"],
            report["targets"],
            report["target_probs"],
            report["guesses"],
            report["losses"],
            strict=True,
        )
        for token, target, prob, guess, loss in rows:
            table.add_row(repr(token), repr(target), f"{prob:.3f}", repr(guess), f"{loss:.3f}")
        console.print(table)
    else:
        table = Table(title="sizing")
        table.add_column("part")
        table.add_column("parameters", justify="right")
        for part, count in report["parts"]:
            table.add_row(part, f"{count:,}")
        console.print(table)
        activations = report["activations_mb"]
        ms = report["ms_per_step"]
        console.print(
            f"weights {report['weights_mb']:.1f} MiB, gradients {report['gradients_mb']:.1f} "
            f"MiB, optimizer {report['optimizer_mb']:.1f} MiB, activations per batch "
            f"{'-' if activations is None else f'{activations:.1f}'} MiB, KV cache "
            f"{report['kv_cache_bytes_per_token']:,} bytes per token, "
            f"{report['flops_per_token']:,} FLOPs per token, "
            f"{'-' if ms is None else f'{ms:.1f}'} ms per untrained step"
        )
        for view_of_text in report.get("tokens", []):
            console.print(
                f"{view_of_text['kind']}: {len(view_of_text['tokens'])} tokens, "
                f"{view_of_text['characters_per_token']:.2f} characters per token, a block "
                f"holds {view_of_text['block_characters']:.0f} characters: "
                + "|".join(view_of_text["tokens"]),
                highlight=False,
            )
