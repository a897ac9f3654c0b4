"""Table helpers shared by the screens: record text in a ``DataTable`` cell."""

from __future__ import annotations

from rich.text import Text

from screens.widgets import plain


def cell(value: object, width: int) -> Text:
    """Record text for one table cell: literal, one line, at most ``width`` cells wide."""
    text = plain(str(value or "").replace("\n", " ").replace("\t", " "))
    text.no_wrap = True
    text.truncate(width, overflow="ellipsis")
    return text
