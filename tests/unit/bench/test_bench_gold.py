"""bench/bench_gold.py: the comparison of the full builds with the two pandas baselines
and the targets, and the parsing of the rebuild's output (no stack)."""

from __future__ import annotations

from typing import Any

from bench import bench_gold


def _m(first: float, second: float, to_sql: float | None, copy: float | None) -> dict[str, Any]:
    def base(s: float | None) -> dict[str, Any]:
        return {"measured": s is not None, "wall_s": s, "peak_rss_mb": 900.0}

    return {
        "rebuild": {
            "first": {"wall_s": first, "peak_rss_mb": 500.0},
            "second": {"wall_s": second, "peak_rss_mb": 5000.0},
            "incremental_unchanged": {"wall_s": 0.5, "peak_rss_mb": 100.0},
        },
        "baseline_pandas": base(to_sql),
        "baseline_pandas_copy": base(copy),
    }


def test_targets_by_scale_and_the_ratio_over_pandas_copy() -> None:
    c = bench_gold.comparison(1.0, _m(8.0, 5.0, 60.0, 12.0))
    assert c["ratio_pandas_over_rebuild_first"] == 7.5
    assert c["ratio_pandas_copy_over_rebuild_first"] == 1.5
    assert c["ratio_pandas_copy_over_rebuild_second"] == 2.4
    assert c["target_met_first"] is True and c["target_ratio_met"] is True
    tiny = bench_gold.comparison(0.05, _m(3.5, 1.0, None, None))
    assert tiny["targets"] == {"rebuild_s": 3}
    assert tiny["target_met_first"] is False and tiny["target_met_second"] is True
    assert tiny["pandas_copy_s"] is None and tiny["ratio_pandas_copy_over_rebuild_first"] is None
    big = bench_gold.comparison(10.0, _m(50.0, 40.0, 500.0, 90.0))
    assert big["target_met_second"] is False  # 5,000 MB peak > 4 GB
    assert bench_gold.comparison(0.1, _m(1.0, 1.0, 2.0, 2.0))["targets"] is None


def test_incremental_after_traffic_is_compared_with_its_target() -> None:
    m = _m(8.0, 5.0, 60.0, 12.0)
    m["incremental_after_traffic"] = {"rebuild": {"wall_s": 6.1}}
    c = bench_gold.comparison(1.0, m)
    assert c["incremental_after_traffic_s"] == 6.1 and c["target_incremental_met"] is False


def test_rebuild_output_parsing() -> None:
    lines = [
        "[   0.1s] gold rebuild #7 as of 2026-11-01, newest lake (staging schema gold_build_7)",
        "[   0.9s] current state orders: 1,200 rows from 1,500 changes (version 3)",
        "[   1.0s] customer history: 420 versions",
        "[   1.2s] gold: computing the gold tables in DuckDB",
        "[   2.0s] swap: new gold is live in public",
    ]
    got = bench_gold.parse_rebuild(lines)
    assert got["state"] == {"orders": {"current_rows": 1200, "silver_versions": 1500}}
    assert got["customer_history_versions"] == 420
    assert got["steps_from_progress"] == {"current_state_s": 1.1, "gold_sql_s": 0.8}
    assert bench_gold._KIND_RE.search("gold build #8 as of 2026-11-01 (incremental) done in 0.4s")
    assert bench_gold._NEW_RE.search("[  0.2s] new changes orders: 1,234 rows (version 9)")


def test_the_parts_of_a_full_build() -> None:
    """A full build keeps its state beside the load: the swap waits for it."""
    lines = [
        "[   0.1s] gold rebuild #7 as of 2026-11-01, newest lake (staging schema gold_build_7)",
        "[   2.0s] gold: computing the gold tables in DuckDB",
        "[   3.5s]   dim_customers: 100,000 rows",
        "[   3.5s]   dim_products: 50,000 rows",
        "[   5.0s] load: 7 gold tables copied into gold_build_7",
        "[   5.5s] state: kept in s3://gold-state/gold_state/ecommerce_gold (7 tables written)",
        "[   5.6s] swap: new gold is live in public",
        "gold build #7 as of 2026-11-01 (full) done in 6.0s",
    ]
    got = bench_gold.parse_rebuild(lines)["steps_from_progress"]
    assert got == {"current_state_s": 1.9, "gold_sql_s": 3.6, "gold_compute_s": 1.5,
                   "load_s": 1.5, "state_wait_s": 0.5, "swap_s": 0.1, "after_swap_s": 0.4}  # fmt: skip


def test_the_parts_of_an_incremental_build() -> None:
    lines = [
        "[   0.0s] gold rebuild #8 as of 2026-12-01, newest lake (staging schema gold_build_8)",
        "[   0.1s] incremental build from the state of build #7",
        "[   0.5s] new changes customers: 15,194 rows (version 188)",
        "[   1.2s] new changes inventory_transactions: 150,902 rows (version 186)",
        "[   2.3s] state: changed keys customers 6,861, products 40,138; history of 14,720 customers",
        "[   4.5s] gold: recomputed dim_customers 42,435 keys (42,435 rows)",
        "[   4.6s] state: kept in s3://gold-state/gold_state/ecommerce_gold (7 tables written)",
        "[   5.4s] swap: changed gold rows are live in public",
        "gold build #8 as of 2026-12-01 (incremental) done in 5.5s",
    ]
    got = bench_gold.parse_rebuild(lines)["steps_from_progress"]
    assert got == {"after_swap_s": 0.1, "read_s": 1.1, "merge_s": 1.1, "recompute_s": 2.2,
                   "apply_s": 0.9}  # fmt: skip
