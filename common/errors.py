"""The project's one root exception and its two families.

Every error a user can act on derives from :class:`EcomError`. The CLI catches it,
prints ``error: <message>`` (plus the hint) on one line and exits 1; the traceback is
shown only with ``--debug``. Stages raise:

* :class:`TransientError` for failures that may heal on their own (a broker that is
  restarting, a timeout): callers may retry with backoff.
* :class:`TerminalError` for failures that retrying cannot fix (bad configuration, a
  missing tool, a schema mismatch): stop and alert.

Messages carry the identifiers needed to find the problem (component, table,
partition, offset, setting name).
"""

from __future__ import annotations


class EcomError(Exception):
    """Root of every error the pipeline reports to its users."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class TransientError(EcomError):
    """A failure that may succeed when retried (network blip, component restarting)."""


class TerminalError(EcomError):
    """A failure that retrying cannot fix: stop and ask a human."""


class ConfigError(TerminalError):
    """A setting is missing or invalid; the hint names the environment variable."""


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message, or its type's name when the message is empty:
    database drivers explain on several lines, and errors here are one line."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
