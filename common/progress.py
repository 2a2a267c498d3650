"""A tiny progress reporter for long work, written to stderr by the CLI.

The core never prints: it accepts a ``Progress`` and calls it; the CLI passes one
that writes to the terminal, tests pass :data:`SILENT`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

Reporter = Callable[[str], None]


class Progress:
    """Step-wise progress lines with elapsed time."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool = True) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self._t0 = time.monotonic()

    def __call__(self, message: str) -> None:
        if not self.enabled:
            return
        elapsed = time.monotonic() - self._t0
        self.stream.write(f"[{elapsed:6.1f}s] {message}\n")
        self.stream.flush()


SILENT = Progress(enabled=False)
