"""The one live line of a terminal: partial results redrawn in place, never wider than the terminal.

`\r\033[K` returns to the start of the line and clears it, but a line wider than the terminal wraps onto
the next screen line, which the next redraw does not clear: the screen fills with copies. So a partial is
cut to its tail (the words being spoken) to fit the width, taken afresh at every redraw (resizes).
"""

from __future__ import annotations

import shutil
import sys
from typing import TextIO

ERASE = "\r\033[K"
ELLIPSIS = "\u2026"


def fit_tail(text: str, width: int) -> str:
    """`text`, or `…` and its last width - 1 characters when it is longer than `width`."""
    if width < 1:
        return ""
    if len(text) <= width:
        return text
    return ELLIPSIS + text[len(text) - width + 1:] if width > 1 else text[-1:]


class LiveLine:
    """Draws partials on one line of `out` when `enabled` (a terminal), prints finals above it."""

    def __init__(self, enabled: bool, out: TextIO | None = None) -> None:
        self.enabled = enabled
        self.out = out if out is not None else sys.stdout
        self._shown = False

    def width(self) -> int:
        # One column spare: writing into the last column makes some terminals wrap at once.
        return max(1, shutil.get_terminal_size((80, 24)).columns - 1)

    def show(self, text: str, prefix: str = "") -> None:
        """Redraws the line as `prefix` and the tail of `text` that fits after it."""
        if not self.enabled:
            return
        line = fit_tail(prefix + text, self.width()) if len(prefix) >= self.width() else \
            prefix + fit_tail(text, self.width() - len(prefix))
        self.out.write(ERASE + line)
        self.out.flush()
        self._shown = True

    def print(self, line: str) -> None:
        """A final line: replaces the live one (which is drawn again by the next `show`)."""
        self.clear()
        print(line, file=self.out, flush=True)

    def clear(self) -> None:
        if self._shown:
            self.out.write(ERASE)
            self.out.flush()
            self._shown = False
