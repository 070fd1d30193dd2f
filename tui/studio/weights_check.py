"""Why Generate, Chat and Model cannot load the weights they were given, said in one line with
what to do, before they try (a missing path would otherwise read as loading forever)."""

from __future__ import annotations

from textual.app import App

from core import checkpoint_problem
from tui.studio.messages import WeightSource


def weights_problem(source: WeightSource | None, app: App) -> str | None:
    """What is wrong with the source's checkpoint and what to do; None when it looks loadable
    (or there is no source: the screens say how to make one)."""
    if source is None or source.checkpoint is None:
        return None
    problem = checkpoint_problem(source.checkpoint)
    if problem is None:
        return None
    problem = problem.split("; ", 1)[0]  # what is wrong; the studio's own remedy follows
    keys = {mode.name: mode.key for mode in app.STUDIO_MODES}
    return f"{problem}: train one ({keys['train']}, then t) or pick one in Runs ({keys['runs']})"
