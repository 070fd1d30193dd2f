"""`minigpt bench studio`: the studio run headless, training while keys are pressed, against
the CLI's own loop; a dict of plain values and its table."""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import replace

from rich.table import Table
from textual.pilot import Pilot

from core import (
    TrainingSession,
    UserError,
    load_corpus,
    prepare_multiprocessing,
    preset,
    resolve_device,
    set_threads,
)
from core.bench import TrainVariant, bench_training, peak_memory_mb, percentile
from tui.paths import default_corpus
from tui.report import SCHEMA, machine_info, print_busy_warning, progress_printer, stdout_console
from tui.studio.app import StudioApp
from tui.studio.screens.train import TrainScreen

KEY_TIMEOUT = 5.0  # seconds a key press may take before it counts as lost


def bench_studio(
    preset_name: str,
    data: str | None,
    seconds: float,
    presses: int,
    cli_steps: int,
    threads: int | None,
    views: bool = False,
) -> dict:
    """Time the CLI's loop, then the studio training `preset_name`, then the CLI's loop again."""
    progress = progress_printer()
    config = preset(preset_name)
    corpus = str(data or default_corpus())
    text = load_corpus(corpus)
    set_threads(threads)
    machine = machine_info(resolve_device(None))

    def cli_tokens_per_second() -> float:
        if views:  # like the studio's window: one evaluation interval, its evaluation included
            return _cli_over_evaluation(config, text)
        (result,) = bench_training([TrainVariant("cli", config)], text, cli_steps, 2)
        return result.tokens_per_step * len(result.step_seconds) / sum(result.step_seconds)

    if views:
        cli_steps = config.eval_interval
    progress(f"timing {cli_steps} CLI steps")
    before = cli_tokens_per_second()
    prepare_multiprocessing()
    with tempfile.TemporaryDirectory() as checkpoints_dir:
        app = StudioApp(
            preset_name=preset_name,
            corpus_path=corpus,
            checkpoints_dir=checkpoints_dir,
            threads=threads,
        )
        studio = asyncio.run(_measure_studio(app, seconds, presses, progress, views))
    progress(f"timing {cli_steps} CLI steps again")
    after = cli_tokens_per_second()
    cli = (before + after) / 2
    tokens_per_step = config.batch_size * config.block_size
    studio_rate = studio.pop("steps_per_second") * tokens_per_step
    typing_rate = studio.pop("steps_per_second_typing") * tokens_per_step
    return {
        "bench": "studio",
        "schema": SCHEMA,
        "machine": machine,
        "preset": preset_name,
        "seconds": seconds,
        "views": views,
        "window": "evaluation interval" if views else "seconds",
        "cli_threads": set_threads(None),
        "cli_tokens_per_second": cli,
        "cli_tokens_per_second_before": before,
        "cli_tokens_per_second_after": after,
        "studio_tokens_per_second": studio_rate,
        "throughput_ratio": studio_rate / cli,
        "studio_tokens_per_second_typing": typing_rate,
        "throughput_ratio_typing": typing_rate / cli,
        **studio,
        "peak_memory_mb": peak_memory_mb(None),
    }


async def _measure_studio(
    app: StudioApp, seconds: float, presses: int, progress, views: bool = False
) -> dict:
    """Drive the studio: key latency when idle, start training, key latency while it trains;
    with `views`, the X-ray and then the validation tape are open in each window."""
    async with app.run_test(size=(160, 48)) as pilot:
        train = app.train_screen
        progress("timing key presses in the idle studio")
        idle = [await _key_latency(pilot) for _ in range(min(presses, 5))]
        train.set_steps(10**9)
        app.set_focus(None)  # t in a focused input would type a letter
        progress("starting training in the studio")
        started = time.perf_counter()
        await pilot.press("t")
        while train.last is None and not train.done:
            await asyncio.sleep(0.01)
        if train.last is None:
            raise UserError(f"training in the studio failed: {train.finished.error}")
        first_step_seconds = time.perf_counter() - started
        await asyncio.sleep(min(1.0, seconds / 4))  # past the first, slower steps
        span = "one evaluation interval, views open" if views else f"{seconds:g} s"
        progress(f"timing training over {span} (watching, no key presses)")
        watching = await _training_window(train, seconds, views)
        progress(f"timing {presses} key presses over {seconds:g} s of training")
        latencies = []
        first = train.last
        window_end = time.perf_counter() + seconds
        if views:
            train.action_xray()
        for i in range(presses):
            if views and i == presses // 2:
                train.action_tape()
            latencies.append(await _key_latency(pilot))
            next_press = window_end - seconds * (presses - i - 1) / presses
            await asyncio.sleep(max(0.0, next_press - time.perf_counter()))
        typing = _rate(first, train.last)
        threads = train.started.threads if train.started is not None else None
        stopping = time.perf_counter()
        train.action_stop()
        while not train.done:
            await asyncio.sleep(0.02)
        stop_seconds = time.perf_counter() - stopping
        train.wait_for_exit(30)  # an exiting child would slow the CLI run that follows
    return {
        "studio_threads": threads,
        "studio_steps": watching["steps"],
        "steps_per_second": watching["steps_per_second"],
        "steps_per_second_typing": typing["steps_per_second"],
        "ui_cpu_share": watching["ui_cpu_share"],
        "first_step_seconds": first_step_seconds,
        "stop_seconds": stop_seconds,
        "key_latency_idle_ms": _latency_summary(idle),
        "key_latency_training_ms": _latency_summary(latencies),
    }


