"""Vectorised sampling rules of the synthetic data (pure numpy, no I/O).

Every function takes a ``numpy.random.Generator`` so that a seed fixes the output.
Timestamps are ``datetime64[s]`` naive UTC; money is integer cents.
"""

from __future__ import annotations

import numpy as np

SECONDS_PER_DAY = 86_400

#: Monday..Sunday relative order volume (weekends busier online).
WEEKDAY_FACTORS = np.array([1.00, 0.95, 0.93, 0.97, 1.05, 1.22, 1.18])

#: Relative order volume per UTC hour (quiet nights, evening peak).
HOUR_FACTORS = np.array(
    [0.9, 0.5, 0.3, 0.2, 0.2, 0.3, 0.5, 0.9, 1.3, 1.6, 1.8, 1.9,
     2.0, 2.0, 1.9, 1.9, 2.0, 2.2, 2.5, 2.8, 2.9, 2.6, 2.0, 1.4]
)  # fmt: skip

#: Order status codes, the order of :data:`generator.pools.ORDER_STATUSES`.
PENDING, PROCESSING, SHIPPED, DELIVERED, CANCELLED = range(5)

#: (max age in days, probabilities of Pending/Processing/Shipped/Delivered/Cancelled).
STATUS_BY_AGE: tuple[tuple[float, tuple[float, ...]], ...] = (
    (2.0, (0.50, 0.35, 0.10, 0.00, 0.05)),
    (7.0, (0.05, 0.20, 0.55, 0.15, 0.05)),
    (30.0, (0.00, 0.02, 0.15, 0.76, 0.07)),
    (float("inf"), (0.00, 0.00, 0.00, 0.92, 0.08)),
)


def zipf_weights(n: int, exponent: float = 0.8) -> np.ndarray:
    """Probabilities proportional to ``1 / rank**exponent`` for ranks 1..n."""
    if n < 1:
        raise ValueError("n must be >= 1")
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** exponent
    return w / w.sum()


def popularity(rng: np.random.Generator, n: int, exponent: float = 0.8) -> np.ndarray:
    """Zipf-like probability per item, best sellers scattered over the ids."""
    return zipf_weights(n, exponent)[rng.permutation(n)]


def day_weights(first_day: np.datetime64, n_days: int) -> np.ndarray:
    """Relative volume of each of ``n_days`` days starting at ``first_day``.

    Weekly pattern x seasonality (November/December peak, summer dip) x a steady
    growth trend over the period. Deterministic: no randomness.
    """
    days = first_day.astype("datetime64[D]") + np.arange(n_days)
    # 1970-01-01 was a Thursday: weekday index 0 = Monday.
    weekday = (days.astype(np.int64) + 3) % 7
    day_of_year = (days - days.astype("datetime64[Y]")).astype(np.int64)
    season = 1.0 + 0.25 * np.cos(2 * np.pi * (day_of_year - 340) / 365.25)
    # Black Friday to Christmas: an extra bump.
    season += np.where((day_of_year >= 326) & (day_of_year <= 358), 0.6, 0.0)
    trend = 1.0 + 0.4 * np.arange(n_days) / max(1, n_days - 1)
    w = WEEKDAY_FACTORS[weekday] * season * trend
    return w / w.sum()


def sample_timestamps(
    rng: np.random.Generator, n: int, first_day: np.datetime64, weights: np.ndarray
) -> np.ndarray:
    """``n`` timestamps: day from ``weights`` (one per day), hour from :data:`HOUR_FACTORS`."""
    day = rng.choice(len(weights), size=n, p=weights)
    hour_p = HOUR_FACTORS / HOUR_FACTORS.sum()
    hour = rng.choice(24, size=n, p=hour_p)
    second = rng.integers(0, 3600, size=n)
    start = first_day.astype("datetime64[D]").astype("datetime64[s]")
    offset = day.astype(np.int64) * SECONDS_PER_DAY + hour * 3600 + second
    return start + offset.astype("timedelta64[s]")


