"""The benchmark suite's plan, selectors, same-day merge and markdown (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import report, suite


def names(plan: list[tuple[suite.Item, str | None]], run: bool = True) -> list[str]:
    return [i.name for i, why in plan if (why is None) == run]


def test_default_plan_runs_everything_in_order() -> None:
    p = suite.plan((0.1, 1.0), [], [])
    assert names(p) == [
        "generator", "stream@0.1", "gold_stream@0.1", "stream_drain@0.1", "max_rate@0.1",
        "stream@1", "gold_stream@1", "stream_drain@1", "max_rate@1", "gold@0.1", "gold@1",
        "gold_spark@0.1", "gold_spark@1", "lake@0.1", "lake@1",
    ]  # fmt: skip


def test_gold_spark_runs_its_own_bench_at_its_scale(tmp_path: Path) -> None:
    cmd = suite.command(suite.Item("gold_spark", 0.05), tmp_path / "x.json", None)
    assert cmd[2:] == [
        "bench.bench_gold_spark",
        "--scale",
        "0.05",
        "--out",
        str(tmp_path / "x.json"),
    ]


def test_gold_spark_phases_and_report_row() -> None:
    from bench import bench_gold_spark

    lines = [
        "[   0.1s] gold rebuild #3 as of 2026-11-01, newest lake (staging schema gold_build_3, engine spark)",
        "[   0.4s] spark: starting a session on local[2]",
        "[  20.4s] current state orders: 10 rows from 12 changes (version 3)",
        "[  31.0s] gold: computing the gold tables with Spark, writing them over JDBC",
        "[  52.5s] swap: new gold is live in public",
    ]  # fmt: skip
    assert bench_gold_spark.phases(lines) == {
        "jars_and_log_s": 0.3, "spark_start_s": 20.0, "current_state_s": 10.6,
        "gold_and_jdbc_s": 21.5,
    }  # fmt: skip
    r = {
        "data": {"scale": 0.05, "source_rows_total": 118_000},
        "spark": {"wall_s": 60.0, "master": "local[2]", "peak_tree_rss_mb_sampled": 900.0,
                  "phases": {"spark_start_s": 20.0}},
        "duckdb": {"wall_s": 6.0, "peak_rss_mb": 300.0},
        "same_gold": True,
        "ratio_spark_over_duckdb": 10.0,
    }  # fmt: skip
    (row,) = report.gold_spark_rows("gold_spark@0.05", r)
    assert "same gold as DuckDB" in row[0] and "60.0 s" in row[1] and "900 MB" in row[1]
    assert "6.0 s" in row[2] and row[3] == "10x DuckDB's time"


def test_only_and_skip_take_parts_and_scales() -> None:
    only = suite.parse_selectors("gold,generator")
    skip = suite.parse_selectors("gold@10")
    p = suite.plan((0.1, 1.0, 10.0), only, skip)
    assert names(p) == ["generator", "gold@0.1", "gold@1"]
    reasons = {i.name: why for i, why in p}
    assert reasons["gold@10"] == "skipped (--skip)"
    assert reasons["stream@10"] == "not selected (--only)"


@pytest.mark.parametrize("bad", ["nope", "generator@1", "gold@x"])
def test_bad_selectors_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        suite.parse_selectors(bad)


@pytest.mark.parametrize("bad", ["", "0", "1,-2", "a"])
def test_bad_scales_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        suite.parse_scales(bad)


GOLD = {
    "input": "export",
    "data": {"scale": 10.0, "source_rows_total": 23_600_000,
             "silver_files_before": {"orders": {"files": 5000}}},
    "rebuild": {"first": {"wall_s": 400.0, "peak_rss_mb": 2500.0},
                "second": {"wall_s": 200.0, "peak_rss_mb": 2400.0}},
    "baseline_pandas": {"measured": True},
    "comparison": {
        "rebuild_first_s": 400.0, "rebuild_second_s": 200.0,
        "rebuild_first_peak_rss_mb": 2500.0, "pandas_s": 800.0,
        "pandas_peak_rss_mb": 14000.0, "ratio_pandas_over_rebuild_first": 2.0,
        "ratio_pandas_over_rebuild_second": 4.0,
        "targets": {"rebuild_s": 600, "peak_rss_mb": 4096},
        "target_met_first": True, "target_met_second": True,
    },
}  # fmt: skip


DRAIN = {
    "worker_count": 2,
    "baseline": {"messages_per_s": 40_000, "cpu_us_per_event": 20.0},
    "workers": {"events": 240_000, "events_per_s": 24_000, "worker_cpu_us_per_event": 35.5,
                "worker_peak_rss_mb": [410, 455]},
    "drain_to_baseline_ratio": 0.6,
}  # fmt: skip


def test_markdown_shows_the_drain_beside_its_baseline() -> None:
    doc = {"date": "2026-11-28", "runs": [],
           "parts": {"stream_drain@1": {"status": "measured", "result": DRAIN}}}  # fmt: skip
    md = report.markdown(doc)
    assert "| drain of the scale 1 backlog (240,000 events, 2 workers) into bronze and " \
           "silver | 24,000 events/s, 35.5 us CPU/event, max 455 MB | confluent-kafka + " \
           "orjson + pyarrow to Parquet: 40,000 msg/s, 20.0 us CPU/event | 0.600 | " \
           ">= 0.5, <= 40 us, < 1 GB |" in md  # fmt: skip


def test_stream_drain_runs_the_drain_bench_at_its_scale(tmp_path: Path) -> None:
    cmd = suite.command(suite.Item("stream_drain", 0.05), tmp_path / "o.json", None)
    assert cmd[2:] == ["bench.bench_drain", "--scale", "0.05", "--out", str(tmp_path / "o.json")]


def test_markdown_shows_the_max_rate_and_why_the_ramp_ended() -> None:
    r = {"worker_count": 2, "step_seconds": 60, "max_sustained_rate": 11_980,
         "ramp_ended_because": "lag grew at 15000 changes/s asked"}  # fmt: skip
    md = report.markdown({"date": "d", "runs": [], "parts": {"max_rate@1": {
        "status": "measured", "result": r}}})  # fmt: skip
    assert "| maximum sustained live rate, scale 1 (2 workers, 60 s steps) | 11,980 " \
           "changes/s (lag grew at 15000 changes/s asked) |  |  | >= 10,000/s |" in md  # fmt: skip
    cmd = suite.command(suite.Item("max_rate", 1.0), Path("o.json"), None)
    assert cmd[2:] == ["bench.bench_maxrate", "--scale", "1.0", "--out", "o.json"]


def test_markdown_shows_the_cpu_per_change_of_the_fastest_measured_step() -> None:
    def step(reached: float, total: float, gen: float, pg: float) -> dict[str, object]:
        return {"reached_rate": reached, "cpu": {
            "us_per_change": {"generator": gen, "postgres": pg, "stream": 100.0},
            "components_us_per_change": total, "ceiling_changes_per_s": 2e6 / total}}  # fmt: skip

    r = {"worker_count": 2, "max_sustained_rate": 1989, "ramp_ended_because": "x",
         "steps": [step(998, 2021, 123, 233), step(3272, 605, 59, 144), {"reached_rate": 9}]}  # fmt: skip
    md = report.markdown({"date": "d", "runs": [], "parts": {"max_rate@1": {
        "status": "measured", "result": r}}})  # fmt: skip
    assert "| CPU at 3,272 changes/s: 605 us per change, of which generator + PostgreSQL " \
           "203 us; all cores busy at 3,306 changes/s |" in md  # fmt: skip


def test_markdown_shows_measured_figures_and_not_measured_parts() -> None:
    doc = {
        "date": "2026-11-28",
        "runs": [{"machine": {"cpus": 2, "python": "3.11"}}],
        "parts": {
            "stream@10": {"status": "not measured", "reason": "skipped (--skip)"},
            "gold@10": {"status": "measured", "result": GOLD},
        },
    }
    md = report.markdown(doc)
    assert "| gold rebuild scale 10.0 (23,600,000 rows, bench export, 5,000 silver files), " \
           "first build | 400.0 s, 2,500 MB peak | pandas read_sql + to_sql: 800.0 s, " \
           "14,000 MB | 2 | < 600 s, < 4 GB (met) |" in md  # fmt: skip
    curve = [line for line in md.splitlines() if line.startswith("| 10 |")]
    assert curve == [
        "| 10 | 23,600,000 | not measured (skipped (--skip)) | 400.0 | 200.0 | 2,500 MB "
        "| 800.0 | 2 |"
    ]
    assert "- `stream@10`: not measured (skipped (--skip))" in md


def test_same_day_merge_keeps_earlier_measured_parts(tmp_path: Path) -> None:
    path = tmp_path / "2026-11-28.json"
    first = suite.merge(path, "2026-11-28", {"n": 1}, {
        "stream@1": {"status": "measured", "result": {"x": 1}},
        "gold@1": {"status": "not measured", "reason": "skipped (--skip)"},
    })  # fmt: skip
    path.write_text(json.dumps(first))
    second = suite.merge(path, "2026-11-28", {"n": 2}, {
        "stream@1": {"status": "not measured", "reason": "not selected (--only)"},
        "gold@1": {"status": "measured", "result": {"y": 2}},
    })  # fmt: skip
    assert second["parts"]["stream@1"] == {"status": "measured", "result": {"x": 1}, "run": 0}
    assert second["parts"]["gold@1"] == {"status": "measured", "result": {"y": 2}, "run": 1}
    assert [r["n"] for r in second["runs"]] == [1, 2]
    other_day = suite.merge(path, "2026-11-29", {"n": 3}, {})
    assert other_day["parts"] == {} and len(other_day["runs"]) == 1


def _lake(files: float, gold_s: float) -> dict[str, object]:
    return {
        "code": "abc123",
        "data_files_after_snapshot": {
            "bronze": {"files": 10, "files_per_100k_rows": files},
            "silver": {"files": 10, "files_per_100k_rows": files},
            "total": {"files": 20, "files_per_100k_rows": 2 * files},
        },
        "snapshot": {"bronze_s": 30.0, "silver_s": 31.0},
        "commit_latency": {"snapshot": {"all": {"commits": 4, "p50_s": 0.2, "p99_s": 0.9}}},
        "gold_rebuild": [{"command": "ecom gold rebuild", "wall_s": gold_s, "verified": True}],
        "steady_state": {"source_to_bronze_p99_s": 3.0, "source_to_silver_p99_s": None},
    }


def test_markdown_puts_the_old_lake_beside_the_new() -> None:
    result = {"snapshot_rows": 118_000, "workers": 2, "steady_state": {"rate": 1000.0},
              "lakes": {"old": _lake(500.0, 9.0), "new": _lake(8.5, 4.0)}}  # fmt: skip
    doc = {"date": "2026-11-30", "runs": [],
           "parts": {"lake@0.05": {"status": "measured", "result": result}}}  # fmt: skip
    md = report.markdown(doc)
    assert "### `lake@0.05`: 118,000 snapshot rows, 2 workers per lake, 1,000 changes/s" in md
    assert "| data files per 100k snapshot rows: bronze / silver / total (before any " \
           "compaction) | 500.0 (10 files) / 500.0 (10 files) / 1,000.0 (20 files) | " \
           "8.5 (10 files) / 8.5 (10 files) / 17.0 (20 files) |" in md  # fmt: skip
    assert "`ecom gold rebuild` 9.0 s (verified) | `ecom gold rebuild` 4.0 s (verified) |" in md
    assert "| 0.200 s / 0.900 s (4 commits) |" in md
    assert "| commit latency per micro-batch in the steady state, p50 / p99 | not measured " \
           "/ not measured (0 commits) |" in md  # fmt: skip
    assert "3.00 s / not measured" in md
    assert "Commit, new lake: not measured." in md  # the result did not say what it timed


def test_lake_part_runs_bench_lake_with_its_scale() -> None:
    class Args:
        live_seconds = 30.0

    cmd = suite.command(suite.Item("lake", 0.05), Path("/tmp/x.json"), Args())
    assert cmd[1:] == ["-m", "bench.bench_lake", "--scale", "0.05", "--live-seconds", "30.0",
                       "--out", "/tmp/x.json"]  # fmt: skip


def test_gold_rows_show_both_baselines_and_the_incremental_builds() -> None:
    result = {
        **GOLD,
        "data": {**GOLD["data"], "scale": 1.0},  # type: ignore[dict-item]
        "rebuild": {**GOLD["rebuild"],  # type: ignore[dict-item]
                    "incremental_unchanged": {"wall_s": 0.8, "peak_rss_mb": 210.0}},
        "baseline_pandas_copy": {"measured": True},
        "incremental_after_traffic": {"traffic": {"seconds": 600, "rate": 1000},
                                      "rebuild": {"wall_s": 4.2, "peak_rss_mb": 600.0}},
        "comparison": {
            **GOLD["comparison"],  # type: ignore[dict-item]
            "pandas_copy_s": 300.0, "pandas_copy_peak_rss_mb": 9000.0,
            "ratio_pandas_copy_over_rebuild_first": 0.75,
            "ratio_pandas_copy_over_rebuild_second": 1.5,
            "targets": {"rebuild_s": 10, "ratio_over_pandas_copy": 2},
            "target_met_first": False, "target_met_second": True, "target_ratio_met": False,
            "target_incremental_met": True,
        },
    }  # fmt: skip
    rows = report.gold_rows("gold@1", result)
    first, second, unchanged, traffic = rows
    assert first[2] == ("pandas read_sql + to_sql: 800.0 s, 14,000 MB; pandas + COPY: "
                        "300.0 s, 9,000 MB")  # fmt: skip
    assert first[3] == "2 (to_sql), 0.75 (COPY)"
    assert first[4] == "< 10 s, >= 2x pandas + COPY (missed)"
    assert second[4] == "< 10 s, >= 2x pandas + COPY (missed)"  # the ratio was missed
    assert unchanged[0].endswith("incremental, no new changes") and unchanged[1].startswith("0.8 s")
    assert "after 600 s of traffic at 1,000 changes/s" in traffic[0]
    assert traffic[1].startswith("4.2 s") and traffic[4] == "<= 5 s (met)"


def test_gold_stream_part_measures_the_incremental_build_after_traffic(tmp_path: Path) -> None:
    from types import SimpleNamespace

    args = SimpleNamespace(gold_traffic_seconds=600.0)
    cmd = suite.command(suite.Item("gold_stream", 1.0), tmp_path / "o.json", args)
    assert cmd[2:] == ["bench.bench_gold", "--input", "stream", "--out", str(tmp_path / "o.json"),
                       "--traffic-seconds", "600", "--traffic-rate", "1000"]  # fmt: skip
    cmd = suite.command(suite.Item("gold", 0.05), tmp_path / "g.json", args)
    assert cmd[2:] == ["bench.bench_gold", "--input", "export", "--scale", "0.05", "--out",
                       str(tmp_path / "g.json")]  # fmt: skip
