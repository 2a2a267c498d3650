"""Gold computed by Apache Spark, from the same definitions as the DuckDB engine.

The steps follow :mod:`compaction.gold_sql`:

1. each silver change-log becomes the relation ``silver_<table>``: the driver resolves
   the Delta table version of the build's cutoff with delta-rs (the same
   :meth:`compaction.lake.Lake.open` the DuckDB engine uses, so both engines read the same
   versions) and Spark reads that version's data files as Parquet through s3a;
2. ``cur_<table>``, the current state, is computed by Spark and kept (memory, then
   disk) for the gold queries;
3. ``build_params`` holds the as-of date; every gold definition, transpiled to Spark SQL
   (:mod:`compaction.spark_sql`), is computed, its columns cast to their declared types,
   and written over JDBC, as the gold loader role, into its table in the build's
   PostgreSQL staging schema.

Why delta-rs resolves the versions instead of Spark's Delta reader: no delta-spark
release runs on Spark 4.3 (see stack/spark-pom.xml). The silver tables are written by
delta-rs without deletion vectors or column mapping, so a version's data files are
exactly its rows.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlglot import exp

from common.progress import SILENT, Reporter
from common.settings import Settings
from compaction import gold, gold_sql
from compaction.configuration import GoldSettings
from compaction.duckgold import Pos, TableRead
from compaction.exceptions import GoldError
from compaction.spark_sql import READ, WRITE, to_spark
from compaction.state import Position, silver_arrow_schema
from schemas import SOURCE_TABLES

if TYPE_CHECKING:
    from deltalake import DeltaTable
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------------- types
def spark_type(arrow: pa.DataType) -> DataType:
    """The Spark SQL type of a silver (Arrow) column type."""
    from pyspark.sql import types as T

    if pa.types.is_decimal(arrow):
        return T.DecimalType(arrow.precision, arrow.scale)
    if pa.types.is_timestamp(arrow):
        return T.TimestampType() if arrow.tz else T.TimestampNTZType()
    simple: dict[pa.DataType, DataType] = {
        pa.string(): T.StringType(),
        pa.bool_(): T.BooleanType(),
        pa.int32(): T.IntegerType(),
        pa.int64(): T.LongType(),
        pa.date32(): T.DateType(),
    }
    if arrow not in simple:
        raise GoldError(f"no Spark type for the silver column type {arrow}")
    return simple[arrow]


def spark_schema(schema: pa.Schema) -> StructType:
    from pyspark.sql import types as T

    return T.StructType([T.StructField(f.name, spark_type(f.type), True) for f in schema])


def spark_sql_type(sql_type: str) -> str:
    """A gold column's declared type (DuckDB's name for it) in Spark SQL."""
    return exp.DataType.build(sql_type, dialect=READ).sql(dialect=WRITE)


def s3a(uri: str) -> str:
    """An ``s3://`` URI (delta-rs) as the ``s3a://`` URI Hadoop's S3 connector reads."""
    if not uri.startswith("s3://"):
        raise GoldError(f"not an s3:// URI: {uri}")
    return "s3a://" + uri[len("s3://") :]


# ---------------------------------------------------------------- reading silver
def silver_frame(spark: SparkSession, table: str, dt: DeltaTable | None) -> DataFrame:
    """The silver change-log of ``table`` at the version ``dt`` is loaded at (None: no
    table yet, an empty change-log): that version's data files, read as Parquet."""
    schema = spark_schema(silver_arrow_schema(table))
    files = [] if dt is None else [s3a(u) for u in dt.file_uris()]
    if dt is None or not files:
        return spark.createDataFrame([], schema)
    return spark.read.schema(schema).option("basePath", s3a(dt.table_uri)).parquet(*files)


#: Per bronze topic and partition of a change-log: its changes, newest offset, newest
#: source commit (microseconds since the epoch: a collected timestamp would be in the
#: driver's zone) and LSN, and its last truncate's change position (k0..k3 as in
#: compaction/sql/gold/state.sql) and commit time; what compaction.duckgold.summarise
#: reads on the DuckDB engine.
_SUMMARY = """
SELECT bronze_topic, bronze_partition, count(*), max(bronze_offset),
       unix_micros(max(commit_ts)), max(source_lsn),
       max(CASE WHEN op = 't' THEN pos END),
       unix_micros(max_by(commit_ts, CASE WHEN op = 't' THEN pos END))
FROM (
    SELECT *, array(CASE WHEN commit_lsn IS NULL THEN 0 ELSE 1 END, coalesce(commit_lsn, 0),
                    coalesce(source_lsn, 0), bronze_offset) AS pos
    FROM {relation}
) AS s
GROUP BY bronze_topic, bronze_partition
"""


def _time(micros: Any) -> datetime | None:
    return None if micros is None else _EPOCH + timedelta(microseconds=int(micros))


def summarise(spark: SparkSession, table: str, relation: str) -> TableRead:
    out = TableRead(table)
    for topic, part, n, last, ts, lsn, trunc, trunc_ts in spark.sql(
        _SUMMARY.format(relation=relation)
    ).collect():
        out.changes += int(n)
        if topic is not None and part is not None and last is not None:
            out.coverage.setdefault(str(topic), {})[int(part)] = int(last)
        out.position = out.position.merge(Position(_time(ts), None if lsn is None else int(lsn)))
        if trunc is not None:
            pos: Pos = (int(trunc[0]), int(trunc[1]), int(trunc[2]), int(trunc[3]))
            if out.truncate is None or pos > out.truncate:
                out.truncate, out.truncate_ts = pos, _time(trunc_ts)
    return out