def status_by_age(rng: np.random.Generator, age_days: np.ndarray) -> np.ndarray:
    """Status code per order from its age: old ones Delivered/Cancelled, recent ones open."""
    bounds = np.array([b for b, _ in STATUS_BY_AGE])
    probs = np.array([p for _, p in STATUS_BY_AGE])
    bucket = np.searchsorted(bounds, age_days, side="right")
    bucket = np.minimum(bucket, len(bounds) - 1)
    cum = np.cumsum(probs, axis=1)[bucket]
    u = rng.random(len(age_days))[:, None]
    return (u >= cum[:, :-1]).sum(axis=1).astype(np.int8)


def exact_counts(rng: np.random.Generator, n: int, total: int, *, extra_mean: float) -> np.ndarray:
    """``n`` counts >= 1 (1 + Poisson(extra_mean), adjusted) summing exactly to ``total``."""
    if total < n:
        raise ValueError(f"total {total} < n {n}: every group needs at least one")
    counts = 1 + rng.poisson(extra_mean, size=n).astype(np.int64)
    diff = total - int(counts.sum())
    if diff > 0:
        counts += np.bincount(rng.integers(0, n, size=diff), minlength=n)
    elif diff < 0:
        # remove one unit from -diff distinct "removable" slots (never below 1)
        owners = np.repeat(np.arange(n), counts - 1)
        drop = rng.choice(len(owners), size=-diff, replace=False)
        counts -= np.bincount(owners[drop], minlength=n)
    return counts


def weighted_prefix_choice(
    rng: np.random.Generator, cum_weights: np.ndarray, eligible: np.ndarray
) -> np.ndarray:
    """For each draw, an index in ``[0, eligible)`` chosen with the given weights.

    ``cum_weights`` is the cumulative sum of per-item weights; ``eligible`` (>= 1)
    is how many leading items a draw may pick (e.g. customers registered so far).
    """
    limit = cum_weights[eligible - 1]
    target = rng.random(len(eligible)) * limit
    idx = np.searchsorted(cum_weights, target, side="right")
    return np.minimum(idx, eligible - 1)


def active_choice(
    rng: np.random.Generator,
    day_idx: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    n_days: int,
    share: float,
) -> np.ndarray:
    """Pick, for ``share`` of the draws, an item active on that day; -1 otherwise.

    ``starts``/``ends`` are inclusive day indexes of each item (e.g. campaigns);
    draws on a day with no active item get -1.
    """
    lo = np.clip(starts, 0, n_days)
    hi = np.clip(ends + 1, 0, n_days)
    length = np.maximum(hi - lo, 0)
    item = np.repeat(np.arange(len(starts)), length)
    first = np.repeat(lo - np.cumsum(length) + length, length)
    day = first + np.arange(len(item))  # day covered by each (item, day) pair
    order = np.argsort(day, kind="stable")
    item, day = item[order], day[order]
    offsets = np.searchsorted(day, np.arange(n_days + 1))
    count = offsets[day_idx + 1] - offsets[day_idx]
    wanted = rng.random(len(day_idx)) < share
    pick = offsets[day_idx] + (rng.random(len(day_idx)) * np.maximum(count, 1)).astype(np.int64)
    result = np.where(wanted & (count > 0), item[np.minimum(pick, max(len(item) - 1, 0))], -1)
    return result.astype(np.int64)


def dirty_mask(
    rng: np.random.Generator, n: int, rate: float, exclude: np.ndarray | None = None
) -> np.ndarray:
    """Rows picked at ``rate``, at least one when ``rate > 0`` (never an excluded row)."""
    mask = rng.random(n) < rate
    if exclude is not None:
        mask &= ~exclude
    if rate > 0 and not mask.any():
        allowed = np.flatnonzero(~exclude) if exclude is not None else np.arange(n)
        if len(allowed):
            mask[allowed[rng.integers(len(allowed))]] = True
    return mask


def running_floor_fix(group: np.ndarray, delta: np.ndarray, first_idx: np.ndarray) -> np.ndarray:
    """Amount to add to each group's first row so its running sum never goes below 0.

    ``group`` is sorted, ``delta`` the signed change of each row, ``first_idx`` the
    index of the first row of each group (as from ``np.unique(..., return_index)``).
    """
    running = np.cumsum(delta)
    base = np.concatenate(([0], running[first_idx[1:] - 1]))
    per_group_base = base[np.searchsorted(first_idx, np.arange(len(group)), side="right") - 1]
    local = running - per_group_base
    minimum = np.minimum.reduceat(local, first_idx)
    return np.maximum(-minimum, 0)
