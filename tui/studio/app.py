"""The studio: a Textual app with Train, Generate, Chat, Model, Experiments and Runs screens
over `core` sessions."""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from textual import events, on
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import AwaitMount
from textual.widgets import Input

from core import (
    RunStatus,
    choose_checkpoint,
    prepare_multiprocessing,
    preset,
    read_run,
    set_threads,
)
from tui.paths import checkpoints_root, default_corpus, shipped_checkpoint
from tui.studio.commands import studio_commands
from tui.studio.messages import ModelLoaded, WeightSource
from tui.studio.screens.base import RunningWork, StudioScreen, styled_now
from tui.studio.screens.chat import ChatScreen
from tui.studio.screens.experiments import ExperimentsScreen
from tui.studio.screens.generate import GenerateScreen
from tui.studio.screens.help import HelpScreen
from tui.studio.screens.model import ModelScreen
from tui.studio.screens.quit import QuitQuestion, quit_question
from tui.studio.screens.runs import RunsScreen
from tui.studio.screens.train import TrainScreen
from tui.studio.screens.watch import WatchScreen
from tui.studio.widgets.common.line_input import FIELD_MAX_LENGTH

WORKER_THREADS = 64  # long-lived workers (a few per open screen) and short ones, never queued


@dataclass(frozen=True)
class Mode:
    """One of the studio's screens: its mode name, keys, label and screen class."""

    name: str
    key: str
    function_key: str  # for when a text box takes the number keys
    label: str
    screen: type[Screen]


# screens marked BUILD_AHEAD are built out of view once the studio has been open this long
# (its own first frames come first) and left alone by keys and mouse this long (a text field
# mounting anywhere clears the selection on the screen in view)
BUILD_AHEAD_AFTER = 1.0
BUILD_AHEAD_IDLE = 0.5
MOUNT_BEFORE_CLOSING = 2.0  # seconds the app waits on closing for a screen still mounting

# the studio's screens, listed once: keys, mode bar, command palette and help follow this table
MODES = (
    Mode("train", "1", "f2", "Train", TrainScreen),
    Mode("generate", "2", "f3", "Generate", GenerateScreen),
    Mode("chat", "3", "f4", "Chat", ChatScreen),
    Mode("model", "4", "f5", "Model", ModelScreen),
    Mode("experiments", "5", "f6", "Experiments", ExperimentsScreen),
    Mode("runs", "6", "f7", "Runs", RunsScreen),
)


def initial_weights(checkpoint: str | None, checkpoints_dir: Path) -> WeightSource | None:
    """--checkpoint, else the newest trained run under checkpoints/, else the shipped model."""
    if checkpoint:
        return WeightSource(f"checkpoint {Path(checkpoint).name}", checkpoint=str(checkpoint))
    found = choose_checkpoint(checkpoints_dir, shipped_checkpoint()).path
    if found is None:
        return None
    return WeightSource(f"checkpoint {found.name}", checkpoint=str(found))


