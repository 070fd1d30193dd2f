"""`minigpt bench train|quality|generate|studio|race|scenarios`: measurements as a table or JSON.

JSON output (`--json`) has these keys; times are wall-clock, rates per second, memory in MiB.

Every bench: `bench` ("train", "generate" or "studio"), `schema` (1; raised when a key changes
meaning), `machine`: {`torch`, `device`, `threads` (torch intra-op threads), `cpu_count`,
`load_average` (1-minute load before the run; results under load are slower and noisier)},
`peak_memory_mb` (process RSS high-water mark; torch's allocator peak on CUDA).

`bench train`: `preset`, `config` {`block_size`, `embedding_dim`, `num_heads`, `num_layers`,
`hidden_dim`, `batch_size`, `dropout`, `tokenizer`, `vocab_size`}, `untimed_steps` (warm-up),
`steps` (timed steps per variant), `block_steps` (steps per interleaved block),
`matmul_peak_gflops` {`fp32`, `bf16`, `size`} (2048x2048 matmuls with the bench's threads; null
with --peak-seconds 0; `bf16` null on a CPU without bf16 matrix instructions), and `results`:
one entry per variant with `name`, `precision` (fp32|bf16), `precision_reason` (why: measured at
this shape, asked for, or no bf16 on this CPU), `compile`, `threads`, `parameters`,
`flops_per_token` (forward + backward),
`tokens_per_step`, `untimed_seconds` (the warm-up, compilation included), `ms_per_step_median`,
`ms_per_step_p90`, `ms_per_step_min`, `tokens_per_second` (tokens per step / median step time),
`achieved_gflops`, `flop_utilisation` (achieved / the peak of its precision; null without one).
`comparison`: null, or with --compare {`what`, `baseline`, `variant`, `speedup`}: the baseline's
median ms/step over the variant's (above 1: the variant is faster).

`bench quality`: `preset`, `config` (every field of the Config trained), `target`,
`eval_every`, `eval_tokens` (held-out tokens per curve point), `setup_seconds` (building the
session), `reached_step` / `reached_seconds` (the first curve point at or below the target;
null if never), `curve`: a list of {`step`, `seconds`, `val_loss`}; seconds are wall time since
the session was built, including the run's own evaluations and samples and excluding the
curve's. `reference`: null, or with --reference {`preset`, `precision` ("fp32"), `steps`,
`seconds` (the whole run in its own turns, setup and its evaluations included), `val_loss` (its
last evaluation)}; `reference_ratio`: reached_seconds / the reference's seconds (below 1: the
target came sooner than the reference run ended; null without both).

`bench generate`: `source` ("preset:NAME" or the checkpoint folder), `config` {`block_size`,
`embedding_dim`, `num_heads`, `num_layers`, `hidden_dim`, `vocab_size`}, `parameters`,
`new_tokens`, `prefill_ms` (one forward over a full block), `token_by_token_ms` (the same block
fed one token at a time through the KV cache), `prefill_speedup` (their ratio),
`cached_tokens_per_second` / `uncached_tokens_per_second` (whole `GenerationSession.stream`
runs, sampling and window slides included), `cache_speedup` (their ratio), `cached_step_ms` /
`uncached_step_ms` (median wall time of one step in those runs, sampling included),
`cached_forward_ms` / `uncached_forward_ms` (median forward pass per step), `latency`: a list of
{`position`, `cached_ms`, `uncached_ms`} (one token's forward with `position` tokens before it),
and `latency_spread` (slowest over fastest cached latency; 1.0 is perfectly flat),
`decode_layout` ("rows", "columns" or "numpy": the weight layout measured fastest here),
`weight_mb` (the matrices one decode step streams), `decode_ms` (one cached step at the middle
position), `streamed_gbs` (weight_mb over decode_ms), `read_gbs` (the machine's measured memory
read bandwidth), `floor_ms` (weight_mb over read_gbs), `floor_ratio` (decode_ms / floor_ms),
`products_ms` (the decode step's matrix-vector products alone, in its layout, with nothing
else: what this machine's BLAS streams), `products_ratio` (decode_ms / products_ms);
`formats`: a list of {`weights` ("fp32", "bf16", "int8"), `step_ms` (one cached decode step
reading the matrices in that format, at the middle of the window), `weight_mb`, `floor_ms` (its
own bytes over read_gbs), `quality_delta_bpc` (bits per character it adds to the validation
loss against fp32, on chunks of the corpus's validation split)}; `weights` (what
`--weights auto` takes: the fastest format within 0.01 bpc), its `quality_delta_bpc`,
`weights_step_ms` and `weights_floor_ratio` (its step over the fp32 floor).

`bench race`: `preset`, `steps` (per variant), `seconds` (wall time from the start of the race
to its results: setup, training, evaluations and samples), `variants`: a list of {`name`,
`ms_per_step`, `val_bpc`, `causal_val_bpc`}.

`bench scenarios`: `threads`, `seeds`, `seconds` (all of it), `runs`: a list of {`scenario`,
`corpus` (the file's name; a scenario with generated data ignores it), `seconds`, `agrees`
(every verdict agrees with the lesson), `verdicts`: [{`arm`, `reference`, `outcome`, `margin`,
`noise`, `line`}]}.

`bench studio`: `preset`, `seconds` (each measuring window, by the trainer's clock), `rounds`,
`views` (whether the X-ray and the validation tape were open in the studio's windows), `window`
("seconds", or with --views "evaluation interval": each window is one evaluation interval of
steps, its evaluation, sample and save included), `cli_threads` / `studio_threads` (both train
in a child process with every core unless --threads is given), `cli_tokens_per_second` and
`cli_steps` (the CLI's loop, `TrainingSession`, in a child process with no interface at normal
priority), `studio_tokens_per_second` and `studio_steps` (the studio's own run, watched, from
its StepMetrics), `throughput_ratio` (studio / CLI), `ui_cpu_share` (CPU time of the studio's
own process, all its threads, over the watched windows' wall time: 1.0 is one core),
`studio_tokens_per_second_typing` and `throughput_ratio_typing` (the studio's windows while
keys are pressed), `first_step_seconds` (key t to the first step on screen), `stop_seconds`
(key x to the saved, finished run), and `key_latency_idle_ms` / `key_latency_training_ms`:
{`median`, `p90`, `max`, `count`, `timeouts`}, the time from `pilot.press("tab")` until the
focus has moved (before training, and in the typing windows); `screen_first_drawn_ms` /
`screen_second_drawn_ms`: {screen name or "help": milliseconds from its key until its first
frame is drawn}, and `screen_first_visit_ms` / `screen_second_visit_ms`: the same until the app
is idle again (what the screen loads on its first visit shown), in the idle studio before
training, once it has built the screens it builds out of view when left alone. Each round
has three windows: the studio watched, the CLI's loop, the studio while keys are pressed; only
one side trains at a time (the other is paused), so the machine's drifts fall on both sides
alike.
"""

