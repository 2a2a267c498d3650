"""A full gold build on the Spark engine (``ECOM_GOLD_ENGINE=spark``, ``--engine spark``).

It reads the same silver table versions :func:`compaction.builds.run` opened, computes
the current state and every gold table with Spark (:mod:`compaction.spark_engine`),
writes them into the build's staging schema over JDBC, and swaps them in with the same
swap and build log as the DuckDB engine. Steps: ``current state`` (start Spark, read the
change-logs), ``gold`` (compute and write), ``swap``.

A Spark build is always a full one and keeps no state: it is for lakes beyond one
machine, where the incremental state would not fit the machine either. The next DuckDB
build then starts from the last kept state and recomputes every gold table (the gold in
``public`` is no longer that state's), or builds in full.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from compaction import gold, spark_engine, spark_session
from compaction.builds import Build, Tables
from compaction.plan import TableId, covered
from compaction.state import Position
from schemas import SOURCE_TABLES

WHY = "engine spark: always a full build; it keeps no state"


def full(b: Build, tables: Tables, now: dict[str, TableId]) -> None:
    """Build every gold table with Spark and swap them in (``b`` is in ``current state``)."""
    b.progress(f"full build: {WHY}")
    scratch = Path(tempfile.mkdtemp(prefix="ecom-gold-spark-", dir=b.gs.work_dir))
    try:
        b.progress(f"spark: starting a session on {b.gs.spark_master}")
        with spark_session.session(b.gs, b.spark_jars, scratch) as spark:
            reads = spark_engine.load_state(spark, tables, b.progress)
            b.enter("gold")
            b.progress("gold: computing the gold tables with Spark, writing them over JDBC")
            gold.create_staging(b.conn, b.schema)
            counts = spark_engine.load_gold(spark, b.gs, b.conn, b.schema, b.as_of, b.progress)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    position = Position(None, None)
    for read in reads.values():
        position = position.merge(read.position)
    lake = {t: covered(now[t], reads[t]).to_json() for t in SOURCE_TABLES}
    record = gold.BuildRecord(counts, position, "full", WHY, lake)
    b.enter("swap")
    gold.swap(b.conn, b.schema, b.build_id, record, b.gs.swap_lock_timeout)
    b.finish(record)
    b.progress("swap: new gold is live in public")
