"""Frozen configuration of the seed loader and the live traffic generator."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from generator.exceptions import GeneratorConfigError

#: Row counts of every source table at scale 1.0 (data contract, section 1).
BASE_COUNTS: dict[str, int] = {
    "customers": 100_000,
    "products": 50_000,
    "marketing_campaigns": 10_000,
    "orders": 500_000,
    "order_items": 1_500_000,
    "inventory_transactions": 200_000,
}

DEFAULT_SEED = 42
DEFAULT_DIRTY_RATE = 0.001


def today_utc_midnight() -> dt.datetime:
    """Today's UTC date at 00:00, as a naive UTC datetime (the default anchor)."""
    return dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time())


def scaled_counts(scale: float) -> dict[str, int]:
    """Every base count multiplied by ``scale``, rounded half-up, at least 1.

    order_items is kept at least the number of orders (every order has one item).
    """
    counts = {t: max(1, math.floor(n * scale + 0.5)) for t, n in BASE_COUNTS.items()}
    counts["order_items"] = max(counts["order_items"], counts["orders"])
    return counts


def _check_rate(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0 or math.isnan(value):
        raise GeneratorConfigError(
            f"{name}={value} is out of range [0, 1]", hint=f"pass {name} between 0 and 1"
        )


@dataclass(frozen=True)
class SeedConfig:
    """Options of ``ecom generate seed``.

    Identical output needs the same ``seed`` **and** the same ``anchor``: every date
    is placed relative to the anchor (default: today's UTC midnight).
    """

    scale: float = 1.0
    seed: int = DEFAULT_SEED
    dirty_rate: float = DEFAULT_DIRTY_RATE
    truncate: bool = False
    #: Naive UTC datetime; orders fall in the two years before it.
    anchor: dt.datetime = field(default_factory=today_utc_midnight)
    #: Rows per COPY batch (one progress line per batch).
    batch_rows: int = 250_000

    def __post_init__(self) -> None:
        if not (self.scale > 0) or math.isinf(self.scale):
            raise GeneratorConfigError(
                f"--scale must be a positive number, got {self.scale}",
                hint="e.g. --scale 0.01 for 1% of the full size",
            )
        _check_rate("--dirty-rate", self.dirty_rate)
        if self.seed < 0:
            raise GeneratorConfigError(f"--seed must be >= 0, got {self.seed}")
        if self.batch_rows < 1:
            raise GeneratorConfigError(f"batch_rows must be >= 1, got {self.batch_rows}")
        if self.anchor.tzinfo is not None:
            raise GeneratorConfigError("anchor must be a naive UTC datetime")

    @property
    def counts(self) -> dict[str, int]:
        return scaled_counts(self.scale)


@dataclass(frozen=True)
class LiveConfig:
    """Options of ``ecom generate live``."""

    #: Target row changes per second (rows touched, cascade-deleted items included).
    rate: float = 500.0
    #: Stop after this many seconds; None runs until stopped.
    duration: float | None = None
    seed: int | None = None
    dirty_rate: float = DEFAULT_DIRTY_RATE
    #: Seconds between two rate reports.
    report_every: float = 5.0
    #: Asynchronous commit for the generator's session (safe: at worst the last
    #: few generated transactions are lost on a server crash, never half of one).
    synchronous_commit: bool = False
    #: Concurrent sessions (connections), each applying its share of the rate.
    connections: int = 4

    def __post_init__(self) -> None:
        if not 1 <= self.connections <= 64:
            raise GeneratorConfigError(
                f"--connections must be between 1 and 64, got {self.connections}",
                hint="e.g. --connections 4",
            )
        if not (self.rate > 0) or math.isinf(self.rate):
            raise GeneratorConfigError(
                f"--rate must be a positive number of row changes per second, got {self.rate}",
                hint="e.g. --rate 500",
            )
        if self.duration is not None and not (self.duration > 0):
            raise GeneratorConfigError(
                f"--duration must be a positive number of seconds, got {self.duration}",
                hint="omit --duration to run until Ctrl-C",
            )
        _check_rate("--dirty-rate", self.dirty_rate)
        if self.report_every <= 0:
            raise GeneratorConfigError(f"report_every must be > 0, got {self.report_every}")
