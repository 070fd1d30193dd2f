"""The studio's entries in the command palette (ctrl+p): every screen, and every screen's actions
with their keys, read from the app's `STUDIO_MODES` and each screen's BINDINGS."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from textual.actions import parse
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

PALETTE_SKIPS = {"escape"}  # leaving a text field means nothing from the palette


@dataclass(frozen=True)
class ScreenAction:
    """One of a screen's actions as the palette lists it: a label, its keys, what it runs."""

    label: str
    keys: str
    action: str


def bindings_of(screen_class: type[Screen]) -> list[Binding]:
    """The studio's BINDINGS of the class and its bases (Textual's own, such as tab, aside): as
    in Textual, a class's key replaces its base's."""
    keys: dict[str, list[Binding]] = {}
    for cls in reversed(screen_class.__mro__):
        if cls.__module__.partition(".")[0] == "textual":
            continue
        own: dict[str, list[Binding]] = {}
        for binding in Binding.make_bindings(vars(cls).get("BINDINGS", [])):
            own.setdefault(binding.key, []).append(binding)
        keys.update(own)
    return [binding for bindings in keys.values() for binding in bindings]


def screen_actions(app: App, screen: Screen | type[Screen]) -> list[ScreenAction]:
    """A screen's bindings (its class's and its bases'), one entry per label: t and T of
    "Temperature" are one entry (t/T), which runs the binding the key bar shows."""
    built = screen if isinstance(screen, Screen) else None
    screen_class = type(screen) if built is not None else screen
    groups: dict[str, list[Binding]] = {}
    for binding in bindings_of(screen_class):
        _, name, parameters = parse(binding.action)
        if name in PALETTE_SKIPS or not binding.description:
            continue
        if built is not None and built.check_action(name, parameters) is False:
            continue  # inert on this screen (a watched run has no controls)
        groups.setdefault(binding.description, []).append(binding)
    actions = []
    for label, bindings in groups.items():
        shown = next((b for b in bindings if b.show), bindings[0])
        if shown.key_display:
            keys = shown.key_display
        else:
            keys = "/".join(dict.fromkeys(app.get_key_display(b) for b in bindings))
        actions.append(ScreenAction(label, keys, shown.action))
    return actions


async def run_on_screen(app: App, mode: str, action: str) -> None:
    """Show the mode's screen (if another is showing) and run the action there."""
    if app.current_mode != mode:
        await app.switch_mode(mode)
    await app.run_action(action, app.screen)


def studio_commands(app: App) -> Iterator[SystemCommand]:
    """Palette commands: "Show" each of the app's `STUDIO_MODES`, each screen's actions, help."""
    for mode in app.STUDIO_MODES:
        yield SystemCommand(
            f"Show {mode.label}",
            f"switch to the {mode.label} screen ({mode.key} or {mode.function_key})",
            lambda name=mode.name: app.switch_mode(name),
        )
    # the screen in view first: its actions are the ones wanted most often
    modes = sorted(app.STUDIO_MODES, key=lambda mode: mode.name != app.current_mode)
    for mode in modes:
        screen = app.mode_screens.get(mode.name, mode.screen)
        for entry in screen_actions(app, screen):
            yield SystemCommand(
                f"{mode.label}: {entry.label}",
                f"key {entry.keys}",
                lambda name=mode.name, action=entry.action: run_on_screen(app, name, action),
            )
    yield SystemCommand("Help", "what each panel shows (? or f1)", app.action_help)
