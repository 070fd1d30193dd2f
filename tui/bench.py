"""`minigpt bench`: training, generation and studio measurements (being built)."""

from __future__ import annotations

import argparse


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=["train", "generate", "studio"])


def run_bench(args: argparse.Namespace) -> int:
    raise ValueError("minigpt bench is not available yet")