def _cli_over_evaluation(config, text: str) -> float:
    """Tokens/s of the CLI's own loop over one evaluation interval, from its middle to the next
    middle: the evaluation, its sample and its checkpoint save fall inside, as in the studio."""
    interval = config.eval_interval
    start, end = interval // 2, interval // 2 + interval
    run = replace(config, max_steps=end + 1)
    with tempfile.TemporaryDirectory() as out_dir:
        first = None
        for metrics in TrainingSession(run, text, None, out_dir).steps():
            if metrics.step == start:
                first = metrics
            elif metrics.step == end:
                elapsed = metrics.elapsed - first.elapsed
                return interval * config.batch_size * config.block_size / elapsed
    raise RuntimeError("the run ended before its timed interval")


async def _training_window(train: TrainScreen, seconds: float, views: bool = False) -> dict:
    """Steps per second and the UI process's CPU share while the studio trains, untouched.
    With `views`, the window is one evaluation interval instead of `seconds`, the X-ray open for
    its first half and the validation tape for the second."""
    first = train.last
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    if views:
        interval = train.started.config.eval_interval
        train.action_xray()
        while train.last.step < first.step + interval // 2 and not train.done:
            await asyncio.sleep(0.05)
        train.action_tape()
        while train.last.step < first.step + interval and not train.done:
            await asyncio.sleep(0.05)
        train.action_tape()  # back to the plots
    else:
        await asyncio.sleep(seconds)
    ui_cpu_share = (time.process_time() - cpu_started) / (time.perf_counter() - wall_started)
    return {**_rate(first, train.last), "ui_cpu_share": ui_cpu_share}


def _rate(first, last) -> dict:
    """Steps and steps per second between two StepMetrics, by the trainer's own clock."""
    elapsed = last.elapsed - first.elapsed
    steps = last.step - first.step
    return {"steps": steps, "steps_per_second": steps / elapsed if elapsed > 0 else 0.0}


async def _key_latency(pilot: Pilot, key: str = "tab") -> float | None:
    """Seconds from `pilot.press(key)` until the focus has moved; None if it never does."""
    app = pilot.app
    before = app.focused
    moved_at: float | None = None

    async def watch() -> None:
        nonlocal moved_at
        while app.focused is before:
            await asyncio.sleep(0.0005)
        moved_at = time.perf_counter()

    watcher = asyncio.create_task(watch())
    started = time.perf_counter()
    await pilot.press(key)
    try:
        await asyncio.wait_for(watcher, KEY_TIMEOUT)
    except asyncio.TimeoutError:
        return None
    return moved_at - started


def _latency_summary(seconds: list[float | None]) -> dict:
    measured = [s * 1000 for s in seconds if s is not None]
    if not measured:
        return {"median": None, "p90": None, "max": None, "count": 0, "timeouts": len(seconds)}
    return {
        "median": percentile(measured, 0.5),
        "p90": percentile(measured, 0.9),
        "max": max(measured),
        "count": len(measured),
        "timeouts": len(seconds) - len(measured),
    }


def print_studio(report: dict) -> None:
    console = stdout_console()
    table = Table(title=f"studio {report['preset']}", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row(
        f"CLI tokens/s ({report['cli_threads']} thread(s), before / after)",
        f"{report['cli_tokens_per_second']:,.0f} ({report['cli_tokens_per_second_before']:,.0f}"
        f" / {report['cli_tokens_per_second_after']:,.0f})",
    )
    table.add_row(
        f"studio tokens/s ({report['studio_threads']} thread(s), {report['studio_steps']} steps)",
        f"{report['studio_tokens_per_second']:,.0f}",
    )
    watching = "over an evaluation, X-ray and tape open" if report["views"] else "watching"
    table.add_row(
        f"[bold]studio / CLI[/] ({watching})", f"[bold]{report['throughput_ratio']:.2f}x[/]"
    )
    typing = report["studio_tokens_per_second_typing"]
    table.add_row(
        "studio / CLI while keys are pressed",
        f"{report['throughput_ratio_typing']:.2f}x ({typing:,.0f} tokens/s)",
    )
    table.add_row("UI process CPU while training (cores)", f"{report['ui_cpu_share']:.2f}")
    table.add_row("key t to the first step", f"{report['first_step_seconds']:.1f} s")
    table.add_row("key x to the saved, finished run", f"{report['stop_seconds']:.1f} s")
    for label, key in (("idle", "key_latency_idle_ms"), ("training", "key_latency_training_ms")):
        summary = report[key]
        if summary["count"]:
            value = (
                f"{summary['median']:.0f} / {summary['p90']:.0f} / {summary['max']:.0f} ms"
                f" ({summary['count']} presses"
                + (f", {summary['timeouts']} lost)" if summary["timeouts"] else ")")
            )
        else:
            value = f"no key press arrived ({summary['timeouts']} lost)"
        table.add_row(f"key latency {label}: median / p90 / max", value)
    console.print(table)
    machine = report["machine"]
    console.print(
        f"{report['seconds']:g} s window; peak memory of the UI process "
        f"{report['peak_memory_mb'] or 0:.0f} MiB; load average {machine['load_average'] or 0:.2f}"
    )
    print_busy_warning(console, machine)
