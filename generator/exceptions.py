"""Errors of the generator stage; all derive from :mod:`common.errors`."""

from __future__ import annotations

from common.errors import ConfigError, TerminalError


class GeneratorConfigError(ConfigError):
    """A generator option is out of range (scale, rate, dirty rate, duration...)."""


class SourceUnavailableError(TerminalError):
    """The source database cannot be reached (stack down, wrong port or credentials)."""


class SchemaMissingError(TerminalError):
    """The source tables are absent: ``ecom db init`` has not run."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(
            f"source schema incomplete: table(s) {', '.join(missing)} missing",
            hint="run `ecom db init`",
        )
        self.missing = missing


class NotEmptyError(TerminalError):
    """``generate seed`` refuses to load into tables that already hold rows."""

    def __init__(self, counts: dict[str, int]) -> None:
        listed = ", ".join(f"{t}" for t, n in counts.items() if n)
        super().__init__(
            f"source database is not empty (rows in: {listed})",
            hint="re-run with --truncate to empty the six source tables first",
        )
        self.counts = counts


class LoadError(TerminalError):
    """The seed load failed; the transaction was rolled back, nothing was loaded."""
