"""Progress reporting: a callback type the engine calls, and a text bar for terminals.

Long operations (training, scoring a large file) take ``progress: Progress``,
a function of a fraction in [0, 1] and a short message. The CLI passes a
:class:`TextProgress`; the dashboard passes one that moves ``st.progress``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress", "TextProgress", "no_progress"]

Progress = Callable[[float, str], None]


def no_progress(fraction: float, message: str) -> None:
    """A progress callback that does nothing."""


class TextProgress:
    """A one-line progress bar on a terminal (or plain lines when not a terminal)."""

    def __init__(self, stream: TextIO | None = None, width: int = 30):
        self.stream = stream or sys.stderr
        self.width = width
        self.start = time.monotonic()
        self.last_message = ""
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, fraction: float, message: str) -> None:
        """Draw the bar at ``fraction`` with ``message``."""
        fraction = min(max(fraction, 0.0), 1.0)
        filled = int(round(fraction * self.width))
        bar = "█" * filled + "·" * (self.width - filled)
        elapsed = time.monotonic() - self.start
        line = f"[{bar}] {fraction:4.0%} {elapsed:5.1f}s  {message}"
        if self.tty:
            self.stream.write("\r" + line[:120].ljust(120))
            if fraction >= 1.0:
                self.stream.write("\n")
        elif message != self.last_message:
            self.stream.write(line + "\n")
        self.stream.flush()
        self.last_message = message
