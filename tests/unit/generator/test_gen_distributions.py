"""Sampling rules of generator.distributions: deterministic with a seed, no services."""

from __future__ import annotations

import numpy as np
import pytest

from generator import distributions as d


def rng(seed: int = 1) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_zipf_weights_sum_to_one_and_decrease() -> None:
    w = d.zipf_weights(1000)
    assert w.sum() == pytest.approx(1.0)
    assert np.all(np.diff(w) < 0)
    # a few best sellers: top 1% of ranks carry far more than 1% of the mass
    assert w[:10].sum() > 0.05


def test_zipf_weights_rejects_empty() -> None:
    with pytest.raises(ValueError):
        d.zipf_weights(0)


def test_popularity_is_a_permutation_of_zipf() -> None:
    p = d.popularity(rng(), 500)
    assert np.allclose(np.sort(p), np.sort(d.zipf_weights(500)))
    assert np.argmax(p) != 0 or np.argmax(d.popularity(rng(2), 500)) != 0


def test_day_weights_weekly_and_seasonal_pattern() -> None:
    first = np.datetime64("2023-01-02")  # a Monday
    w = d.day_weights(first, 730)
    assert w.sum() == pytest.approx(1.0)
    # Saturday above Wednesday in the same week
    assert w[5] > w[2]
    # mid-December busier than mid-July of the same year
    dec = (np.datetime64("2023-12-15") - first).astype(int)
    jul = (np.datetime64("2023-07-15") - first).astype(int)
    assert w[dec] > 1.3 * w[jul]


def test_sample_timestamps_in_range_and_deterministic() -> None:
    first = np.datetime64("2024-01-01")
    w = d.day_weights(first, 10)
    a = d.sample_timestamps(rng(5), 1000, first, w)
    b = d.sample_timestamps(rng(5), 1000, first, w)
    assert np.array_equal(a, b)
    assert a.min() >= first.astype("datetime64[s]")
    assert a.max() < (first + np.timedelta64(10, "D")).astype("datetime64[s]")
    hours = (a.astype(np.int64) // 3600) % 24
    assert np.sum(hours == 20) > 3 * np.sum(hours == 3)  # evening peak, quiet night


def test_status_by_age_old_orders_closed_recent_open() -> None:
    r = rng()
    old = d.status_by_age(r, np.full(5000, 400.0))
    assert set(np.unique(old)) <= {d.DELIVERED, d.CANCELLED}
    assert 0.85 < np.mean(old == d.DELIVERED) < 0.97
    new = d.status_by_age(r, np.full(5000, 0.5))
    assert not np.any(new == d.DELIVERED)
    assert np.mean(np.isin(new, [d.PENDING, d.PROCESSING, d.SHIPPED])) > 0.9


@pytest.mark.parametrize(("n", "total"), [(1, 1), (10, 10), (100, 300), (1000, 2500), (50, 400)])
def test_exact_counts_sum_and_minimum(n: int, total: int) -> None:
    c = d.exact_counts(rng(), n, total, extra_mean=total / n - 1)
    assert c.sum() == total
    assert c.min() >= 1
    assert len(c) == n


def test_exact_counts_rejects_impossible_total() -> None:
    with pytest.raises(ValueError):
        d.exact_counts(rng(), 10, 9, extra_mean=0.0)


def test_weighted_prefix_choice_stays_in_prefix() -> None:
    cum = np.cumsum(np.ones(100))
    eligible = np.array([1, 5, 50, 100] * 250)
    idx = d.weighted_prefix_choice(rng(), cum, eligible)
    assert np.all(idx < eligible)
    assert np.all(idx[eligible == 1] == 0)
    assert len(np.unique(idx[eligible == 100])) > 50


def test_weighted_prefix_choice_follows_weights() -> None:
    weights = np.array([1.0, 9.0])
    idx = d.weighted_prefix_choice(rng(), np.cumsum(weights), np.full(10000, 2))
    assert 0.87 < np.mean(idx == 1) < 0.93


def test_active_choice_only_active_items() -> None:
    starts = np.array([0, 10, 20])
    ends = np.array([9, 19, 25])  # nothing active on days 26..29
    days = np.repeat(np.arange(30), 200)
    pick = d.active_choice(rng(), days, starts, ends, 30, share=0.5)
    chosen = pick >= 0
    assert 0.35 < chosen[days < 26].mean() < 0.65
    assert not chosen[days >= 26].any()
    assert np.all(starts[pick[chosen]] <= days[chosen])
    assert np.all(days[chosen] <= ends[pick[chosen]])


def test_dirty_mask_rate_and_forced_minimum() -> None:
    m = d.dirty_mask(rng(), 100_000, 0.01)
    assert 800 < m.sum() < 1200
    small = d.dirty_mask(rng(), 10, 0.001)
    assert small.sum() == 1  # forced at least one
    assert d.dirty_mask(rng(), 10, 0.0).sum() == 0
    exclude = np.arange(10) < 9
    forced = d.dirty_mask(rng(), 10, 0.001, exclude=exclude)
    assert forced.tolist() == [False] * 9 + [True]


def test_running_floor_fix_keeps_running_stock_nonnegative() -> None:
    group = np.array([0, 0, 0, 1, 1, 2])
    delta = np.array([5, -8, 2, 3, -1, -4])
    _, first = np.unique(group, return_index=True)
    fix = d.running_floor_fix(group, delta, first)
    assert fix.tolist() == [3, 0, 4]
    fixed = delta.copy()
    fixed[first] += fix
    for g in range(3):
        assert np.cumsum(fixed[group == g]).min() >= 0
