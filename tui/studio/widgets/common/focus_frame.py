"""A container whose frame lights up while focus is inside it."""

from __future__ import annotations

from textual import events
from textual.containers import Vertical

FOCUS_WITHIN = "-focus-within"  # the class the stylesheet lights the frame by


class FocusFrame(Vertical):
    """Carries the class `-focus-within` while a widget inside it has focus, restyling this
    container alone. Textual's `:focus-within` pseudo-class restyles the container and every
    widget inside it at each focus move, in case a rule styles them by it: for a form of some
    thirty widgets that was a large part of its screen's first showing and of every tab."""

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self._follow_focus()

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        self._follow_focus()

    def _follow_focus(self) -> None:
        # read the focus as it is now: a move inside the frame posts a blur and a focus, in
        # an order that depends on which widget handled its own event first
        inside = self.has_focus_within
        if inside != self.has_class(FOCUS_WITHIN):
            self.set_class(inside, FOCUS_WITHIN, update=False)
            self.app.stylesheet.update_nodes([self], animate=True)
