"""Configuration of every confluent-kafka client the project creates.

librdkafka writes its own log lines (``%6|...|BGQUEUE| ...``) straight to stderr unless
the client has a ``logger``. :func:`client_config` always sets one, so those lines go
through Python logging under the name :data:`LOGGER_NAME`: silent by default, shown with
``--debug`` (see :func:`common.log.configure`) or in a worker's log file.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from common.settings import Settings

LOGGER_NAME = "librdkafka"


def librdkafka_logger() -> logging.Logger:
    """The logger librdkafka's lines go to. It carries a NullHandler so that, where no
    logging is configured, Python's last-resort handler does not print them to stderr."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
    return logger


def client_config(
    bootstrap: Settings | str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A Producer/Consumer/AdminClient config: the bootstrap servers (from the settings,
    or given), the ``extra`` properties, and the Python logger."""
    servers = bootstrap.kafka_bootstrap if isinstance(bootstrap, Settings) else bootstrap
    return {"bootstrap.servers": servers, **(extra or {}), "logger": librdkafka_logger()}
