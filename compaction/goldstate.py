"""The state a gold build leaves for the next one, kept twice.

* **In MinIO**, so it survives the loss of the machine: one Delta table per state table
  (``st_<source table>``: the last version of every key; ``st_history``: the customers'
  SCD2 versions) at ``s3://<state bucket>/gold_state/<gold database>/<name>``, written
  as the root user in a bucket of its own (``ECOM_GOLD_STATE_BUCKET``). A full build overwrites them; an incremental build
  appends the rows of the keys it changed, each row tagged with its ``state_build``, so a
  key's newest rows are the ones with the highest tag (a table whose keys a truncate
  removed is overwritten instead). The build log records the Delta version of each table
  a build left, and a later build reads exactly those versions (time travel), so rows
  a failed build appended after them are never read.
* **On the local disk**, as the DuckDB database the build computes in
  (``<state dir>/<gold database>.duckdb``), with the id of the build whose state it holds;
  when that is not the build to start from, the database is filled from the lake.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from deltalake import ColumnProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import DeltaError, TableNotFoundError

from common.s3 import delta_storage_options, minio_client
from common.settings import Settings
from compaction import duckgold, gold_sql
from compaction.configuration import GoldSettings
from compaction.exceptions import GoldError
from compaction.state import run_sql
from schemas import PRIMARY_KEYS, SOURCE_TABLES

#: Column of the lake copy telling which build wrote a row.
BUILD_COLUMN = "state_build"


#: How the state tables are written: ZSTD without dictionary pages. Dictionaries pay off
#: on repeated values; the state's columns are mostly keys, LSNs and offsets, different in
#: every row, so ZSTD alone compresses them as well, for less CPU.
_WRITER = WriterProperties(
    compression="ZSTD", default_column_properties=ColumnProperties(dictionary_enabled=False)
)


class StateUnavailable(GoldError):
    """The kept state cannot be read; the build falls back to a full one."""


def key_of(name: str) -> str:
    """The column whose newest rows (by :data:`BUILD_COLUMN`) make up a state table."""
    if name == duckgold.HISTORY_TABLE:
        return "customer_id"
    for table in SOURCE_TABLES:
        if gold_sql.state_relation(table) == name:
            return PRIMARY_KEYS[table]
    raise ValueError(f"not a state table: {name!r}")


def tagged(con: duckdb.DuckDBPyConnection, query: str, build_id: int) -> duckdb.DuckDBPyRelation:
    """``query``'s rows (a state table's columns) with the :data:`BUILD_COLUMN` tag."""
    return con.sql(f"SELECT *, CAST({int(build_id)} AS BIGINT) AS {BUILD_COLUMN} FROM ({query}) AS q")


class LakeState:
    """The state tables in their own MinIO bucket (``ECOM_GOLD_STATE_BUCKET``)."""

    def __init__(self, gs: GoldSettings) -> None:
        settings = gs.base
        self.settings = settings
        self.bucket = gs.state_bucket
        self.options = delta_storage_options(settings)
        self.root = f"s3://{self.bucket}/gold_state/{settings.gold_db}"

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist yet (builds run as the root user)."""
        client = minio_client(self.settings)
        if not client.bucket_exists(self.bucket):
            client.make_bucket(self.bucket)

    def uri(self, name: str) -> str:
        key_of(name)  # only state tables
        return f"{self.root}/{name}"

    def open(self, name: str) -> DeltaTable | None:
        """A state table as it is now; None if it does not exist."""
        try:
            return DeltaTable(self.uri(name), storage_options=self.options)
        except TableNotFoundError:
            return None

    def version(self, name: str) -> int | None:
        """The newest version of a state table; None if it does not exist."""
        dt = self.open(name)
        return None if dt is None else dt.version()

    def write(
        self, con: duckdb.DuckDBPyConnection, name: str, query: str, build_id: int,
        *, overwrite: bool,
    ) -> int:  # fmt: skip
        """Write ``query``'s rows (a state table's columns) tagged with ``build_id``;
        returns the table's new version."""
        reader = tagged(con, query, build_id).to_arrow_reader(200_000)
        return self.put(name, reader, overwrite=overwrite)

    def put(
        self, name: str, rows: Any, *, overwrite: bool, table: DeltaTable | None = None
    ) -> int:
        """Write Arrow ``rows`` (tagged, see :func:`tagged`) to state table ``name``
        (``table``: it, opened already); returns its new version."""
        target: DeltaTable | str = table if table is not None else self.uri(name)
        if overwrite:
            write_deltalake(target, rows, mode="overwrite", schema_mode="overwrite",
                            storage_options=self.options, writer_properties=_WRITER)  # fmt: skip
        else:
            write_deltalake(target, rows, mode="append",
                            storage_options=self.options, writer_properties=_WRITER)  # fmt: skip
        version = table.version() if table is not None else self.version(name)
        assert version is not None
        return version

    def load(self, con: duckdb.DuckDBPyConnection, name: str, version: int) -> None:
        """Make DuckDB table ``name`` the state table as the lake had it at ``version``."""
        try:
            dt = DeltaTable(self.uri(name), version=version, storage_options=self.options)
            dataset = dt.to_pyarrow_dataset()
        except (OSError, DeltaError) as exc:
            raise StateUnavailable(f"gold state {name} version {version}: {exc}") from exc
        con.register("state_source", dataset)
        try:
            run_sql(
                con,
                f"CREATE OR REPLACE TABLE {name} AS SELECT * EXCLUDE ({BUILD_COLUMN}) "
                f"FROM state_source QUALIFY rank() OVER (PARTITION BY {key_of(name)} "
                f"ORDER BY {BUILD_COLUMN} DESC) = 1",
            )
        finally:
            con.unregister("state_source")

    def tidy(self, name: str, version: int) -> bool:
        """Delete the files that ``version`` of a state table, the one the state to start
        from recorded, does not need, and checkpoint the log; only while ``version`` is
        the newest (else a later build wrote the table and its files stay). The caller
        holds the gold lock and writes nothing to the table meanwhile. Returns whether it
        tidied."""
        try:
            dt = DeltaTable(self.uri(name), storage_options=self.options)
        except TableNotFoundError:
            return False
        if dt.version() != version:
            return False
        dt.vacuum(retention_hours=0, dry_run=False, enforce_retention_duration=False)
        dt.create_checkpoint()
        dt.cleanup_metadata()
        return True