class StudioApp(App):
    """Train a GPT, watch it learn, step through its generation and chat with it."""

    CSS_PATH = "app.tcss"
    TITLE = "MiniGPT Studio"
    ENABLE_COMMAND_PALETTE = True
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    STUDIO_MODES = MODES  # not Textual's own MODES, which would build each screen bare
    BINDINGS = [
        # a terminal's ctrl+c: copy what is selected, else quit
        Binding("ctrl+c", "copy_or_quit", "Copy or quit", priority=True, show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True, show=False),
        Binding("q", "quit", "Quit", show=False),
        *(
            Binding(
                f"{mode.key},{mode.function_key}",
                f"switch_mode('{mode.name}')",
                mode.label,
                show=False,
            )
            for mode in MODES
        ),
        Binding("question_mark,f1", "help", "Help"),
    ]

    def __init__(
        self,
        preset_name: str = "small",
        corpus_path: str | None = None,
        corpus_text: str | None = None,
        checkpoint: str | None = None,
        checkpoints_dir: str | Path | None = None,
        threads: int | None = None,
        watch: str | None = None,
        weights: str = "auto",
    ) -> None:
        super().__init__()
        self.decode_weights = weights  # the decode step's weight format for Generate and Chat
        preset(preset_name)  # a ValueError naming the known presets, before any screen
        self.checkpoints_dir = Path(checkpoints_dir) if checkpoints_dir else checkpoints_root()
        self.weights_source = initial_weights(checkpoint, self.checkpoints_dir)
        # --watch DIR: the Train screen follows a run trained elsewhere, read-only
        train = TrainScreen if watch is None else partial(WatchScreen, watch)
        self.train_screen = train(
            preset_name,
            str(corpus_path or default_corpus()),
            corpus_text=corpus_text,
            checkpoints_dir=self.checkpoints_dir,
            threads=threads,
        )
        self.help_screen = HelpScreen()
        self._rung = -1.0  # when the bell last rang (monotonic seconds)
        self._last_input = -1.0  # when a key or mouse event last came (monotonic seconds)
        self._mouse_down = False
        self.mode_screens: dict[str, StudioScreen] = {"train": self.train_screen}
        for mode in MODES:
            self.add_mode(mode.name, lambda mode=mode: self._make_screen(mode))

    def _make_screen(self, mode: Mode) -> StudioScreen:
        """A mode's screen: built on its first visit, unless it was built ahead (Train's was
        built with the app)."""
        screen = self.mode_screens.get(mode.name)
        if screen is None:
            screen = self.mode_screens[mode.name] = mode.screen()
        if not screen.is_running:  # not built ahead
            styled_now(screen, self)
        return screen

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseEvent)):
            self._last_input = time.monotonic()
            if isinstance(event, (events.MouseDown, events.MouseUp)):
                self._mouse_down = isinstance(event, events.MouseDown)  # a drag may go on
        await super().on_event(event)

    def build_ahead(self) -> None:
        """Mount, out of view, each screen marked `BUILD_AHEAD` that has not been shown yet,
        so that its first visit only draws it; not while the user is busy or has text
        selected (then later). Textual mounts its widgets a message at a time, between the
        keys and frames of the screen in view."""
        if not self.is_running:  # closing
            return
        busy = time.monotonic() - self._last_input < BUILD_AHEAD_IDLE
        if busy or self._mouse_down or self.screen.selections:
            self.set_timer(BUILD_AHEAD_IDLE, self.build_ahead)
            return
        # Textual's own first step of a switch to a mode: the screen becomes that mode's
        # stack, mounted, laid out and closed with the app like any other (a Textual without
        # it builds each screen on its first visit)
        init_mode = getattr(self, "_init_mode", None)
        for mode in MODES:
            if init_mode and mode.screen.BUILD_AHEAD and mode.name not in self.mode_screens:
                init_mode(mode.name)

    async def _shutdown(self) -> None:
        # Textual closes a screen still mounting as it closes a mounted one, and its widgets'
        # mount handlers then run against children already closed: a screen being built
        # (ahead of its visit, or by a key pressed just before quitting) finishes first
        deadline = time.monotonic() + MOUNT_BEFORE_CLOSING
        while time.monotonic() < deadline and any(
            screen.is_running and not screen.is_mounted for screen in self.mode_screens.values()
        ):
            await asyncio.sleep(0.01)
        await super()._shutdown()

    def switch_mode(self, mode: str) -> AwaitMount:
        """Show a mode's screen with focus on its entry widget, each time it is shown (before
        the next key is read: a key typed just after the switch lands there too)."""
        mounted = super().switch_mode(mode)
        if isinstance(self.screen, StudioScreen) and self.screen.is_mounted:
            self.screen.focus_entry()
        return mounted

    def on_mount(self) -> None:
        # thread workers run on the event loop's default executor, min(32, cores + 4) threads:
        # on two cores the plot builders, runners and relay of the open screens held all six
        # and every later worker (the Runs screen's scan) waited forever
        self._executor = ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="studio")
        asyncio.get_running_loop().set_default_executor(self._executor)
        # installed once: the help text is laid out on the first open, not on every one
        styled_now(self.help_screen, self)
        self.install_screen(self.help_screen, "help")
        self.switch_mode("train")
        self.set_timer(BUILD_AHEAD_AFTER, self.build_ahead)
        # a full garbage collection walks every live object (torch's and Textual's included)
        # and paused the interface for ~90 ms while training; startup's objects are permanent
        self.call_after_refresh(gc.freeze)

    def on_unmount(self) -> None:
        gc.unfreeze()  # back to the collector: the process may go on without the studio
        # however the app ends (an error, a test's run_test), no child goes on training
        # unwatched while this process lives on: each is asked to stop and save
        for screen in self.mode_screens.values():
            screen.stop_work()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """Every field typed into, on any screen or dialog, holds a bounded line: unbounded,
        100 KB typed in as keys (a paste without bracketed paste) took about 1 GB, a copy of
        the value per key."""
        field = event.widget
        if isinstance(field, Input) and not field.max_length:
            field.max_length = FIELD_MAX_LENGTH

    def bell(self) -> None:
        """At most one bell a second: keys typed past a field's limit (a long paste that
        arrives as keystrokes) would ring at every one."""
        now = time.monotonic()
        if now - self._rung >= 1.0:
            self._rung = now
            super().bell()

    def use_weights(self, source: WeightSource) -> None:
        """Give Generate, Chat and Model their own copy of these weights."""
        self.weights_source = source
        for screen in self.mode_screens.values():
            if screen.is_mounted:  # the others load `weights_source` when they mount
                screen.load_source(source)
        self.screen.notify(f"Generate and Chat now sample from {source.label}.")

    @on(ModelLoaded)
    def describe_weights(self, message: ModelLoaded) -> None:
        """A screen read the weights: the help follows their tokenizer and sizes."""
        self.help_screen.describe(message.info)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            mode = next((m for m in self.STUDIO_MODES if m.name == self.current_mode), None)
            self.help_screen.section = mode.label if mode is not None else None
            self.push_screen("help")

    def selected_text(self) -> str:
        """What ctrl+c copies: the text selected in the focused field, else the text dragged
        over with the mouse on this screen ("" when nothing is)."""
        focused = self.screen.focused
        if isinstance(focused, Input) and not focused.selection.is_empty:
            return focused.selected_text
        return self.screen.get_selected_text() or ""

    async def action_copy_or_quit(self) -> None:
        """Copy the selection to the clipboard (through the terminal, so over SSH too);
        with nothing selected, quit as q does."""
        selected = self.selected_text()
        if not selected:
            await self.action_quit()
            return
        self.copy_to_clipboard(selected)
        self.screen.notify(f"copied {len(selected):,} characters to the clipboard")

    def running_screens(self) -> list[tuple[StudioScreen, RunningWork]]:
        """The screens whose training run or race goes on, not yet stopping to quit."""
        running = []
        for screen in self.mode_screens.values():
            work = screen.running_work()
            if work is not None:
                running.append((screen, work))
        return running

    async def action_quit(self) -> None:
        """Quit; while a run trains or a race runs, ask first: y stops and saves them, then
        quits. Asked again (ctrl+c on the question, q while saving), it quits at once."""
        running = self.running_screens()
        if not running or isinstance(self.screen, QuitQuestion):
            self.exit()  # what still runs is stopped and saved on the way out
            return
        steps = {work.kind: work.step for _, work in running}
        question = quit_question(steps.get("training"), steps.get("race"))
        self.push_screen(QuitQuestion(question), self.quit_answered)

    def quit_answered(self, stop: bool | None) -> None:
        """y: stop and save each run, then quit once they are saved."""
        if not stop:
            return
        running = self.running_screens()
        for screen, _ in running:
            screen.stop_and_exit()
        if not running:  # it finished while the question was shown
            self.exit()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from studio_commands(self)

    def shutdown_training(self, timeout: float = 60.0) -> None:
        """Make sure no training or race child outlives the app (each stops and saves)."""
        for screen in self.mode_screens.values():
            screen.shutdown(timeout)


