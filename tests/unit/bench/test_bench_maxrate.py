"""The max-rate ramp's pure parts: lag slope, bounded steps and the verdict."""

from __future__ import annotations

import pytest

from bench import bench_maxrate as mr


def test_slope_is_the_least_squares_growth() -> None:
    assert mr.slope([(0.0, 100), (2.0, 300), (4.0, 500)]) == pytest.approx(100.0)
    assert mr.slope([(0.0, 5)]) == 0.0
    assert mr.slope([(1.0, 5), (1.0, 9)]) == 0.0


def _step(rate: float, reached: float | None, lags: list[int]) -> mr.Step:
    return mr.Step(rate=rate, reached=reached, lags=[(2.0 * i, lag) for i, lag in enumerate(lags)])


def test_a_lag_that_levels_off_is_bounded() -> None:
    step = _step(5000, 5000, [0, 4000, 9000, 9500, 9000, 9400, 9200])
    assert step.bounded
    assert step.as_dict()["max_lag"] == 9500


def test_a_lag_that_keeps_growing_is_not_bounded() -> None:
    step = _step(12000, 11900, [0, 3000, 6000, 9000, 12000, 15000, 18000])
    assert step.growth == pytest.approx(1500.0)
    assert not step.bounded


def test_a_flat_but_huge_lag_is_not_bounded() -> None:
    assert not _step(1000, 1000, [40_000, 40_000, 40_000, 40_000]).bounded


def test_no_summary_or_no_samples_is_not_bounded() -> None:
    assert not _step(1000, None, [0, 0, 0]).bounded
    assert not _step(1000, 1000, []).bounded


def test_verdict_takes_the_highest_bounded_reached_rate() -> None:
    steps = [_step(2000, 1990, [0, 10, 0, 10]), _step(4000, 3980, [0, 10, 0, 10]),
             _step(8000, 7900, [0, 9000, 18000, 27000, 36000])]  # fmt: skip
    v = mr.verdict(steps)
    assert v["max_sustained_rate"] == 3980
    assert v["ramp_ended_because"] == "lag grew at 8000 changes/s asked"
    assert not v["met"]


def test_verdict_says_when_the_generator_was_the_limit() -> None:
    v = mr.verdict([_step(20000, 12000, [0, 10, 0, 10])])
    assert v["max_sustained_rate"] == 12000 and v["met"]
    assert v["ramp_ended_because"].startswith("the generator reached only 12000")
    assert mr.verdict([])["max_sustained_rate"] is None


def test_rates_are_parsed_and_checked() -> None:
    assert mr.parse_args(["--rates", "100, 200"]).rates == [100.0, 200.0]
    with pytest.raises(SystemExit):
        mr.parse_args(["--rates", "x"])
    with pytest.raises(SystemExit):
        mr.parse_args(["--rates", "0"])


def test_a_sawtooth_of_periodic_commits_is_bounded() -> None:
    # commits every 15 s at 300 changes/s: the lag climbs to 4,500 and falls back
    lags = [(t, 300 * (t % 15)) for t in range(0, 61, 2)]
    step = mr.Step(rate=300, reached=300, lags=[(float(t), lag) for t, lag in lags])
    assert mr.slope(step.second_half) != 0  # a plain fit would read the phase as growth
    assert abs(step.growth) < mr.GROWTH_SHARE * 300
    assert step.bounded