class ChangeWriter:
    """An incremental build's changes to the state, written to the lake copy from
    threads of their own while the build goes on (recomputing and loading gold).

    Made at the start of the build, it opens the state tables (lake round trips) while
    the build reads and merges the new changes; :meth:`start` then takes the rows from
    DuckDB, inside the build's transaction (another connection would not see them), and
    the writes need nothing else from it."""

    #: Tables written at once (small appends: mostly lake round trips).
    WRITERS = 4

    def __init__(self, store: LakeState, names: tuple[str, ...], base: dict[str, int]) -> None:
        """``names``: the state tables; ``base``: the versions the build starts from."""
        self.store = store
        self.versions = dict(base)
        self.written: tuple[str, ...] = ()
        self._threads = ThreadPoolExecutor(self.WRITERS)
        self._jobs: dict[str, Future[int]] = {}
        self._bucket = self._threads.submit(store.ensure_bucket)
        self._opening = {name: self._threads.submit(self._open, name) for name in names}

    def _open(self, name: str) -> DeltaTable | None:
        self._bucket.result()
        return self.store.open(name)

    def start(
        self,
        con: duckdb.DuckDBPyConnection,
        build_id: int,
        changed: dict[str, bool],
        rows_of: Callable[[str, bool], str],
    ) -> None:
        """Write ``changed`` (state table -> whether to write it whole, else the changed
        keys' rows, ``rows_of(name, whole)``). A table another (failed) build appended
        to after the base version is written whole. Raises what opening a table raised."""
        self.written = tuple(changed)
        try:
            for name, whole in changed.items():
                rows = tagged(con, rows_of(name, whole), build_id).to_arrow_table()
                dt = self._opening[name].result()
                if not whole and (dt is None or dt.version() != self.versions.get(name)):
                    whole = True
                    rows = tagged(con, rows_of(name, whole), build_id).to_arrow_table()
                self._jobs[name] = self._threads.submit(
                    self.store.put, name, rows, overwrite=whole, table=dt
                )
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Wait for the writes that started and drop the others (a failed build)."""
        self._threads.shutdown(wait=True, cancel_futures=True)

    def result(self) -> dict[str, int]:
        """Every state table's version once the writes are done; raises the first
        write's failure."""
        try:
            for name, job in self._jobs.items():
                self.versions[name] = job.result()
        finally:
            self._threads.shutdown(wait=True, cancel_futures=True)
        return dict(sorted(self.versions.items()))


@dataclass(frozen=True)
class LocalState:
    """The DuckDB database a build computes in, kept between builds."""

    path: Path

    @classmethod
    def of(cls, state_dir: Path, settings: Settings) -> LocalState:
        state_dir.mkdir(parents=True, exist_ok=True)
        return cls(state_dir / f"{settings.gold_db}.duckdb")

    @property
    def fresh_path(self) -> Path:
        """Where a full build writes its new database before it replaces the kept one."""
        return self.path.with_name(self.path.name + ".new")

    def build_of(self, con: duckdb.DuckDBPyConnection) -> int | None:
        """The build whose state the open database holds (None: none, or unknown)."""
        try:
            row = run_sql(con, "SELECT build_id FROM state_meta")
        except duckdb.Error:
            return None
        return int(row[0][0]) if row and row[0][0] is not None else None  # type: ignore[call-overload]

    @staticmethod
    def set_build(con: duckdb.DuckDBPyConnection, build_id: int) -> None:
        run_sql(con, "CREATE OR REPLACE TABLE state_meta (build_id BIGINT)")
        run_sql(con, f"INSERT INTO state_meta VALUES ({int(build_id)})")

    def adopt(self, fresh: Path) -> None:
        """Make the closed database ``fresh`` the kept one (its old WAL goes with it)."""
        wal = self.path.with_name(self.path.name + ".wal")
        wal.unlink(missing_ok=True)
        os.replace(fresh, self.path)

    def discard(self) -> None:
        for path in (self.path, self.path.with_name(self.path.name + ".wal")):
            path.unlink(missing_ok=True)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """A DuckDB transaction, rolled back unless the block commits it (``commit``)."""
    run_sql(con, "BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        run_sql(con, "ROLLBACK")
        raise


def commit(con: duckdb.DuckDBPyConnection) -> None:
    run_sql(con, "COMMIT")


def versions_json(versions: dict[str, int]) -> dict[str, Any]:
    return {"versions": dict(sorted(versions.items()))}
