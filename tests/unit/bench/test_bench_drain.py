"""The drain bench's pure parts: the workers' environment and the figures."""

from __future__ import annotations

import pytest

from bench import bench_drain, drain_baseline


def test_workers_get_a_group_and_buckets_of_their_own_plus_extra_env() -> None:
    env = bench_drain.worker_env(["ECOM_X=1"], "ab12")
    assert env == {
        "ECOM_STREAM_APP_ID": "bench-drain-ab12",
        "ECOM_BRONZE_BUCKET": "bronze-ab12",
        "ECOM_SILVER_BUCKET": "silver-ab12",
        "ECOM_X": "1",
    }
    with pytest.raises(SystemExit):
        bench_drain.worker_env(["nope"], "ab12")


def test_figures_give_the_ratio_cpu_per_event_and_the_goals_met() -> None:
    run = bench_drain.Drain(events=100_000, seconds=10.0, cpu_s=[1.5, 2.0],
                            peak_rss_mb=[300.0, 1100.0])  # fmt: skip
    base = {"messages_per_s": 25_000}
    f = bench_drain.figures(5.0, base, run)
    assert f["workers"]["events_per_s"] == 10_000
    assert f["workers"]["worker_cpu_us_per_event"] == 35.0
    assert f["drain_to_baseline_ratio"] == 0.4
    assert f["met"] == {"ratio": False, "cpu": True, "rss": False}


def test_an_unfinished_drain_has_no_rate_and_meets_nothing() -> None:
    f = bench_drain.figures(None, None, bench_drain.Drain(events=10))
    assert f["drain_to_baseline_ratio"] is None
    assert f["met"] == {"ratio": False, "cpu": False, "rss": False}


def test_baseline_row_keeps_the_after_image_and_the_coordinates() -> None:
    class Msg:
        def __init__(self, value: bytes | None) -> None:
            self._v = value

        def value(self) -> bytes | None:
            return self._v

        def partition(self) -> int:
            return 2

        def offset(self) -> int:
            return 7

    row = drain_baseline._row(Msg(b'{"op":"c","before":null,"after":{"id":1}}'))
    assert row == {"id": 1, "_op": "c", "_partition": 2, "_offset": 7}
    gone = drain_baseline._row(Msg(b'{"op":"d","before":{"id":3},"after":null}'))
    assert gone["id"] == 3 and gone["_op"] == "d"
    assert drain_baseline._row(Msg(None)) == {"_op": None, "_partition": 2, "_offset": 7}
