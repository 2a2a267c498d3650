"""Option validation and scaled counts of generator.configuration."""

from __future__ import annotations

import datetime as dt

import pytest

from common.errors import ConfigError, EcomError
from generator.configuration import BASE_COUNTS, LiveConfig, SeedConfig, scaled_counts


def test_scale_one_is_the_contract_size() -> None:
    assert scaled_counts(1.0) == {
        "customers": 100_000,
        "products": 50_000,
        "marketing_campaigns": 10_000,
        "orders": 500_000,
        "order_items": 1_500_000,
        "inventory_transactions": 200_000,
    }


def test_scale_multiplies_rounds_and_keeps_one() -> None:
    assert scaled_counts(0.01)["orders"] == 5_000
    assert scaled_counts(0.000015)["marketing_campaigns"] == 1  # 0.15 -> min 1
    assert scaled_counts(0.000025)["products"] == 1  # 1.25 -> 1
    assert scaled_counts(0.5)["order_items"] == 750_000
    tiny = scaled_counts(1e-9)
    assert all(v >= 1 for v in tiny.values())
    assert tiny["order_items"] >= tiny["orders"]
    assert set(tiny) == set(BASE_COUNTS)


@pytest.mark.parametrize("scale", [0, -1, float("nan"), float("inf")])
def test_bad_scale_is_a_config_error(scale: float) -> None:
    with pytest.raises(ConfigError, match="--scale"):
        SeedConfig(scale=scale)


@pytest.mark.parametrize("rate", [-0.1, 1.5])
def test_bad_dirty_rate(rate: float) -> None:
    with pytest.raises(ConfigError, match="dirty-rate"):
        SeedConfig(dirty_rate=rate)
    with pytest.raises(ConfigError, match="dirty-rate"):
        LiveConfig(dirty_rate=rate)


@pytest.mark.parametrize("rate", [0, -5, float("inf")])
def test_bad_live_rate(rate: float) -> None:
    with pytest.raises(EcomError, match="--rate") as info:
        LiveConfig(rate=rate)
    assert info.value.hint


def test_bad_duration() -> None:
    with pytest.raises(ConfigError, match="--duration"):
        LiveConfig(duration=0)


@pytest.mark.parametrize("n", [0, -1, 65])
def test_bad_connections(n: int) -> None:
    with pytest.raises(ConfigError, match="--connections"):
        LiveConfig(connections=n)


def test_anchor_must_be_naive_utc() -> None:
    with pytest.raises(ConfigError):
        SeedConfig(anchor=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))


def test_config_is_frozen() -> None:
    c = SeedConfig(anchor=dt.datetime(2025, 1, 1))
    with pytest.raises(AttributeError):
        c.scale = 2.0  # type: ignore[misc]