def run_studio(
    preset_name: str = "small",
    corpus_path: str | None = None,
    checkpoint: str | None = None,
    threads: int | None = None,
    watch: str | None = None,
    screenshot: str | None = None,
    size: tuple[int, int] = (120, 36),
    weights: str = "auto",
) -> int:
    """`minigpt studio`: open the studio (or draw it into an SVG); returns the exit code."""
    prepare_multiprocessing()
    # generation here is one token at a time; more threads would only fight the trainer's core
    set_threads(1)
    app = StudioApp(
        preset_name=preset_name,
        corpus_path=corpus_path,
        checkpoint=checkpoint,
        threads=threads,
        watch=watch,
        weights=weights,
    )
    try:
        if screenshot is not None:
            from tui.studio.screenshot import take_screenshot

            written = take_screenshot(app, screenshot, size, tokens=24)
            print(f"wrote {written} ({size[0]}x{size[1]})", file=sys.stderr)
            return 0
        app.run()
    finally:
        app.shutdown_training()
    process = getattr(app.train_screen, "process", None)  # a run started in this studio
    summary = exit_summary(process.out_dir) if process is not None else None
    if summary is not None:  # what the CLI would say: where the run is, how to go on
        print(f"minigpt: {summary}", file=sys.stderr)
    return app.return_code or 0


def exit_summary(folder: Path) -> str | None:
    """Where a run trained in the studio is, and the command that continues it."""
    if not folder.is_dir():
        return None
    summary = read_run(folder)
    if summary.status is RunStatus.STOPPED and summary.resumable:
        return (
            f"run {folder} stopped at step {summary.step} and is saved; continue it with: "
            f"minigpt train --resume {folder}"
        )
    if summary.status is RunStatus.FINISHED:
        return f"run {folder} finished all {summary.step} steps; its checkpoint is in {folder}"
    return None
