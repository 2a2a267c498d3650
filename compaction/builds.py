"""The two kinds of gold build (full, incremental), run by :func:`compaction.rebuild.rebuild`
under its lock: what each reads, computes, keeps and loads, in logged steps.

Steps (``gold_build_log.step``): ``current state`` (open the silver tables, choose the
kind of build, read the change-logs), ``gold`` (compute in DuckDB; each computed table is
COPYed into the staging schema meanwhile), ``load`` (the last COPYs), ``state`` (keep
the state in the lake), ``swap`` (the one transaction that makes the new gold visible).
A full build has no ``state`` step: it keeps its state in the lake from a thread of its
own, each table as soon as it is computed, and the swap waits for it. Nor has an
incremental build that replaces gold rows in place: during ``gold`` its state changes go
to the lake from threads and each gold table's changed rows into ``public`` (one open
transaction); ``load`` waits for the lake copy, ``swap`` for the rows and commits. Tidying the lake
copy of the state and the work after the swap (making the new local copy of the state
the kept one) never fail a build: they only warn.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from deltalake import DeltaTable

from common.progress import Reporter
from compaction import duckgold, gold, gold_sql, incremental, silver_files
from compaction.configuration import GoldSettings
from compaction.goldstate import ChangeWriter, LakeState, LocalState, StateUnavailable
from compaction.incremental import OutOfOrder
from compaction.lake import Lake
from compaction.plan import Base, Covered, Plan, TableId, choose, covered
from compaction.state import Position, connect, cursor, run_sql
from schemas import SOURCE_TABLES
from schemas import lake as layout


@dataclass
class BuildResult:
    build_id: int
    as_of: date
    row_counts: dict[str, int] = field(default_factory=dict)
    position: Position = field(default_factory=lambda: Position(None, None))
    seconds: float = 0.0
    #: Delta version of each silver table the build read (None: the table did not exist).
    versions: dict[str, int | None] = field(default_factory=dict)
    kind: str = "full"
    why: str = ""


@dataclass
class Build:
    """One running build: its settings, its gold connection (holding the lock), what it
    has found so far and the step it is in."""

    gs: GoldSettings
    conn: gold.Connection
    result: BuildResult
    cutoff: datetime | None
    progress: Reporter
    step: str = "start"
    #: jars the Spark engine adds to Spark's runtime (s3a, JDBC)
    spark_jars: tuple[Path, ...] = ()

    @property
    def build_id(self) -> int:
        return self.result.build_id

    @property
    def as_of(self) -> date:
        return self.result.as_of

    @property
    def schema(self) -> str:
        return gold.staging_schema(self.build_id)

    def enter(self, step: str) -> None:
        self.step = step
        gold.log_step(self.conn, self.build_id, step)

    def finish(self, record: gold.BuildRecord) -> None:
        self.result.row_counts = dict(record.counts)
        self.result.position = record.position
        self.result.kind, self.result.why = record.kind, record.why or ""

    def optional(self, what: str, action: Callable[[], Any]) -> None:
        """Run ``action``, work the build can do without (after the swap, the new gold
        is live; tidying the lake state): a failure only warns."""
        try:
            action()
        except Exception as exc:  # noqa: BLE001 (say what was not done, and go on)
            self.progress(f"warning: {what} failed: {' '.join(str(exc).split())[:300]}")


Tables = dict[str, DeltaTable | None]


def run(b: Build, *, full: bool) -> None:
    """Choose the kind of build and run it."""
    b.enter("current state")
    lake = Lake(b.gs.base)
    with ThreadPoolExecutor(len(SOURCE_TABLES)) as pool:  # one lake round trip at a time
        opened = pool.map(lambda t: lake.open(lake.ref(layout.SILVER, t), b.cutoff), SOURCE_TABLES)
        tables: Tables = dict(zip(SOURCE_TABLES, opened, strict=True))
    now = {t: _identify(dt) for t, dt in tables.items()}
    b.result.versions = {t: ident.version for t, ident in now.items()}
    if b.gs.engine == "spark":
        from compaction import spark_build

        spark_build.full(b, tables, now)
        return
    base = _base(b) if b.gs.keep_state else None
    plan = choose(base, now, full=full, time_travel=b.cutoff is not None, keep=b.gs.keep_state)
    with _scratch(b.gs) as scratch:
        if plan.incremental and base is not None:
            b.progress(f"incremental build {plan.why}")
            try:
                _incremental(b, scratch, tables, now, base)
                return
            except (OutOfOrder, StateUnavailable) as exc:
                b.progress(f"incremental build not possible: {exc}; building from the whole "
                           "change-log")  # fmt: skip
                plan = Plan(False, True, f"incremental not possible: {exc}")
        b.progress(f"full build: {plan.why}" + ("" if plan.keep_state else "; state not kept"))
        _full(b, scratch, tables, now, plan, base)


def _identify(dt: DeltaTable | None) -> TableId:
    return TableId(None, None) if dt is None else TableId(dt.version(), str(dt.metadata().id))


def _base(b: Build) -> Base | None:
    kept, latest = gold.last_builds(b.conn)
    if kept is None:
        return None
    return Base(
        build_id=int(kept["build_id"]),
        as_of=kept["as_of"],
        lake={t: Covered.from_json(doc) for t, doc in (kept["lake_versions"] or {}).items()},
        state={n: int(v) for n, v in (kept["state"] or {}).get("versions", {}).items()},
        row_counts={n: int(c) for n, c in (kept["row_counts"] or {}).items()},
        latest=int(kept["build_id"]) == latest,
    )


@contextlib.contextmanager
def _scratch(gs: GoldSettings) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ecom-gold-", dir=gs.work_dir))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _duck(b: Build, database: Path, scratch: Path) -> duckdb.DuckDBPyConnection:
    return connect(
        database,
        memory_limit=b.gs.duckdb_memory,
        threads=b.gs.duckdb_threads,
        temp_directory=scratch / "spill",
    )


# ---------------------------------------------------------------- full
def _full(
    b: Build,
    scratch: Path,
    tables: Tables,
    now: dict[str, TableId],
    plan: Plan,
    base: Base | None,
) -> None:
    """Compute the state into a new database file (the local copy of the state, made the
    kept one once the new gold is live), keep it in the lake meanwhile
    (:class:`_LakeCopy`), compute gold and COPY it into the staging schema
    (:func:`_compute_and_load`), and swap."""
    local = LocalState.of(b.gs.state_path, b.gs.base)
    database = local.fresh_path if plan.keep_state else scratch / "scratch.duckdb"
    LocalState(database).discard()
    con = _duck(b, database, scratch)
    lake_copy = _LakeCopy(b, con, base) if plan.keep_state else None
    kept = False
    try:
        reads = _read_all(b, con, tables, scratch, lake_copy)
        duckgold.set_params(con, b.as_of)
        duckgold.derive(con)
        counts = _compute_and_load(b, con, scratch)
        lake_json = {t: covered(now[t], reads[t]).to_json() for t in SOURCE_TABLES}
        position = Position(None, None)
        for r in reads.values():
            position = position.merge(r.position)
        record = gold.BuildRecord(counts, position, "full", plan.why, lake_json)
        if lake_copy is not None:
            record = replace(record, state=lake_copy.result())
            kept = record.state is not None
        _swap(b, record)
        b.finish(record)
        if kept:
            b.optional("keeping the local state", lambda: LocalState.set_build(con, b.build_id))
    finally:
        if lake_copy is not None:
            lake_copy.close()
        con.close()
    if kept:
        b.optional("keeping the local state", lambda: local.adopt(database))


class _LakeCopy:
    """A full build's state kept in the lake from threads of their own: first tidy the
    lake copy of the state the build starts from (delete the files only its older
    versions need), then write each state table whole as soon as the build has computed
    it, while the build computes the next ones and gold."""

    #: State tables written at once (each write is mostly lake round trips when small).
    WRITERS = 2

    def __init__(self, b: Build, con: duckdb.DuckDBPyConnection, base: Base | None) -> None:
        self.b, self.store, self._con = b, LakeState(b.gs), con
        self._threads = ThreadPoolExecutor(1 + self.WRITERS)
        self._tidy = self._threads.submit(_tidy, b, base) if base is not None else None
        self._bucket = self._threads.submit(self.store.ensure_bucket)
        self._writes: dict[str, Future[int]] = {}

    def write(self, name: str) -> None:
        """Write state table ``name``, computed and committed, to the lake."""
        self._writes[name] = self._threads.submit(self._write, name)

    def _write(self, name: str) -> int:
        if self._tidy is not None:
            wait([self._tidy])  # it deletes files no version needs: not while writing
        self._bucket.result()
        cur = cursor(self._con)
        try:
            return self.store.write(cur, name, _changed_rows(name, True), self.b.build_id,
                                    overwrite=True)  # fmt: skip
        finally:
            cur.close()

    def result(self) -> dict[str, Any] | None:
        """The state's location and versions once every table is written; None, with a
        warning, if a write failed (the build goes on; the next one is full)."""
        if self._tidy is not None:
            self.b.optional("tidying the lake state", self._tidy.result)
        try:
            versions = {name: job.result() for name, job in self._writes.items()}
        except Exception as exc:  # noqa: BLE001 (the build goes on; the next one is full)
            self.b.progress(f"warning: the state could not be kept in the lake: "
                            f"{' '.join(str(exc).split())[:300]}")  # fmt: skip
            return None
        self.b.progress(f"state: kept in {self.store.root} ({len(versions)} tables written)")
        return {"root": self.store.root, "versions": dict(sorted(versions.items()))}

    def close(self) -> None:
        """Wait for the running jobs; drop the ones not started (a build that failed)."""
        self._threads.shutdown(wait=True, cancel_futures=True)


def _read_all(
    b: Build,
    con: duckdb.DuckDBPyConnection,
    tables: Tables,
    scratch: Path,
    lake_copy: _LakeCopy | None = None,
) -> dict[str, Any]:
    reads = {}
    for table, files in silver_files.fetching(b.gs.base, tables, scratch / "silver"):
        dt = tables[table]
        source = files or (None if dt is None else dt.to_pyarrow_dataset())
        read = duckgold.read_silver(con, table, source)
        reads[table] = read
        if lake_copy is not None:
            lake_copy.write(gold_sql.state_relation(table))
            if table == "customers":
                lake_copy.write(duckgold.HISTORY_TABLE)
        at = "no table yet" if dt is None else f"version {dt.version()}"
        b.progress(f"current state {table}: {read.rows:,} rows from {read.changes:,} changes ({at})")
        if table == "customers":
            n = duckgold.count(con, duckgold.HISTORY_TABLE)
            b.progress(f"customer history: {n:,} versions")
    return reads


#: Gold tables in the order they are computed and loaded: the largest first, so the
#: gold database loads it while DuckDB computes the others.
_LARGEST = ("fact_customer_orders", "dim_customers", "dim_customers_history")
LOAD_ORDER: tuple[str, ...] = (*_LARGEST, *(n for n in gold.GOLD_TABLES if n not in _LARGEST))


def _compute_and_load(b: Build, con: duckdb.DuckDBPyConnection, scratch: Path) -> dict[str, int]:
    """Compute every gold table in DuckDB straight into a CSV file and COPY it into the
    staging schema: each file is loaded over ``load_connections`` connections of their
    own (closed before the swap) while DuckDB computes the next table. Returns the row
    counts."""
    b.enter("gold")
    b.progress("gold: computing the gold tables in DuckDB")
    gold.create_staging(b.conn, b.schema)
    counts: dict[str, int] = {}
    with gold.Loaders(b.gs.base, b.gs.load_connections) as loaders:
        duckgold.set_params(con, b.as_of)
        for name in LOAD_ORDER:
            path = scratch / f"{name}.csv"
            counts[name] = duckgold.compute_to_csv(con, name, path)
            loaders.submit(b.schema, name, path)
        for name in gold.GOLD_TABLES:
            b.progress(f"  {name}: {counts[name]:,} rows")
        b.enter("load")
    b.progress(f"load: {len(gold.GOLD_TABLES)} gold tables copied into {b.schema}")
    return {name: counts[name] for name in gold.GOLD_TABLES}


def _swap(b: Build, record: gold.BuildRecord) -> None:
    b.enter("swap")
    gold.swap(b.conn, b.schema, b.build_id, record, b.gs.swap_lock_timeout)
    b.progress("swap: new gold is live in public")


def _keep(b: Build, con: duckdb.DuckDBPyConnection, changed: dict[str, bool],
          writer: ChangeWriter) -> dict[str, Any] | None:  # fmt: skip
    """Write the state tables named in ``changed`` to the lake (whole, or only the
    changed keys' rows); the state's location and versions, None if it failed."""
    b.enter("state")
    return _kept(b, _start_keeping(b, con, changed, writer))


def _start_keeping(
    b: Build, con: duckdb.DuckDBPyConnection, changed: dict[str, bool], writer: ChangeWriter
) -> ChangeWriter | None:
    """Start writing the state's changes to the lake (``writer``); None, with a warning,
    if that cannot start (the build goes on; the next one is full)."""
    try:
        writer.start(con, b.build_id, changed, _changed_rows)
        return writer
    except Exception as exc:  # noqa: BLE001 (the build goes on; the next one is full)
        _not_kept(b, exc)
        return None


def _kept(b: Build, writer: ChangeWriter | None) -> dict[str, Any] | None:
    """What :func:`_start_keeping` wrote, once written: the state's location and
    versions, None if it failed."""
    if writer is None:
        return None
    try:
        versions = writer.result()
    except Exception as exc:  # noqa: BLE001 (the build goes on; the next one is full)
        _not_kept(b, exc)
        return None
    root = LakeState(b.gs).root
    b.progress(f"state: kept in {root} ({len(writer.written)} tables written)")
    return {"root": root, "versions": versions}


def _not_kept(b: Build, exc: Exception) -> None:
    b.progress(f"warning: the state could not be kept in the lake: {' '.join(str(exc).split())[:300]}")


def _changed_rows(name: str, whole: bool) -> str:
    """The rows of state table ``name`` to write: all, or those of the keys the build
    changed. For a source table's state these are the merge's own rows (``upd_<table>``,
    what :func:`incremental.merge_table` put in place of the changed keys' rows); the
    history's are every version of the changed customers."""
    if whole:
        return f"SELECT * FROM {name}"
    if name == duckgold.HISTORY_TABLE:
        return f"SELECT * FROM {name} WHERE customer_id IN (SELECT customer_id FROM hk)"
    return f"SELECT * FROM upd_{name.removeprefix('st_')}"


def _tidy(b: Build, base: Base) -> None:
    """Tidy the lake copy of ``base``'s state (:meth:`LakeState.tidy`), table by table
    at once (the work is lake round trips)."""
    store = LakeState(b.gs)
    kept = [(n, v) for n, v in base.state.items() if n in duckgold.state_tables()]
    with ThreadPoolExecutor(len(kept) or 1) as pool:
        list(pool.map(lambda nv: store.tidy(*nv), kept))


# ---------------------------------------------------------------- incremental
def _incremental(
    b: Build, scratch: Path, tables: Tables, now: dict[str, TableId], base: Base
) -> None:
    local = LocalState.of(b.gs.state_path, b.gs.base)
    con = _duck(b, local.path, scratch)
    try:
        if local.build_of(con) != base.build_id:
            _load_kept(b, con, base)
        duckgold.derive(con, replace=False)  # a database kept by an older version
        txn = _LocalCommit(b, con)
        # the lake copy of the state is opened while the changes are read and merged
        writer = ChangeWriter(LakeState(b.gs), duckgold.state_tables(), base.state)
        try:
            _apply(b, con, scratch, tables, now, base, txn, writer)
        except BaseException:
            txn.abandon()
            raise
        finally:
            writer.close()
        txn.finish()
    finally:
        con.close()


class _LocalCommit:
    """The transaction of an incremental build's local state, committed (with the
    build's id) once: from a thread of its own as soon as the build has no more use for
    DuckDB, while the gold database loads, or at the end. Committing before the swap is
    safe: if the swap then fails, the database holds a build that no later build starts
    from, and that one reads the state from the lake copy instead."""

    def __init__(self, b: Build, con: duckdb.DuckDBPyConnection) -> None:
        self._b, self._con = b, con
        self._thread: ThreadPoolExecutor | None = None
        self._job: Future[None] | None = None
        self._finished = False
        run_sql(con, "BEGIN TRANSACTION")

    def _commit(self) -> None:
        LocalState.set_build(self._con, self._b.build_id)
        run_sql(self._con, "COMMIT")

    def start(self) -> None:
        """Commit from a thread; the caller uses the connection no more."""
        self._thread = ThreadPoolExecutor(1)
        self._job = self._thread.submit(self._commit)

    def finish(self) -> None:
        """Wait for the commit (or commit now), once; a failure only warns."""
        if self._finished:
            return
        self._finished = True
        if self._job is None:
            self._b.optional("keeping the local state", self._commit)
            return
        assert self._thread is not None
        self._b.optional("keeping the local state", self._job.result)
        self._thread.shutdown()

    def abandon(self) -> None:
        """The build failed: roll back, unless the commit already started."""
        if self._finished:
            return
        self._finished = True
        if self._job is None:
            with contextlib.suppress(Exception):
                run_sql(self._con, "ROLLBACK")
            return
        assert self._thread is not None
        with contextlib.suppress(Exception):
            self._job.result()
        self._thread.shutdown()


def _load_kept(b: Build, con: duckdb.DuckDBPyConnection, base: Base) -> None:
    """Fill the local database with the state ``base`` kept in the lake."""
    b.progress(f"state: reading the state of build #{base.build_id} from the lake")
    store = LakeState(b.gs)
    try:
        for name in duckgold.state_tables():
            if name not in base.state:
                raise StateUnavailable(f"build #{base.build_id} kept no {name}")
            store.load(con, name, base.state[name])
        duckgold.create_views(con)
        duckgold.set_params(con, base.as_of)  # what the kept derived relations are as of
        duckgold.derive(con)
        LocalState.set_build(con, base.build_id)
    except duckdb.Error as exc:
        raise StateUnavailable(f"the kept state cannot be loaded: {exc}") from exc


def _apply(
    b: Build,
    con: duckdb.DuckDBPyConnection,
    scratch: Path,
    tables: Tables,
    now: dict[str, TableId],
    base: Base,
    txn: _LocalCommit,
    writer: ChangeWriter,
) -> None:
    reads = {}
    fetched = silver_files.fetching(b.gs.base, tables, scratch / "silver", only={
        t: paths for t, dt in tables.items()
        if dt is not None and (paths := _new_files(dt, base.lake[t].offsets)) is not None
    })  # fmt: skip
    for table, files in fetched:
        dt, cov = tables[table], base.lake[table].offsets
        source: Any = files
        if source is None and dt is not None:
            source = dt.to_pyarrow_dataset(
                file_pruning_predicate=incremental.pruning_predicate(cov)
            )
        reads[table] = incremental.read_new(con, table, source, cov)
        b.progress(f"new changes {table}: {reads[table].changes:,} rows "
                   f"(version {now[table].version})")  # fmt: skip
    lake_json = {t: covered(now[t], reads[t], base.lake[t]) for t in SOURCE_TABLES}
    position = Position(None, None)
    for c in lake_json.values():
        position = position.merge(c.position)
    record = gold.BuildRecord(
        base.row_counts, position, "incremental", None,
        {t: c.to_json() for t, c in lake_json.items()},
    )  # fmt: skip
    if incremental.empty_changes(con) and base.latest and b.as_of == base.as_of:
        record = replace(record, why="no new changes",
                         state={"root": LakeState(b.gs).root, "versions": base.state})  # fmt: skip
        gold.log_success(b.conn, b.build_id, record)
        b.finish(record)
        b.progress("no new changes: gold is up to date")
        return
    batch = incremental.merge_all(
        con, {t: (base.lake[t].truncate, base.lake[t].truncate_ts) for t in SOURCE_TABLES}
    )
    merges, hist, changed = batch.merges, batch.history, batch.changed
    summary = ", ".join(f"{t} {m.changed_keys:,}" for t, m in merges.items() if m.changed_keys)
    b.progress(f"state: changed keys {summary or 'none'}; history of {hist.customers:,} customers")
    if base.latest and not batch.truncated:
        _in_place(b, con, scratch, record, changed, base, txn, writer)
    else:
        why = "a truncate" if batch.truncated else f"the gold in public is not build #{base.build_id}'s"
        b.progress(f"gold: every table recomputed from the state ({why})")
        counts = _compute_and_load(b, con, scratch)
        record = replace(record, counts=counts, why=f"whole gold: {why}")
        record = replace(record, state=_keep(b, con, changed, writer))
        _swap(b, record)
        b.finish(record)


def _new_files(dt: DeltaTable, coverage: dict[str, dict[int, int]]) -> list[str] | None:
    """The table's data files that may hold changes above ``coverage`` (None: all)."""
    actions = pa.RecordBatchReader.from_stream(dt.get_add_actions(flatten=True)).read_all()
    return incremental.new_files(actions, coverage)


def _in_place(
    b: Build,
    con: duckdb.DuckDBPyConnection,
    scratch: Path,
    record: gold.BuildRecord,
    changed: dict[str, bool],
    base: Base,
    txn: _LocalCommit,
    writer: ChangeWriter,
) -> None:
    """Recompute the affected gold rows and replace them in ``public``
    (:class:`gold.ChangeApply`: each table as soon as it is computed). The state's
    changes go to the lake meanwhile (the commit in the gold database waits for them),
    and the local state is committed once DuckDB has done its part."""
    b.enter("gold")
    duckgold.set_params(con, b.as_of)
    whole = frozenset({"agg_inventory_status"}) if b.as_of != base.as_of else frozenset()
    keys = {n: REPLACE_KEY.get(n, gold_sql.GOLD[n].key[0]) for n in gold.GOLD_TABLES}
    with contextlib.ExitStack() as done_with:
        apply = gold.ChangeApply(b.gs.base, b.schema, b.build_id, b.gs.swap_lock_timeout)
        done_with.callback(apply.close)

        def hand_over(name: str) -> None:
            k_path, r_path = scratch / f"k_{name}.csv", scratch / f"{name}.csv"
            duckgold.export_csv(con, f"SELECT k FROM dk_{name}", k_path)
            duckgold.export_gold(con, name, r_path, relation=f"dg_{name}")
            apply.submit(name, keys[name], k_path, r_path)

        # The gold database replaces one table after the other and takes longer than
        # DuckDB, so it gets the first tables before the state's rows are taken for
        # the lake (the lake writes have time to spare).
        history_rows = incremental.history_delta(con)
        hand_over(gold_sql.HISTORY)
        first = incremental.RECOMPUTE_ORDER[:1]
        rec = incremental.recompute(con, whole, done=hand_over, names=first)
        started = _start_keeping(b, con, changed, writer)
        if started is not None:
            done_with.callback(started.close)
        rest = incremental.recompute(
            con, whole, done=hand_over, names=incremental.RECOMPUTE_ORDER[1:]
        )
        rec.keys |= rest.keys
        rec.rows |= rest.rows
        rec.keys[gold_sql.HISTORY] = duckgold.count(con, "hk")
        rec.rows[gold_sql.HISTORY] = history_rows
        txn.start()
        b.progress("gold: recomputed " + ", ".join(
            f"{n} {rec.keys[n]:,} keys ({rec.rows[n]:,} rows)" for n in gold.GOLD_TABLES))  # fmt: skip
        record = replace(record, why="changed rows: " + ", ".join(
            f"{n} {rec.keys[n]:,}" for n in gold.GOLD_TABLES if rec.keys[n]))  # fmt: skip
        b.enter("load")
        record = replace(record, state=_kept(b, started))
        b.enter("swap")
        counts = apply.commit(record)
    txn.finish()
    b.finish(replace(record, counts=counts))
    b.progress("swap: changed gold rows are live in public")


#: The column naming the rows an incremental build replaces, where it is not the first
#: column of the table's key: fact_daily_sales is recomputed by whole days.
REPLACE_KEY = {"fact_daily_sales": "sale_date"}
