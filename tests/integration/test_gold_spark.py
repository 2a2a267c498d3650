"""The Spark gold engine against the real stack: the same lake built by both engines.

Seeds a small scale, runs live traffic with deletes and dirty rows, waits until the
pipeline has caught up, then builds gold from the same lake twice: with DuckDB
(``ecom gold rebuild --full``) and with Spark (``--engine spark --master local[2]``).
Every row of every gold table (history included) must be the same, compared as
PostgreSQL's text of each value (so a decimal's scale counts too); the Spark build must
also equal the contract computed on the source (tests/integration/gold_reference.py) and
log the same silver versions and position as the DuckDB build. A DuckDB build after the
Spark build (which keeps no state) must give the same gold again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import psycopg2
import pytest

from common.settings import Settings
from compaction.gold_sql import GOLD, GOLD_TABLES
from ecom import catchup
from stream_apps.configuration import StreamSettings
from tests.integration import gold_reference as ref
from tests.integration.conftest import run_cli

pytestmark = pytest.mark.spark

ANCHOR = date(2026, 11, 1)
AS_OF = datetime.now(UTC).date()
#: Two cores at most on a shared machine; a small heap is plenty at this scale.
SPARK = ("--engine", "spark", "--master", "local[2]")
SPARK_ENV = {"ECOM_GOLD_SPARK_DRIVER_MEMORY": "1g", "ECOM_GOLD_SPARK_SHUFFLE_PARTITIONS": "4"}


def _rows(s: Settings, table: str) -> list[tuple[str | None, ...]]:
    """Every row of a gold table, every column as PostgreSQL's text of it, sorted."""
    cols = ", ".join(f"{c}::text" for c in GOLD[table].column_names)
    conn = psycopg2.connect(s.gold_dsn, options="-c timezone=UTC")
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT {cols} FROM public.{table}")
            rows = [tuple(r) for r in cur.fetchall()]
    finally:
        conn.close()
    return sorted(rows, key=lambda r: tuple((v is None, v or "") for v in r))


def _snapshot(s: Settings) -> dict[str, list[tuple[str | None, ...]]]:
    return {t.name: _rows(s, t.name) for t in GOLD_TABLES}


def _last_log(s: Settings) -> dict[str, Any]:
    conn = psycopg2.connect(s.gold_dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT * FROM public.gold_build_log ORDER BY build_id DESC LIMIT 1")
            row = cur.fetchone()
            assert row is not None
            return dict(zip([d[0] for d in cur.description or ()], row, strict=True))
    finally:
        conn.close()


def _rebuild(
    s: Settings, *args: str, env: dict[str, str] | None = None
) -> tuple[dict[str, Any], str]:
    """``ecom gold rebuild --as-of AS_OF ARGS``; its build log row and its progress."""
    t0 = time.monotonic()
    res = run_cli("gold", "rebuild", "--as-of", AS_OF.isoformat(), *args, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    print(f"gold rebuild {' '.join(args)}: {time.monotonic() - t0:.1f}s\n{res.stderr}")
    return _last_log(s), res.stderr


@pytest.fixture(scope="module")
def built(stream: StreamSettings) -> Iterator[dict[str, Any]]:
    """Seed + live traffic + caught up; gold built by DuckDB, then by Spark."""
    res = run_cli(
        "generate", "seed", "--scale", "0.005", "--truncate", "--seed", "7",
        "--anchor-date", ANCHOR.isoformat(),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    res = run_cli("generate", "live", "--rate", "300", "--duration", "8", "--seed", "9",
                  "--dirty-rate", "0.02", "--json")  # fmt: skip
    assert res.returncode == 0, res.stderr
    catchup.wait_caught_up(stream, 240)
    duck_log, _ = _rebuild(stream.base, "--full")
    duck = _snapshot(stream.base)
    spark_log, spark_out = _rebuild(stream.base, *SPARK, env=SPARK_ENV)
    spark = _snapshot(stream.base)
    yield {"settings": stream.base, "duck": duck, "spark": spark, "duck_log": duck_log,
           "spark_log": spark_log, "spark_out": spark_out}  # fmt: skip


@pytest.mark.parametrize("table", [t.name for t in GOLD_TABLES])
def test_spark_gold_equals_duckdb_gold_row_for_row(built: dict[str, Any], table: str) -> None:
    duck, spark = built["duck"][table], built["spark"][table]
    assert duck, f"{table} is empty: the test data does not exercise it"
    only_duck = sorted(set(duck) - set(spark))[:3]
    only_spark = sorted(set(spark) - set(duck))[:3]
    assert duck == spark, (
        f"{table}: DuckDB {len(duck)} rows, Spark {len(spark)}; only DuckDB {only_duck}; "
        f"only Spark {only_spark}"
    )


@pytest.mark.parametrize("table", tuple(ref.COLUMNS))
def test_spark_gold_equals_contract_on_source(built: dict[str, Any], table: str) -> None:
    s: Settings = built["settings"]
    got = ref.gold(s.gold_dsn, table)
    want = ref.reference(s.source_dsn, table, AS_OF)
    assert len(got) == len(want), f"{table}: gold {len(got)} rows, source {len(want)}"
    bad = [(g, w) for g, w in zip(got, want, strict=True) if g != w]
    assert not bad, f"{table}: {len(bad)} rows differ, first: gold {bad[0][0]} source {bad[0][1]}"


def test_spark_build_logs_what_the_duckdb_build_read(built: dict[str, Any]) -> None:
    duck, spark = built["duck_log"], built["spark_log"]
    assert spark["status"] == "succeeded" and spark["as_of"] == AS_OF
    assert spark["build_id"] > duck["build_id"]
    assert spark["row_counts"] == duck["row_counts"]
    assert spark["max_commit_ts"] == duck["max_commit_ts"]
    assert spark["max_source_lsn"] == duck["max_source_lsn"]
    assert spark["lake_versions"] == duck["lake_versions"], "same versions, offsets, truncates"
    assert spark["kind"] == "full" and "engine spark" in spark["why"]
    assert "engine spark" in built["spark_out"] and "local[2]" in built["spark_out"]


def test_duckdb_build_after_a_spark_build_gives_the_same_gold(built: dict[str, Any]) -> None:
    s: Settings = built["settings"]
    log, out = _rebuild(s)
    assert log["status"] == "succeeded", out
    assert _snapshot(s) == built["duck"]