from __future__ import annotations

import argparse
import json

from core import DEFAULT_VARIANTS, PRESETS
from tui.cli.args import (
    DEVICES,
    add_model_flags,
    add_shape_flags,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)


def _add_data_and_json(
    parser: argparse.ArgumentParser,
    data_help: str = "UTF-8 text file (default: the shipped Shakespeare)",
) -> None:
    parser.add_argument("--data", help=data_help)
    parser.add_argument("--json", action="store_true", help="print JSON (keys: minigpt bench -h)")


def add_bench_parser(commands: argparse._SubParsersAction) -> None:
    """`minigpt bench` and its four benches, on the CLI's subcommands."""
    parser = commands.add_parser(
        "bench",
        help="measure training, generation and the studio",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.set_defaults(func=run_bench)
    sub = parser.add_subparsers(
        dest="what", required=True, metavar="{train,quality,generate,studio,race,scenarios}"
    )

    train = sub.add_parser(
        "train",
        help="training tokens/s, ms/step, FLOP utilisation and memory",
        description="Time steady-state training steps of the real TrainingSession loop. "
        "--compare runs two variants in one process, alternating blocks of steps.",
    )
    add_model_flags(train, steps_help="timed steps per variant (default 50)")
    train.add_argument(
        "--untimed-steps",
        type=non_negative_int,
        default=5,
        help="warm-up steps before the timed ones (default 5)",
    )
    train.add_argument(
        "--block-steps", type=positive_int, default=5, help="steps per interleaved block"
    )
    train.add_argument(
        "--compare",
        metavar="WHAT[=A,B]",
        help="precision (fp32,bf16), compile (off,on) or threads (1,cores); "
        "e.g. --compare threads=1,2",
    )
    train.add_argument(
        "--peak-seconds",
        type=non_negative_float,
        default=1.0,
        help="time per matmul-peak measurement (fp32 and bf16); 0 skips it",
    )
    _add_data_and_json(train)

    quality = sub.add_parser(
        "quality",
        help="time to quality: wall seconds until the validation loss reaches a target",
        description="Train with the real loop and evaluate every --eval-every steps off the "
        "clock; report the loss-vs-seconds curve and when it first reached --target.",
    )
    add_model_flags(quality)
    quality.add_argument(
        "--target", type=positive_float, default=1.89, help="validation loss to reach (1.89)"
    )
    quality.add_argument(
        "--eval-every", type=positive_int, default=50, help="steps between curve points (50)"
    )
    quality.add_argument(
        "--eval-tokens",
        type=positive_int,
        default=153_600,
        help="held-out tokens per curve point (153,600: nanoGPT's 200 x 12 x 64)",
    )
    quality.add_argument(
        "--max-seconds",
        type=positive_float,
        default=120.0,
        help="give up after this much training time (120)",
    )
    quality.add_argument(
        "--reference",
        metavar="PRESET",
        choices=sorted(PRESETS),
        help="also train PRESET in fp32 eager for its whole schedule, evaluations included, "
        "in 1 s turns with the measured run, and report the time to quality over that run's "
        "wall time (recipe: nanoGPT's CPU recipe, 2,000 iterations)",
    )
    _add_data_and_json(quality)

    generate = sub.add_parser(
        "generate",
        help="prefill, cached and uncached decode tokens/s, latency by position",
        description="Time generation of an untrained preset model (speed does not depend on "
        "the weights) or of a checkpoint.",
    )
    generate.add_argument("--preset", help="tiny, small, recipe or seed (default: small)")
    add_shape_flags(generate)
    generate.add_argument("--checkpoint", help="time this checkpoint instead of a preset")
    generate.add_argument(
        "--new-tokens", type=positive_int, default=300, help="tokens per decode run (300)"
    )
    generate.add_argument(
        "--repeat-seconds",
        type=non_negative_float,
        default=2.0,
        help="seconds spent on the prefill and latency measurements (at least 5 rounds)",
    )
    generate.add_argument("--device", default="cpu", choices=DEVICES)
    generate.add_argument("--threads", type=positive_int, help="torch intra-op threads")
    _add_data_and_json(generate, "corpus whose characters form the preset's vocabulary")

    studio = sub.add_parser(
        "studio",
        help="training speed inside the studio vs the CLI, key latency while training",
        description="Run the studio headless (Textual's Pilot), train a preset in it and time "
        "key presses; train the same preset with the CLI's loop in a process with no "
        "interface, the two alternating in windows, one paused while the other trains.",
    )
    studio.add_argument("--preset", default="small", help="tiny, small, recipe or seed")
    studio.add_argument(
        "--seconds",
        type=non_negative_float,
        default=5.0,
        help="each measuring window, by the trainer's clock (default 5)",
    )
    studio.add_argument(
        "--rounds",
        type=positive_int,
        default=3,
        help="rounds of windows: studio watched, CLI's loop, studio typing (default 3)",
    )
    studio.add_argument(
        "--presses", type=positive_int, default=20, help="key presses over all rounds (20)"
    )
    studio.add_argument(
        "--threads", type=positive_int, help="torch threads for both (default: each one's own)"
    )
    studio.add_argument(
        "--views",
        action="store_true",
        help="windows of one evaluation interval each (evaluation, sample and save "
        "included), with the Train screen's training X-ray open for the first half of the "
        "studio's and the validation tape for the second",
    )
    _add_data_and_json(studio)

    race = sub.add_parser(
        "race",
        help="the wall time of an experiment race (minigpt experiment), start to results",
        description="Run a race in this process, as minigpt experiment does, and time it.",
    )
    race.add_argument("--preset", default="tiny", help="tiny, small, recipe or seed (tiny)")
    race.add_argument("--steps", type=positive_int, default=300, help="steps per variant (300)")
    race.add_argument("--variants", default=DEFAULT_VARIANTS, help="raced against the baseline")
    race.add_argument("--threads", type=positive_int, help="torch intra-op threads")
    _add_data_and_json(race)

    scenarios = sub.add_parser(
        "scenarios",
        help="every lesson's scenario on several corpora: does each verdict agree?",
        description="Run minigpt experiment's scenarios on each corpus given and tabulate "
        "each verdict, its margin and noise, and the seconds it took.",
    )
    scenarios.add_argument(
        "--data",
        action="append",
        help="a UTF-8 text file; give it again for more corpora (default: the shipped one)",
    )
    scenarios.add_argument("--scenario", default="all", help="one scenario, or all (all)")
    scenarios.add_argument("--seeds", type=positive_int, help="seeds per arm (the scenarios')")
    scenarios.add_argument("--threads", type=positive_int, default=1, help="torch threads (1)")
    scenarios.add_argument("--json", action="store_true", help="print JSON (keys: -h)")


def run_bench(args: argparse.Namespace) -> int:
    # each bench loads torch (and the studio's Textual) only when it runs: --help stays instant
    from tui.cli.bench.generation import bench_generate, print_generate
    from tui.cli.bench.race import bench_race, print_race
    from tui.cli.bench.training import bench_quality, bench_train, print_quality, print_train

    if args.what == "train":
        report = bench_train(args)
        emit = print_train
    elif args.what == "quality":
        report = bench_quality(args)
        emit = print_quality
    elif args.what == "generate":
        report = bench_generate(args)
        emit = print_generate
    elif args.what == "race":
        report = bench_race(args)
        emit = print_race
    elif args.what == "scenarios":
        from tui.cli.bench.scenarios import bench_scenarios, print_scenarios

        report = bench_scenarios(args)
        emit = print_scenarios
    else:
        # the studio bench alone needs Textual: the other benches start without loading it
        from tui.cli.bench.studio import bench_studio, print_studio

        report = bench_studio(
            args.preset,
            args.data,
            args.seconds,
            args.presses,
            args.rounds,
            args.threads,
            views=args.views,
        )
        emit = print_studio
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        emit(report)
    return 0
