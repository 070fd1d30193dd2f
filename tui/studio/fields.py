"""Which widgets take printable keys as text: the screens' key rules and the key bar share it."""

from __future__ import annotations

from textual.widget import Widget
from textual.widgets import Input, Select, TextArea

# widgets that take printable keys as text (a Select's open menu searches as you type)
TEXT_FIELDS = (Input, TextArea, Select)


def in_text_field(widget: Widget | None) -> bool:
    """Whether keys typed now go into a field (an Input, a TextArea, a Select or its menu)."""
    return widget is not None and any(
        isinstance(node, TEXT_FIELDS) for node in widget.ancestors_with_self
    )
