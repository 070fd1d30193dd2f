"""`minigpt sample` and `minigpt chat`: generation from a checkpoint in the terminal."""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

from core import GenerationSession, UserError, set_threads, unescape_prompt
from tui.cli.args import UsageError, sampling_from_args
from tui.paths import default_checkpoint


def resolve_checkpoint(path: str | None) -> tuple[Path, str]:
    """--checkpoint, else the default, with why it was chosen."""
    if path:
        return Path(path), "named with --checkpoint"
    choice = default_checkpoint()
    if choice.path is None:
        raise UsageError(
            f"{choice.reason}; make one with 'minigpt train' or name one with --checkpoint DIR"
        )
    return choice.path, f"{choice.reason} (--checkpoint DIR picks another)"


def open_session(args: argparse.Namespace, use_cache: bool = True):
    """The session over the checkpoint asked for (or the default one)."""
    set_threads(args.threads)
    folder, why = resolve_checkpoint(args.checkpoint)
    session = GenerationSession.from_checkpoint(
        folder,
        sampling_from_args(args),
        args.device,
        seed=args.seed,
        use_cache=use_cache,
        weights=args.weights,
    )
    session.folder, session.why = folder, why
    return session


def _say_checkpoint(session) -> None:
    print(
        f"checkpoint {session.folder} (step {session.checkpoint_step}): {session.why}; "
        f"{weights_summary(session)}",
        file=sys.stderr,
    )


def weights_summary(session) -> str:
    """Which format the decode step reads its weights in, and for `auto` what was measured."""
    if not session.weight_timings:
        return f"decoding with {session.weights} weights"
    measured = ", ".join(
        f"{t.weights} {t.step_ms:.2f} ms {t.bpc_cost:+.4f} bpc" for t in session.weight_timings
    )
    return f"decoding with {session.weights} weights (measured per token: {measured})"


def cmd_sample(args: argparse.Namespace) -> int:
    session = open_session(args, use_cache=not args.no_cache)
    out = sys.stdout
    stream = session.stream(unescape_prompt(args.prompt), args.max_new_tokens)
    first = next(stream)  # the prefill runs here, so a bad prompt fails before any output
    _say_checkpoint(session)
    out.write(session.tokenizer.decode(session.ids[: session.prompt_length]))
    # only the report lines are kept (and only when asked for): memory stays flat otherwise
    report: list[str] = []
    for step in itertools.chain([first], stream):
        out.write(step.text)
        out.flush()
        if args.show_probs:
            shown = "  ".join(f"{c.text!r} {c.prob:.3f}" for c in step.candidates[:5])
            report.append(f"{step.token!r:>8} p={step.prob:.3f} H={step.entropy:.2f}b | {shown}")
    out.write("\n")
    out.flush()
    for line in report:
        print(line, file=sys.stderr)
    return 0


CHAT_HELP = "/temp T  /topk K  /topp P  /reset  /quit   (Ctrl+C stops a reply)"


def cmd_chat(args: argparse.Namespace) -> int:
    session = open_session(args)
    _say_checkpoint(session)
    print(f"chatting with {session.checkpoint_step or 0}-step model. {CHAT_HELP}")
    while True:
        try:
            line = input("> ")
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if line.startswith("/"):
            if not _chat_command(session, line):
                return 0
            continue
        started, count, stopped = time.perf_counter(), 0, False
        try:
            for step in session.reply(line, args.max_new_tokens):
                count += 1
                sys.stdout.write(step.text)
                sys.stdout.flush()
        except UserError as error:  # a character this vocabulary cannot spell, say
            print(f"error: {error}")
            continue
        except KeyboardInterrupt:
            print(" [stopped]")
            stopped = True
        if count and not stopped and not session.last_reply_complete:
            print(" [cut at --max-new-tokens]")
        elapsed = time.perf_counter() - started
        print(
            f"\n[{count} tokens, {count / max(elapsed, 1e-9):.0f} tok/s, "
            f"cache {session.cache_length}/{session.model.config.block_size}]"
        )


def _chat_command(session, line: str) -> bool:
    name, _, value = line.partition(" ")
    settings = {
        "/temp": ("temperature", float, "a number"),
        "/topk": ("top_k", int, "a whole number"),
        "/topp": ("top_p", float, "a number"),
    }
    if name == "/quit":
        return False
    if name == "/reset":
        session.reset()
        print("[conversation reset]")
    elif name in settings:
        field, cast, kind = settings[name]
        try:
            number = cast(value)
        except ValueError:
            print(f"error: {name} needs {kind}, got {value!r}")
            return True
        try:
            session.set_sampling(**{field: number})
            print(f"[{field} = {getattr(session.sampling, field)}]")
        except UserError as error:
            print(f"error: {error}")
    else:
        print(f"unknown command {name}; {CHAT_HELP}")
    return True