def load_state(
    spark: SparkSession, tables: dict[str, DeltaTable | None], progress: Reporter = SILENT
) -> dict[str, TableRead]:
    """``silver_<table>`` and ``cur_<table>`` of every source table (steps 1 and 2), and
    what was read of each."""
    from pyspark import StorageLevel

    reads = {}
    for table in SOURCE_TABLES:
        dt = tables.get(table)
        relation = gold_sql.silver_relation(table)
        silver_frame(spark, table, dt).createOrReplaceTempView(relation)
        read = summarise(spark, table, relation)
        current = spark.sql(to_spark(gold_sql.current_state_sql(table)))
        current = current.persist(StorageLevel.MEMORY_AND_DISK)
        current.createOrReplaceTempView(gold_sql.current_relation(table))
        read.rows = current.count()
        reads[table] = read
        at = "no table yet" if dt is None else f"version {dt.version()}"
        progress(f"current state {table}: {read.rows:,} rows from {read.changes:,} changes ({at})")
    return reads


# ---------------------------------------------------------------- gold
def conform(frame: DataFrame, table: gold_sql.GoldTable) -> DataFrame:
    """``frame`` with exactly the declared columns of ``table``, in order, each cast to
    its declared type (a no-op where the definition already returns it)."""
    from pyspark.sql import functions as F

    got = tuple(c.lower() for c in frame.columns)
    if got != table.column_names:
        raise GoldError(
            f"gold table {table.name}: the Spark query returns columns {', '.join(got)}; "
            f"declared: {', '.join(table.column_names)}"
        )
    return frame.select(
        *(F.col(c.name).cast(spark_sql_type(c.sql_type)).alias(c.name) for c in table.columns)
    )


def gold_frames(spark: SparkSession, as_of: date) -> dict[str, DataFrame]:
    """Every gold table's query, in build order (step 3), not yet computed."""
    spark.sql(to_spark(gold_sql.build_params_sql(as_of))).createOrReplaceTempView(gold_sql.PARAMS)
    for name in gold_sql.DERIVED:
        spark.sql(to_spark(gold_sql.derived_sql(name))).createOrReplaceTempView(name)
    return {t.name: conform(spark.sql(to_spark(t.sql)), t) for t in gold_sql.GOLD_TABLES}


def jdbc_url(settings: Settings) -> str:
    """The gold database for PostgreSQL's JDBC driver, working in UTC, with batched
    inserts rewritten into multi-row ones."""
    return (
        f"jdbc:postgresql://{settings.pg_host}:{settings.pg_port}/{settings.gold_db}"
        "?options=-c%20timezone%3DUTC&reWriteBatchedInserts=true"
        "&ApplicationName=ecom%20gold%20rebuild%20(spark)"
    )


def jdbc_options(settings: Settings, target: str, writers: int, batch: int) -> dict[str, str]:
    """Spark's JDBC writer options for ``target`` (``schema.table``), as the gold loader
    role."""
    return {
        "url": jdbc_url(settings),
        "driver": "org.postgresql.Driver",
        "dbtable": target,
        "user": settings.gold_user,
        "password": settings.gold_password.get_secret_value(),
        "numPartitions": str(writers),
        "batchsize": str(batch),
    }


def write_jdbc(frame: DataFrame, options: dict[str, Any]) -> None:
    """Append ``frame``'s rows to the existing table ``options['dbtable']``."""
    frame.write.format("jdbc").options(**options).mode("append").save()


def transpiled() -> dict[str, str]:
    """Every definition the engine runs, as Spark SQL (for ``--explain`` and tests)."""
    out = {f"current state of {t}": to_spark(gold_sql.current_state_sql(t)) for t in SOURCE_TABLES}
    out |= {f"derived {n}": to_spark(gold_sql.derived_sql(n)) for n in gold_sql.DERIVED}
    out |= {f"gold {t.name}": to_spark(t.sql) for t in gold_sql.GOLD_TABLES}
    return out


# ---------------------------------------------------------------- loading
def _count(conn: gold.Connection, target: str) -> int:
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {target}")
        row = cur.fetchone()
    return int(row[0]) if row else 0


def load_gold(
    spark: SparkSession,
    gs: GoldSettings,
    conn: gold.Connection,
    schema: str,
    as_of: date,
    progress: Reporter = SILENT,
) -> dict[str, int]:
    """Compute every gold table with Spark and write it into its table in the staging
    schema (made by :func:`compaction.gold.create_staging`), then add its keys; returns
    the row count of each."""
    counts: dict[str, int] = {}
    for name, frame in gold_frames(spark, as_of).items():
        started = time.monotonic()
        target = f"{schema}.{name}"
        write_jdbc(frame, jdbc_options(gs.base, target, gs.spark_jdbc_writers, gs.spark_jdbc_batch))
        gold.add_keys(conn, schema, name)
        counts[name] = _count(conn, target)
        progress(f"  {name}: {counts[name]:,} rows ({time.monotonic() - started:.1f}s)")
    return counts
