"""The studio's entries in the command palette (ctrl+p): every screen and every Train action."""

from __future__ import annotations

from collections.abc import Iterator

from textual.app import App, SystemCommand


def studio_commands(app: App) -> Iterator[SystemCommand]:
    """Palette commands: "Show" each of the app's `STUDIO_MODES`, then Train's actions, help."""
    for mode in app.STUDIO_MODES:
        yield SystemCommand(
            f"Show {mode.label}",
            f"switch to the {mode.label} screen",
            lambda name=mode.name: app.switch_mode(name),
        )
    train = app.train_screen
    yield SystemCommand("Train: start", "start a run with the form's settings", train.action_start)
    yield SystemCommand("Train: pause / resume", "between two steps", train.action_pause)
    yield SystemCommand("Train: stop", "stop and save a checkpoint", train.action_stop)
    yield SystemCommand("Train: save", "save a checkpoint now", train.action_save)
    yield SystemCommand(
        "Use the training weights",
        "copy them into Generate, Chat and Model",
        train.action_use_weights,
    )
    yield SystemCommand("Help", "what each panel shows", app.action_help)
