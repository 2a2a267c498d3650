"""Synthetic source data: ``generate seed`` (bulk COPY load) and ``generate live`` (traffic).

Entry points for the CLI: :func:`load_seed` and :func:`run_live`.
"""

from __future__ import annotations

from generator.configuration import LiveConfig, SeedConfig, scaled_counts, today_utc_midnight
from generator.live import LiveReport, LiveSummary
from generator.live import run as run_live
from generator.seed import SeedResult
from generator.seed import load as load_seed

__all__ = [
    "LiveConfig",
    "LiveReport",
    "LiveSummary",
    "SeedConfig",
    "SeedResult",
    "load_seed",
    "run_live",
    "scaled_counts",
    "today_utc_midnight",
]
