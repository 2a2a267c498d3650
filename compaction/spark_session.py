"""The Spark session of the Spark gold engine: its configuration, start and stop.

The configuration is a plain mapping built from the settings (:func:`spark_conf`), so it
can be read and tested without starting a JVM. The engine runs on the Spark runtime
that pyspark bundles (``local[*]`` by default) or on a cluster (``ECOM_GOLD_SPARK_MASTER``
/ ``--master``); either way the driver is this process, and it ships the cached jars
(s3a, JDBC) to the executors through ``spark.jars``.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from compaction.configuration import GoldSettings
from compaction.exceptions import GoldError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

APP_NAME = "ecom gold rebuild"


def is_local(master: str) -> bool:
    return master == "local" or master.startswith("local[")


def log4j_config() -> Path:
    """The log4j2 configuration shipped with the package: warnings and errors only, so a
    rebuild's output stays the project's own progress lines."""
    return Path(str(resources.files("compaction").joinpath("spark-log4j2.properties")))


def s3a_conf(gs: GoldSettings) -> dict[str, str]:
    """Hadoop s3a settings reaching the lake on MinIO as its root user (the rebuild reads
    the silver tables with the same credentials on the DuckDB engine)."""
    base = gs.base
    prefix = "spark.hadoop.fs.s3a."
    return {
        f"{prefix}endpoint": f"http://{base.s3_endpoint}",
        f"{prefix}endpoint.region": "us-east-1",
        f"{prefix}access.key": base.s3_access_key,
        f"{prefix}secret.key": base.s3_secret_key.get_secret_value(),
        f"{prefix}aws.credentials.provider": (
            "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
        ),
        f"{prefix}path.style.access": "true",
        f"{prefix}connection.ssl.enabled": "false",
        # a lake that does not answer fails the build in seconds, not after minutes of retries
        f"{prefix}attempts.maximum": "3",
        f"{prefix}retry.limit": "3",
    }


def spark_conf(
    gs: GoldSettings, jars: Sequence[Path], local_dir: Path | None = None
) -> dict[str, str]:
    """Every Spark setting the engine starts its session with."""
    utc = "-Duser.timezone=UTC"
    conf = {
        "spark.master": gs.spark_master,
        "spark.app.name": APP_NAME,
        "spark.jars": ",".join(str(j) for j in jars),
        "spark.driver.memory": gs.spark_driver_memory,
        "spark.executor.memory": gs.spark_executor_memory,
        # JDBC turns timestamps into text in the JVM's zone: UTC, like the gold database
        "spark.driver.extraJavaOptions": f"{utc} -Dlog4j2.configurationFile={log4j_config()}",
        "spark.executor.extraJavaOptions": utc,
        "spark.sql.session.timeZone": "UTC",
        # overflow and invalid casts fail the build instead of becoming NULL
        "spark.sql.ansi.enabled": "true",
        "spark.sql.shuffle.partitions": str(gs.spark_shuffle_partitions),
        "spark.ui.showConsoleProgress": "false",
        **s3a_conf(gs),
    }
    if is_local(gs.spark_master):
        conf |= {
            "spark.ui.enabled": "false",
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
        }
    if local_dir is not None:
        conf["spark.local.dir"] = str(local_dir)
    return conf


def _builder() -> SparkSession.Builder:
    try:
        with warnings.catch_warnings():
            # pyspark warns about the pandas version on import; it is not used here
            warnings.simplefilter("ignore", FutureWarning)
            from pyspark.sql import SparkSession
    except ImportError as exc:
        raise GoldError(
            "the Spark engine needs pyspark, which is not installed",
            hint="pip install -e '.[spark]' (make install does it)",
        ) from exc
    return SparkSession.builder


@contextlib.contextmanager
def _local_ip(master: str) -> Iterator[None]:
    """With a local master, Spark binds to the loopback address (and says nothing about
    the machine's host name resolving to it); the variable is read when the JVM starts."""
    if not is_local(master) or "SPARK_LOCAL_IP" in os.environ:
        yield
        return
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    try:
        yield
    finally:
        os.environ.pop("SPARK_LOCAL_IP", None)


def _start(builder: SparkSession.Builder, master: str) -> SparkSession:
    try:
        with warnings.catch_warnings(), _local_ip(master):
            warnings.simplefilter("ignore", FutureWarning)
            return builder.getOrCreate()
    except Exception as exc:
        raise GoldError(
            f"cannot start Spark (master {master}): {_first(exc)}",
            hint="the Spark engine needs Java 17+ (JAVA_HOME or java on PATH); for a "
            "cluster, check ECOM_GOLD_SPARK_MASTER / --master",
        ) from exc


@contextlib.contextmanager
def session(
    gs: GoldSettings, jars: Sequence[Path], local_dir: Path | None = None
) -> Iterator[SparkSession]:
    """A Spark session for one build, stopped afterwards (a local master's JVM ends)."""
    builder = _builder()
    for key, value in spark_conf(gs, jars, local_dir).items():
        builder = builder.config(key, value)
    spark = _start(builder, gs.spark_master)
    try:
        yield spark
    finally:
        spark.stop()


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return " ".join(text.splitlines()[0].split())[:300] if text else type(exc).__name__
