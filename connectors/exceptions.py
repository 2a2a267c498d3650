"""Errors of the connectors stage."""

from __future__ import annotations

from common.errors import TerminalError


class ConnectorConfigInvalid(TerminalError):
    """Connect's validation rejected a connector config; the message lists its errors."""


class ConnectorFailed(TerminalError):
    """A connector or one of its tasks is FAILED; the message carries the first trace line."""
