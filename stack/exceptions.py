"""Errors of the stack stage. Each names the cause and the setting or command that fixes it."""

from __future__ import annotations

from common.errors import TerminalError


class StackError(TerminalError):
    """A component could not be installed, started or stopped."""


class ToolMissing(StackError):
    """A required program (java, mvn, go, Postgres server) is absent or too old."""


class DownloadFailed(StackError):
    """A download or build into the cache failed; nothing partial is kept."""


class PortInUse(StackError):
    """Another process already listens on a component's port."""


class StartFailed(StackError):
    """A component's process exited or never became healthy."""
