"""Errors of the stream stage: transient ones are retried in place, terminal ones stop the
worker before anything is committed."""

from __future__ import annotations

from common.errors import TerminalError


class LakeWriteFailed(TerminalError):
    """A lake write cannot succeed (credentials, missing bucket, retries exhausted)."""


class WorkerError(TerminalError):
    """Starting, stopping or finding stream workers failed."""


class SilverProduceFailed(TerminalError):
    """Silver records were not acknowledged by Kafka in time (the batch is not committed)."""


class SchemaIdFailed(TerminalError):
    """The schema registry gave no id for a silver schema in time (the batch is not
    committed)."""
