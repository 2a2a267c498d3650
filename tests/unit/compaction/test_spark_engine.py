"""The Spark engine's pure parts: the transpiled definitions, its types, its Spark
configuration, its settings and its jar cache name (no JVM is started here)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
import sqlglot

from common.errors import ConfigError
from compaction import configuration, gold_sql, spark_engine, spark_session
from compaction.exceptions import GoldError
from compaction.spark_sql import TranspileError, to_spark
from schemas import SOURCE_TABLES
from stack import install, versions


@pytest.mark.parametrize(("name", "sql"), sorted(spark_engine.transpiled().items()))
def test_every_definition_is_one_spark_statement(name: str, sql: str) -> None:
    (parsed,) = sqlglot.parse(sql, read="spark")
    assert parsed is not None
    assert "//" not in sql, f"{name}: DuckDB integer division left in the Spark SQL"


def test_transpiled_covers_every_table_and_state() -> None:
    names = set(spark_engine.transpiled())
    assert {f"gold {t.name}" for t in gold_sql.GOLD_TABLES} <= names
    assert {f"current state of {t}" for t in SOURCE_TABLES} <= names


def test_integer_division_and_null_order_carry_over() -> None:
    sql = to_spark("SELECT a // b AS q FROM t ORDER BY a")
    assert "a DIV b" in sql and "NULLS LAST" in sql


def test_window_order_keeps_duckdb_null_placement() -> None:
    # the state's row_number() ranks by k0..k3 DESC; Spark's DESC default is NULLS LAST too,
    # but the transpiler must not change the order keys
    sql = to_spark(gold_sql.current_state_sql("orders"))
    assert "ROW_NUMBER() OVER (PARTITION BY c.order_id ORDER BY c.k0 DESC" in sql


@pytest.mark.parametrize("sql", ["SELECT 1; SELECT 2", "SELECT FROM (("])
def test_what_cannot_be_one_statement_is_an_error(sql: str) -> None:
    with pytest.raises(TranspileError):
        to_spark(sql)


@pytest.mark.parametrize(
    ("declared", "spark"),
    [
        ("DECIMAL(38, 2)", "DECIMAL(38, 2)"),
        ("DECIMAL(10, 2)", "DECIMAL(10, 2)"),
        ("TIMESTAMP", "TIMESTAMP_NTZ"),
        ("TIMESTAMPTZ", "TIMESTAMP"),
        ("VARCHAR", "STRING"),
        ("BIGINT", "BIGINT"),
        ("INTEGER", "INT"),
        ("BOOLEAN", "BOOLEAN"),
        ("DATE", "DATE"),
    ],
)
def test_declared_gold_types_in_spark(declared: str, spark: str) -> None:
    assert spark_engine.spark_sql_type(declared) == spark


def test_every_declared_gold_type_has_a_spark_type() -> None:
    for table in gold_sql.GOLD_TABLES:
        for col in table.columns:
            assert spark_engine.spark_sql_type(col.sql_type)


def test_silver_arrow_types_map_to_spark_types() -> None:
    from pyspark.sql import types as T

    assert spark_engine.spark_type(pa.decimal128(12, 2)) == T.DecimalType(12, 2)
    assert spark_engine.spark_type(pa.timestamp("us", tz="UTC")) == T.TimestampType()
    assert spark_engine.spark_type(pa.timestamp("us")) == T.TimestampNTZType()
    assert spark_engine.spark_type(pa.int64()) == T.LongType()
    with pytest.raises(GoldError, match="no Spark type"):
        spark_engine.spark_type(pa.float16())


def test_s3_uris_become_s3a() -> None:
    assert spark_engine.s3a("s3://lake/silver/orders/part-0.parquet") == (
        "s3a://lake/silver/orders/part-0.parquet"
    )
    with pytest.raises(GoldError):
        spark_engine.s3a("file:///tmp/x")


def test_local_session_conf(tmp_path: Path) -> None:
    gs = configuration.load(engine="spark", spark_master="local[2]")
    conf = spark_session.spark_conf(gs, [tmp_path / "a.jar", tmp_path / "b.jar"], tmp_path)
    assert conf["spark.master"] == "local[2]"
    assert conf["spark.jars"] == f"{tmp_path / 'a.jar'},{tmp_path / 'b.jar'}"
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.sql.ansi.enabled"] == "true"
    assert conf["spark.driver.bindAddress"] == "127.0.0.1" and conf["spark.local.dir"] == str(
        tmp_path
    )
    assert conf["spark.hadoop.fs.s3a.endpoint"] == f"http://{gs.base.s3_endpoint}"
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "true"


def test_cluster_session_conf_binds_nothing_local() -> None:
    gs = configuration.load(engine="spark", spark_master="spark://spark-master:7077")
    conf = spark_session.spark_conf(gs, [])
    assert conf["spark.master"] == "spark://spark-master:7077"
    assert "spark.driver.bindAddress" not in conf and "spark.local.dir" not in conf


def test_jdbc_writes_as_the_gold_loader_in_utc() -> None:
    gs = configuration.load()
    opts = spark_engine.jdbc_options(gs.base, "gold_build_7.dim_products", 2, 500)
    assert opts["url"].startswith(f"jdbc:postgresql://{gs.base.pg_host}:{gs.base.pg_port}/")
    assert "timezone%3DUTC" in opts["url"] and "reWriteBatchedInserts=true" in opts["url"]
    assert opts["user"] == gs.base.gold_user and opts["dbtable"] == "gold_build_7.dim_products"
    assert (opts["numPartitions"], opts["batchsize"]) == ("2", "500")


def test_engine_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ECOM_GOLD_ENGINE", "ECOM_GOLD_SPARK_MASTER"):
        monkeypatch.delenv(name, raising=False)
    gs = configuration.load()
    assert gs.engine == "duckdb" and gs.spark_master == "local[*]"
    monkeypatch.setenv("ECOM_GOLD_ENGINE", "spark")
    monkeypatch.setenv("ECOM_GOLD_SPARK_MASTER", "local[1]")
    gs = configuration.load()
    assert gs.engine == "spark" and gs.spark_master == "local[1]"
    assert configuration.load(spark_master="spark://h:7077").spark_master == "spark://h:7077"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ECOM_GOLD_ENGINE", "pandas"),
        ("ECOM_GOLD_SPARK_MASTER", "localhost:7077"),
        ("ECOM_GOLD_SPARK_DRIVER_MEMORY", "lots"),
        ("ECOM_GOLD_SPARK_JDBC_WRITERS", "0"),
    ],
)
def test_bad_engine_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        configuration.load()


def test_jar_cache_is_named_after_the_pinned_versions() -> None:
    gs = configuration.load()
    folder = install.spark_jars_dir(gs.base).name
    props = versions.pom_properties(versions.SPARK_POM)
    assert f"hadoop-aws-{props['hadoop.version']}" in folder
    assert f"awssdk-{props['awssdk.version']}" in folder
    assert f"postgresql-{props['postgresql.version']}" in folder
