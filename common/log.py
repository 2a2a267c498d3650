"""Logging setup, called only by entry points (the CLI, worker mains)."""

from __future__ import annotations

import logging
import sys


def configure(verbose: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.WARNING
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
