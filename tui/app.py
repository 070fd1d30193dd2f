"""The studio: a Textual app with Train, Generate, Chat and Model screens over `core` sessions."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Iterable
from pathlib import Path

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from core import (
    find_latest_checkpoint,
    is_checkpoint,
    prepare_multiprocessing,
    preset,
    set_threads,
)
from tui.paths import SHIPPED_CHECKPOINT, checkpoints_root, default_corpus
from tui.widgets.chat import ChatScreen
from tui.widgets.common import WeightSource
from tui.widgets.generate import GenerateScreen
from tui.widgets.help import HelpScreen
from tui.widgets.model_view import ModelScreen
from tui.widgets.train import TrainScreen

SCREENS_BY_MODE = {"generate": GenerateScreen, "chat": ChatScreen, "model": ModelScreen}


def initial_weights(checkpoint: str | None, checkpoints_dir: Path) -> WeightSource | None:
    """--checkpoint, else the shipped checkpoint, else the newest one under checkpoints/."""
    if checkpoint:
        return WeightSource(f"checkpoint {Path(checkpoint).name}", checkpoint=str(checkpoint))
    shipped = checkpoints_dir / SHIPPED_CHECKPOINT
    found = shipped if is_checkpoint(shipped) else find_latest_checkpoint(checkpoints_dir)
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
    BINDINGS = [
        Binding("ctrl+c", "quit", "Quit", priority=True, show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True, show=False),
        Binding("q", "quit", "Quit", show=False),
        Binding("1,f2", "switch_mode('train')", "Train", show=False),
        Binding("2,f3", "switch_mode('generate')", "Generate", show=False),
        Binding("3,f4", "switch_mode('chat')", "Chat", show=False),
        Binding("4,f5", "switch_mode('model')", "Model", show=False),
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
    ) -> None:
        super().__init__()
        preset(preset_name)  # a ValueError naming the known presets, before any screen
        self.checkpoints_dir = Path(checkpoints_dir) if checkpoints_dir else checkpoints_root()
        self.weights_source = initial_weights(checkpoint, self.checkpoints_dir)
        self.train_screen = TrainScreen(
            preset_name,
            str(corpus_path or default_corpus()),
            corpus_text=corpus_text,
            checkpoints_dir=self.checkpoints_dir,
            threads=threads,
        )
        self.mode_screens: dict[str, Screen] = {"train": self.train_screen}
        self.add_mode("train", lambda: self.train_screen)
        for mode in SCREENS_BY_MODE:
            self.add_mode(mode, lambda mode=mode: self._make_screen(mode))

    def _make_screen(self, mode: str) -> Screen:
        screen = SCREENS_BY_MODE[mode]()
        self.mode_screens[mode] = screen
        return screen

    def on_mount(self) -> None:
        # installed once: the help text is laid out on the first open, not on every one
        self.install_screen(HelpScreen(), "help")
        self.switch_mode("train")
        # a full garbage collection walks every live object (torch's and Textual's included)
        # and paused the interface for ~90 ms while training; startup's objects are permanent
        self.call_after_refresh(gc.freeze)

    def on_unmount(self) -> None:
        gc.unfreeze()  # back to the collector: the process may go on without the studio

    def use_weights(self, source: WeightSource) -> None:
        """Give Generate, Chat and Model their own copy of these weights."""
        self.weights_source = source
        for mode, screen in self.mode_screens.items():
            if mode != "train" and screen.is_mounted:
                screen.load_source(source)
        self.notify(f"Generate and Chat now sample from {source.label}.")

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen("help")

    async def action_quit(self) -> None:
        """Quit; a running training run is stopped and saved first (a second quit: now)."""
        train = self.train_screen
        if train.active and not train.exit_when_stopped:
            train.stop_and_exit()
            return
        self.exit()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for mode, label in (
            ("train", "Train"),
            ("generate", "Generate"),
            ("chat", "Chat"),
            ("model", "Model"),
        ):
            yield SystemCommand(
                f"Show {label}", f"switch to the {label} screen", lambda m=mode: self.switch_mode(m)
            )
        train = self.train_screen
        yield SystemCommand(
            "Train: start", "start a run with the form's settings", train.action_start
        )
        yield SystemCommand("Train: pause / resume", "between two steps", train.action_pause)
        yield SystemCommand("Train: stop", "stop and save a checkpoint", train.action_stop)
        yield SystemCommand("Train: save", "save a checkpoint now", train.action_save)
        yield SystemCommand(
            "Use the training weights",
            "copy them into Generate, Chat and Model",
            train.action_use_weights,
        )
        yield SystemCommand("Help", "what each panel shows", self.action_help)

    def shutdown_training(self, timeout: float = 60.0) -> None:
        """Make sure no training child outlives the app (it stops between steps and saves)."""
        process = self.train_screen.process
        if process is None or not process.alive:
            return
        if process.finished is None:
            print("minigpt: waiting for the training process to save…", file=sys.stderr)
        self.train_screen.shutdown(timeout)


def run_studio(args: argparse.Namespace) -> int:
    """`minigpt studio`: open the studio; returns the exit code."""
    prepare_multiprocessing()
    # generation here is one token at a time; more threads would only fight the trainer's core
    set_threads(1)
    app = StudioApp(
        preset_name=args.preset,
        corpus_path=args.data,
        checkpoint=args.checkpoint,
        threads=getattr(args, "threads", None),
    )
    try:
        app.run()
    finally:
        app.shutdown_training()
    return app.return_code or 0
