"""`minigpt bench studio`: the studio run headless, training while keys are pressed, against
the CLI's own loop in a process of its own, the two timed in alternating windows; a dict of
plain values and its table."""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from rich.table import Table
from textual.pilot import Pilot

from core import (
    RunState,
    StepMetrics,
    TrainingProcess,
    TrainingState,
    UserError,
    load_corpus,
    prepare_multiprocessing,
    preset,
    resolve_device,
    set_threads,
)
from core.bench import peak_memory_mb, percentile
from tui.cli.bench.visits import FrameClock, built_ahead, screen_visits, visit_rows
from tui.paths import default_corpus
from tui.report import SCHEMA, machine_info, print_busy_warning, progress_printer, stdout_console
from tui.studio.app import StudioApp
from tui.studio.screens.train import TrainScreen, TrainState

KEY_TIMEOUT = 5.0  # seconds a key press may take before it counts as lost
STATE_TIMEOUT = 60.0  # seconds a pause or resume may take before the bench gives up
WARM_UP_SECONDS = 1.0  # each side trains this long before its first window


@dataclass
class Window:
    """Steps and trainer-clock seconds summed over the windows of one side."""

    steps: int = 0
    seconds: float = 0.0

    def add(self, first: StepMetrics, last: StepMetrics) -> None:
        self.steps += last.step - first.step
        self.seconds += last.elapsed - first.elapsed

    def tokens_per_second(self, tokens_per_step: int) -> float:
        return self.steps * tokens_per_step / self.seconds if self.seconds > 0 else 0.0


def bench_studio(
    preset_name: str,
    data: str | None,
    seconds: float,
    presses: int,
    rounds: int,
    threads: int | None,
    views: bool = False,
) -> dict:
    """Train `preset_name` in the studio and in a reference child with no interface, one paused
    while the other trains, alternating windows so that the machine's drifts fall on both."""
    progress = progress_printer()
    config = replace(preset(preset_name), max_steps=10**9)
    corpus = str(data or default_corpus())
    load_corpus(corpus)  # a bad corpus fails here in one line, before anything starts
    set_threads(threads)
    machine = machine_info(resolve_device(None))
    prepare_multiprocessing()
    with tempfile.TemporaryDirectory() as checkpoints_dir:
        reference = TrainingProcess(
            config, Path(checkpoints_dir) / "reference", text_path=corpus, threads=threads, nice=0
        )
        app = StudioApp(
            preset_name=preset_name,
            corpus_path=corpus,
            checkpoints_dir=checkpoints_dir,
            threads=threads,
        )
        plan = _Plan(seconds, presses, rounds, views, config.eval_interval)
        studio = asyncio.run(_measure(app, reference, plan, progress))
    tokens_per_step = config.batch_size * config.block_size
    cli = studio.pop("cli").tokens_per_second(tokens_per_step)
    watching = studio.pop("watching").tokens_per_second(tokens_per_step)
    typing = studio.pop("typing").tokens_per_second(tokens_per_step)
    return {
        "bench": "studio",
        "schema": SCHEMA,
        "machine": machine,
        "preset": preset_name,
        "seconds": seconds,
        "rounds": rounds,
        "views": views,
        "window": "evaluation interval" if views else "seconds",
        "cli_threads": reference.threads,
        "cli_tokens_per_second": cli,
        "studio_tokens_per_second": watching,
        "throughput_ratio": watching / cli if cli else 0.0,
        "studio_tokens_per_second_typing": typing,
        "throughput_ratio_typing": typing / cli if cli else 0.0,
        **studio,
        "peak_memory_mb": peak_memory_mb(None),
    }


@dataclass(frozen=True)
class _Plan:
    seconds: float  # each window's length, by the trainer's clock
    presses: int  # key presses over all typing windows
    rounds: int
    views: bool  # windows of one evaluation interval, the X-ray then the tape open
    eval_interval: int

    def done(self, first: StepMetrics, last: StepMetrics) -> bool:
        if self.views:
            return last.step - first.step >= self.eval_interval
        return last.elapsed - first.elapsed >= self.seconds


