"""A child process as its screen sees it: its events relayed in batches from a thread, and a
shutdown that says what it waits for."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from textual.message import Message
from textual.message_pump import MessagePump
from textual.worker import get_current_worker

from core import RaceProcess, TrainingProcess

POLL_SECONDS = 0.05  # the longest a cancelled relay waits before it notices


def relay_events(
    child: TrainingProcess | RaceProcess,
    owner: MessagePump,
    message: Callable[[tuple], Message],
    interval: float,
    routine: type,
) -> None:
    """Post `child`'s events to `owner` as `message(events)`, from a thread worker, until the
    child finishes or the worker is cancelled.

    Events of the `routine` type wait up to `interval` seconds to travel together, so redraw
    cost does not grow with step speed; any other event goes at once, with those waiting.
    """
    worker = get_current_worker()
    pending: list = []
    flushed = time.monotonic()
    while not worker.is_cancelled and child.finished is None:
        events = child.poll(POLL_SECONDS)
        pending.extend(events)
        urgent = any(not isinstance(event, routine) for event in events)
        if pending and (urgent or time.monotonic() - flushed >= interval):
            owner.post_message(message(tuple(pending)))
            pending, flushed = [], time.monotonic()
    if pending:
        owner.post_message(message(tuple(pending)))


def shutdown_child(child: TrainingProcess | RaceProcess | None, what: str, timeout: float) -> None:
    """Stop a child that still runs and wait for its final save (the app has ended)."""
    if child is None or not child.alive:
        return
    if child.finished is None:
        print(f"minigpt: waiting for the {what} to save…", file=sys.stderr)
    child.shutdown(timeout)
