"""Logging setup, called only by entry points (the CLI, worker mains)."""

from __future__ import annotations

import logging
import sys

from common.kafka import LOGGER_NAME as LIBRDKAFKA


def configure(verbose: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.WARNING
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # librdkafka reports connection retries and shutdown housekeeping at every level;
    # the CLI turns real failures into its own one-line errors, so these are for --debug.
    logging.getLogger(LIBRDKAFKA).setLevel(logging.DEBUG if verbose else logging.CRITICAL + 1)
