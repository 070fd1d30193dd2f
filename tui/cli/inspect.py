"""`minigpt inspect attention|probe|tape|size`: the studio's X-ray computations, scriptable."""

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
from tui.cli.args import add_model_flags, config_from_args, non_negative_int
from tui.cli.generate import resolve_checkpoint
from tui.paths import default_corpus

DEFAULT_TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?"


def add_inspect_parser(sub) -> None:
    parser = sub.add_parser(
        "inspect",
        help="attention, perturbation probe, prediction tape and sizing, as tables or JSON",
        description="What the studio's X-ray views compute, for scripts: every command reads "
        "the real model through forward hooks.",
    )
    views = parser.add_subparsers(dest="view", required=True, metavar="{attention,probe,tape,size}")

    def with_checkpoint(name: str, help_text: str) -> argparse.ArgumentParser:
        view = views.add_parser(name, help=help_text)
        view.add_argument("--checkpoint", help="checkpoint folder (default: the newest)")
        view.add_argument("--text", default=DEFAULT_TEXT, help="the text to look at")
        view.add_argument("--json", action="store_true", help="print JSON")
        return view

    attention = with_checkpoint("attention", "one head's scores, scaled, masked and softmax-ed")
    attention.add_argument("--layer", type=non_negative_int, default=0)
    attention.add_argument("--head", type=non_negative_int, default=0)
    attention.add_argument("--no-scale", action="store_true", help="skip 1/sqrt(head_dim)")
    attention.add_argument(
        "--mask-fill",
        choices=["-inf", "0"],
        default="-inf",
        help="what the future's scores become before softmax (0: the leak)",
    )
    probe = with_checkpoint("probe", "change one token; see which positions move")
    probe.add_argument("--position", type=non_negative_int, required=True)
    with_checkpoint("tape", "each position's prediction of the next token, and its loss")
    size = views.add_parser("size", help="parameters, memory, FLOPs and time of a model shape")
    add_model_flags(size)
    size.add_argument("--text", help="also show this text's tokens under char and BPE")
    size.add_argument("--data", help="corpus the tokenizers are fitted to (default: shipped)")
    size.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=cmd_inspect)


def cmd_inspect(args: argparse.Namespace) -> int:
    if args.view == "size":
        report = _size(args)
    else:
        model, checkpoint = load_model(resolve_checkpoint(args.checkpoint))
        tokenizer = checkpoint.tokenizer
        if args.view == "attention":
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
    else:
        _print(args.view, report)
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


def _print(view: str, report: dict) -> None:
    console = Console()
    if view == "attention":
        tokens = [repr(token)[1:-1] for token in report["tokens"]]
        table = Table(
            title=f"softmax weights in % (rows: queries; '.' is exactly 0; scaled scores' "
            f"spread {report['spread']:.2f})",
            box=None,
            padding=(0, 1),
            title_justify="left",
        )
        table.add_column("")
        for token in tokens:
            table.add_column(token, justify="right")
        table.add_column("bits", justify="right")
        for token, row, bits in zip(tokens, report["weights"], report["entropy"], strict=True):
            cells = ("." if w == 0 else f"{100 * w:.0f}" for w in row)
            table.add_row(token, *cells, f"{bits:.2f}")
        console.print(table)
        if report["cropped"]:
            console.print(f"(the first {report['cropped']} tokens were cropped to fit the block)")
    elif view == "probe":
        table = Table(title=f"changed position {report['position']} to {report['replacement']!r}")
        for column in ("position", "token", "attention", "FFN alone", "whole model"):
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
        for column in ("input", "target", "p(target)", "top guess", "-log p"):
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
