"""Errors of the compaction / gold stage."""

from __future__ import annotations

from common.errors import TerminalError, TransientError


class GoldError(TerminalError):
    """Base of the gold stage's errors."""


class RebuildLocked(GoldError):
    """Another gold rebuild holds the advisory lock."""


class LakeMaintenanceLocked(GoldError):
    """Another ``ecom lake optimize`` or ``vacuum`` holds the lake's maintenance lock."""


class RebuildFailed(GoldError):
    """A rebuild failed; the previous gold is kept and the failure is logged."""


class LakeReadFailed(GoldError):
    """Listing or downloading lake objects failed."""


class LakeUnavailable(TransientError):
    """The lake (MinIO) did not answer; retry later."""


class VerifyMismatch(GoldError):
    """Gold does not reconcile with the source."""
