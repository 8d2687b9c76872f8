"""The Rich console every command draws with: user strings on it are text, never markup.

Pipeline names, parameters, image names, paths and error details are the user's (or a
loader's) strings. On a default Rich console ``prefix[abc123]suffix`` would lose its
``[abc123]``, ``:b:`` would become an emoji, ``[/x]`` would raise, and an escape sequence
would reach the terminal. Here no string is read as markup or emoji, and everything drawn,
strings and ``Text`` alike, is ``printable``; styles come from ``Text`` and ``Style`` objects.
Imports Rich: ``orecart.cli.base`` makes one only when first asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.text import Text

from orecart.cli.text import printable


class TextConsole(Console):
    """A console that draws every string as the text it is (see the module docstring)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**{"highlight": False, **options, "markup": False, "emoji": False})

    def render_str(self, text: str, **options: Any) -> Text:
        """The string as plain text, whatever a caller asks: cleaned before it is measured,
        so a table's columns fit what is shown."""
        options.update(markup=False, emoji=False)
        return super().render_str(printable(text), **options)

    def render(self, renderable: RenderableType,
               options: ConsoleOptions | None = None) -> Iterable[Segment]:
        """Every segment of text, also of ``Text`` built elsewhere, without control
        sequences; the console's own (cursor moves of the live view) are kept."""
        for segment in super().render(renderable, options):
            text = segment.text if segment.control is None else ""
            clean = printable(text)
            yield segment if clean == text else Segment(clean, segment.style)
