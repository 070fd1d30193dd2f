"""`minigpt inspect qkv|knockout|lens|embeddings`: inside a head, heads knocked out, the logit
lens and the embedding lens, as tables or JSON."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from rich.console import Console
from rich.table import Table

from core import (
    UserError,
    embedding_lens,
    head_ranking,
    inside_head,
    knockout,
    logit_lens,
)


def parse_heads(value: str) -> list[tuple[int, int]]:
    """`1.0,0.2` -> [(1, 0), (0, 2)]: layer.head pairs, both counted from 0."""
    heads = []
    for part in value.split(","):
        layer, dot, head = part.strip().partition(".")
        if not (dot and layer.isdigit() and head.isdigit()):
            raise UserError(f"--heads takes layer.head pairs such as 0.1,1.0; got {part!r}")
        heads.append((int(layer), int(head)))
    return heads


def deep_report(args: argparse.Namespace, model, tokenizer) -> dict:
    """The view's numbers as plain JSON-ready values."""
    if args.view == "qkv":
        return asdict(inside_head(model, tokenizer, args.text, args.layer, args.head, args.query))
    if args.view == "knockout":
        heads = parse_heads(args.heads) if args.heads else []  # a typo fails before the work
        report: dict = {"ranking": [list(row) for row in head_ranking(model, tokenizer, args.text)]}
        if heads:
            result = knockout(model, tokenizer, args.text, heads)
            report["knockout"] = {**asdict(result), "mean_change": result.mean_change}
        return report
    if args.view == "lens":
        return asdict(logit_lens(model, tokenizer, args.text))
    return asdict(embedding_lens(model, tokenizer, args.token, args.count, args.positions))


def _vector(values: list[float], limit: int = 8) -> str:
    shown = " ".join(f"{v:+.2f}" for v in values[:limit])
    return shown + (f" … ({len(values)})" if len(values) > limit else "")


def print_deep(view: str, report: dict) -> None:
    console = Console()
    if view == "qkv":
        query, size = report["query"], report["head_dim"]
        console.print(
            f"layer {report['layer']} head {report['head']}, query {query} "
            f"{report['tokens'][query]!r}: Q [{size}] {_vector(report['q'])}",
            highlight=False,
        )
        table = Table(title=f"keys and values of positions 0..{query}, weights summing to 1")
        for column in ("pos", "token", f"K [{size}]", f"V [{size}]", "weight"):
            table.add_column(column, justify="right")
        rows = zip(report["keys"], report["values"], report["weights"], strict=True)
        for i, (key, value, weight) in enumerate(rows):
            token = repr(report["tokens"][i])
            table.add_row(str(i), token, _vector(key, 4), _vector(value, 4), f"{weight:.3f}")
        console.print(table)
        width = report["width"]
        console.print(
            f"arrived = weights @ V [{size}]: {_vector(report['arrived'])}\n"
            f"{len(report['heads'])} heads concatenated [{width}]: "
            f"{_vector(report['concatenated'])}\n"
            f"output projection [{width}, {width}] -> [{width}]: {_vector(report['projected'])}",
            highlight=False,
        )
    elif view == "knockout":
        table = Table(title="loss rise (nats) without each head")
        for column in ("layer.head", "loss rise"):
            table.add_column(column, justify="right")
        for layer, head, rise in report["ranking"]:
            table.add_row(f"{layer}.{head}", f"{rise:+.4f}")
        console.print(table)
        result = report.get("knockout")
        if result:
            heads = ", ".join(f"{layer}.{head}" for layer, head in result["heads"])
            table = Table(
                title=f"without {heads}: mean -log p {result['mean_loss']:.4f} -> "
                f"{result['knocked_mean']:.4f} ({result['mean_change']:+.4f})"
            )
            for column in ("target", "-log p", "without", "change"):
                table.add_column(column, justify="right")
            rows = zip(result["targets"], result["losses"], result["knocked"], strict=True)
            for target, loss, knocked in rows:
                table.add_row(
                    repr(target), f"{loss:.3f}", f"{knocked:.3f}", f"{knocked - loss:+.3f}"
                )
            console.print(table)
    elif view == "lens":
        table = Table(title="logit lens: the stream decoded at each depth (top guess, p(target))")
        table.add_column("target", justify="right")
        for layer in report["layers"]:
            table.add_column(f"{layer['name']} ({layer['mean_loss']:.2f})", justify="right")
        for i, target in enumerate(report["targets"]):
            cells = [
                f"{layer['guesses'][i]!r} {layer['target_probs'][i]:.2f}"
                for layer in report["layers"]
            ]
            table.add_row(repr(target), *cells)
        console.print(table, highlight=False)
        for added in report["added"]:
            ffn = "-" if added["ffn"] is None else f"{added['ffn']:.3f}"
            console.print(
                f"block {added['block']}: stream {added['stream']:.3f}, attention added "
                f"{added['attention']:.3f}, feed-forward added {ffn} (mean L2 norms)"
            )
    else:
        neighbours = ", ".join(f"{t!r} {v:+.2f}" for t, v in report["neighbours"])
        farthest = ", ".join(f"{t!r} {v:+.2f}" for t, v in report["farthest"])
        console.print(
            f"{report['token']!r}: nearest {neighbours}\nfarthest {farthest}", highlight=False
        )
        positions = report["positions"]
        if not positions:
            console.print("no position table (this model sees a bag of tokens)")
            return
        table = Table(title="position embeddings: cosine similarity of rows i and j (x100)")
        table.add_column("")
        for j in range(len(positions)):
            table.add_column(str(j), justify="right")
        for i, row in enumerate(positions):
            table.add_row(str(i), *(f"{100 * v:.0f}" for v in row))
        console.print(table)