async def _measure(app: StudioApp, reference: TrainingProcess, plan: _Plan, progress) -> dict:
    """Key latency in the idle studio; then rounds of three windows: the studio watched, the
    reference child, the studio while keys are pressed; each side paused while another trains."""
    async with app.run_test(size=(160, 48)) as pilot:
        train = app.train_screen
        progress("timing key presses in the idle studio")
        idle = [await _key_latency(pilot) for _ in range(min(plan.presses, 5))]
        progress("timing each screen's first and second visit")
        await built_ahead(pilot)
        clock = FrameClock(app)
        first_visit, second_visit = [await screen_visits(pilot, clock) for _ in range(2)]
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
        await asyncio.sleep(WARM_UP_SECONDS)  # past the first, slower steps
        await _studio_pause(train)
        progress("starting the reference: the CLI's loop in a process with no interface")
        side = _Reference(reference)
        reference.start()
        try:
            await side.next_step()
            await asyncio.sleep(WARM_UP_SECONDS)
            await side.pause()
            watching, cli, typing = Window(), Window(), Window()
            cpu_seconds = wall_seconds = 0.0
            latencies: list[float | None] = []
            for round_ in range(plan.rounds):
                progress(f"round {round_ + 1} of {plan.rounds}: studio, reference, studio typing")
                cpu, wall = await _studio_window(train, plan, watching)
                cpu_seconds, wall_seconds = cpu_seconds + cpu, wall_seconds + wall
                await side.window(plan, cli)
                share = plan.presses // plan.rounds + (round_ < plan.presses % plan.rounds)
                await _studio_window(train, plan, typing, pilot, share, latencies)
            threads = train.started.threads if train.started is not None else None
        finally:
            reference.stop()
            await asyncio.to_thread(reference.drain_until_exit, 30)
        stopping = time.perf_counter()
        if train.state is TrainState.PAUSED:
            train.action_pause()  # a paused run stops as well; resume so x is timed as used
        train.action_stop()
        while not train.done:
            await asyncio.sleep(0.02)
        stop_seconds = time.perf_counter() - stopping
        train.wait_for_exit(30)
    return {
        "cli": cli,
        "watching": watching,
        "typing": typing,
        "studio_threads": threads,
        "studio_steps": watching.steps,
        "cli_steps": cli.steps,
        "ui_cpu_share": cpu_seconds / wall_seconds if wall_seconds else 0.0,
        "first_step_seconds": first_step_seconds,
        "stop_seconds": stop_seconds,
        "key_latency_idle_ms": _latency_summary(idle),
        "screen_first_drawn_ms": first_visit.drawn,
        "screen_first_visit_ms": first_visit.settled,
        "screen_second_drawn_ms": second_visit.drawn,
        "screen_second_visit_ms": second_visit.settled,
        "key_latency_training_ms": _latency_summary(latencies),
    }


async def _studio_window(
    train: TrainScreen,
    plan: _Plan,
    into: Window,
    pilot: Pilot | None = None,
    presses: int = 0,
    latencies: list | None = None,
) -> tuple[float, float]:
    """Resume the studio's run, add one window to `into`, pause it; with `pilot`, press tab
    `presses` times spread over the window. Returns the UI process's CPU and wall seconds."""
    paused_at = train.last.step
    train.action_pause()  # resumes
    await _until(lambda: train.last.step > paused_at and train.state is TrainState.RUNNING)
    first = train.last
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    if plan.views and not train.has_class("-xray"):
        train.action_xray()
    tape_at = first.step + plan.eval_interval // 2
    pressed = 0
    while pressed < presses or not plan.done(first, train.last):  # every press lands
        if plan.views and not train.has_class("-tape") and train.last.step >= tape_at:
            train.action_tape()
        if pilot is not None and pressed < presses:
            latencies.append(await _key_latency(pilot))
            pressed += 1
            await _sleep_unless(lambda: plan.done(first, train.last), plan.seconds / presses)
        else:
            await asyncio.sleep(0.02)
    last = train.last
    cpu = time.process_time() - cpu_started
    wall = time.perf_counter() - wall_started
    into.add(first, last)
    if plan.views:  # back to the plots
        train.remove_class("-xray", "-tape")
        train.set_focus(None)
    await _studio_pause(train)
    return cpu, wall


async def _studio_pause(train: TrainScreen) -> None:
    train.action_pause()
    await _until(lambda: train.state is TrainState.PAUSED)


class _Reference:
    """The reference child's events, read without blocking the event loop."""

    def __init__(self, process: TrainingProcess) -> None:
        self.process = process
        self.last: StepMetrics | None = None
        self.state: RunState | None = RunState.RUNNING  # None: a command is on its way

    def read(self) -> None:
        for event in self.process.poll(0):
            if isinstance(event, StepMetrics):
                self.last = event
            elif isinstance(event, TrainingState):
                self.state = event.state
        if self.process.finished is not None and self.process.finished.error:
            raise UserError(f"the reference run failed: {self.process.finished.error}")

    async def next_step(self) -> StepMetrics:
        before = self.last.step if self.last is not None else -1
        await _until(lambda: self.read() or (self.last is not None and self.last.step > before))
        return self.last

    async def pause(self) -> None:
        """Pause the child and read every step it made before it did."""
        self.state = None
        self.process.pause()
        await _until(lambda: self.read() or self.state is RunState.PAUSED)

    async def window(self, plan: _Plan, into: Window) -> None:
        self.state = None
        self.process.resume_training()
        await _until(lambda: self.read() or self.state is RunState.RUNNING)
        first = await self.next_step()
        await _until(lambda: self.read() or plan.done(first, self.last))
        into.add(first, self.last)
        await self.pause()


async def _until(condition, timeout: float = STATE_TIMEOUT) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise UserError("the studio bench timed out waiting for a run to pause or resume")
        await asyncio.sleep(0.01)


async def _sleep_unless(condition, seconds: float) -> None:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline and not condition():
        await asyncio.sleep(0.02)


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
        f"CLI's loop, no interface: tokens/s ({report['cli_threads']} thread(s), "
        f"{report['cli_steps']} steps)",
        f"{report['cli_tokens_per_second']:,.0f}",
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
    visit_rows(table, report)
    console.print(table)
    machine = report["machine"]
    windows = "one evaluation interval" if report["views"] else f"{report['seconds']:g} s"
    console.print(
        f"{report['rounds']} rounds of {windows} windows, the studio and the CLI's loop "
        "alternating, one paused while the other trains; peak memory of the UI process "
        f"{report['peak_memory_mb'] or 0:.0f} MiB; load average {machine['load_average'] or 0:.2f}"
    )
    print_busy_warning(console, machine)
