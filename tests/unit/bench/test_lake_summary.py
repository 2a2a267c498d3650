"""The lake benchmark's pure figures: quantiles, commit latency windows, data file counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import lake_summary as ls


def test_quantile_interpolates_between_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]  # sorted: 1 2 3 4
    assert ls.quantile(values, 0.5) == pytest.approx(2.5)
    assert ls.quantile(values, 0.0) == 1.0
    assert ls.quantile(values, 1.0) == 4.0
    assert ls.quantile(list(range(101)), 0.99) == pytest.approx(99.0)
    assert ls.quantile([7.0], 0.99) == 7.0
    assert ls.quantile([], 0.5) is None


def test_commit_latency_keeps_the_window_and_commits_with_rows() -> None:
    records = [
        {"layer": "bronze", "start": 10.0, "end": 11.0, "rows": 5},
        {"layer": "bronze", "start": 12.0, "end": 15.0, "rows": 5},
        {"layer": "silver", "start": 12.0, "end": 12.5, "rows": 5},
        {"layer": "silver", "start": 13.0, "end": 13.1, "rows": 0},  # nothing written
        {"layer": "bronze", "start": 50.0, "end": 51.0, "rows": 5},  # other window
    ]
    out = ls.commit_latency(records, since=10.0, until=20.0)
    assert out["all"]["commits"] == 3
    assert out["bronze"] == {"commits": 2, "p50_s": 2.0, "p99_s": 2.98, "max_s": 3.0}
    assert out["silver"]["p50_s"] == 0.5
    assert out["all"]["p50_s"] == 1.0
    empty = ls.commit_latency(records, since=100.0, until=200.0)
    assert empty == {"all": {"commits": 0, "p50_s": None, "p99_s": None, "max_s": None}}


def test_data_files_leave_out_delta_log_and_other_objects() -> None:
    assert ls.is_data_file("orders/commit_date=2026-11-01/part-0-abc.zstd.parquet")
    assert ls.is_data_file("orders/dt=2026-11-01/p=3/0-99.parquet")
    assert not ls.is_data_file("orders/_delta_log/00000000000000000010.checkpoint.parquet")
    assert not ls.is_data_file("orders/_delta_log/00000000000000000001.json")
    assert not ls.is_data_file("schemas/abc.avsc")


def test_file_counts_per_layer_table_and_100k_rows() -> None:
    bronze = [f"orders/commit_date=2026-11-01/part-{i}.parquet" for i in range(3)] + [
        "orders/_delta_log/00000000000000000000.json",
        "customers/commit_date=2026-11-01/part-0.parquet",
    ]
    silver = ["orders/dt=2026-11-01/p=0/0-9.parquet"]
    out = ls.file_counts({"bronze": bronze, "silver": silver}, rows=200_000)
    assert out["bronze"]["files"] == 4
    assert out["bronze"]["files_per_100k_rows"] == 2.0
    assert out["bronze"]["per_table"] == {"customers": 1, "orders": 3}
    assert out["bronze"]["max_files_of_a_table"] == 3
    assert out["silver"]["files"] == 1
    assert out["total"] == {"files": 5, "files_per_100k_rows": 2.5}
    assert ls.file_counts({"bronze": []}, rows=0)["total"]["files_per_100k_rows"] is None


def test_worst_summary_quantile_takes_the_worst_worker() -> None:
    samples = [
        ({"path": "source_to_bronze", "quantile": "0.99"}, 2.5),
        ({"path": "source_to_bronze", "quantile": "0.99"}, 3.5),
        ({"path": "source_to_bronze", "quantile": "0.5"}, 9.0),
        ({"path": "source_to_silver", "quantile": "0.99"}, 8.0),
    ]
    assert ls.worst_summary_quantile(samples, "source_to_bronze", "0.99") == 3.5
    assert ls.worst_summary_quantile(samples, "source_to_bronze", "0.9") is None


def test_each_side_has_its_own_group_buckets_user_and_old_topics(tmp_path: Path) -> None:
    from bench import bench_lake

    new = bench_lake.side_env("new", tmp_path, "abc", 6066)
    old = bench_lake.side_env("old", tmp_path, "abc", 6068)
    for key in ("ECOM_BRONZE_BUCKET", "ECOM_SILVER_BUCKET", "ECOM_LAKE_BUCKET",
                "ECOM_STREAM_APP_ID", "ECOM_STREAM_S3_ACCESS_KEY", "ECOM_STREAM_S3_SECRET_KEY"):  # fmt: skip
        assert new[key] != old[key], key
    assert old["PYTHONPATH"] == str(tmp_path)
    assert old["ECOM_STREAM_SILVER_PREFIX"] == "lakebench-old-silver"
    assert (
        "ECOM_STREAM_SILVER_PREFIX" not in new
        or new["ECOM_STREAM_SILVER_PREFIX"] != (old["ECOM_STREAM_SILVER_PREFIX"])
    )
    assert old["ECOM_STREAM_DLQ_TOPIC"] != new.get("ECOM_STREAM_DLQ_TOPIC", "ecom.dlq")
