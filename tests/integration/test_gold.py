"""Gold rebuild against the real stack: gold equals the contract computed on the source.

Seeds a small scale, runs live traffic with deletes and dirty rows, waits until the
pipeline has caught up, rebuilds gold (`ecom gold rebuild`) and compares every gold
table, row for row and value for value, with the contract's definitions computed by
SQL directly on the source database (tests/integration/gold_reference.py).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg2
import pytest

from common.settings import Settings
from compaction.configuration import LAKE_LOCK_KEY, LOCK_KEY
from compaction.gold import GOLD_TABLES
from compaction.lake import Lake
from ecom import catchup
from stream_apps.configuration import StreamSettings
from tests.integration import gold_reference as ref
from tests.integration.conftest import run_cli
from tests.integration.stream_helpers import (
    read_silver,
    silver_changes,
)

#: The seed's anchor: its order dates lead up to this day.
ANCHOR = date(2026, 11, 1)
#: Gold is built as of today: an earlier day would read the lake as it was at its end
#: (Delta time travel), before this test wrote it.
AS_OF = datetime.now(UTC).date()
COMPARED = tuple(ref.COLUMNS)


def _gold_query(s: Settings, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(s.gold_dsn, options="-c timezone=UTC")
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())
    finally:
        conn.close()


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


def _rebuild(*args: str, env: dict[str, str] | None = None) -> tuple[Any, float]:
    t0 = time.monotonic()
    res = run_cli("gold", "rebuild", *args, env=env, timeout=600)
    return res, time.monotonic() - t0


@pytest.fixture(scope="module")
def built(stream: StreamSettings) -> Iterator[dict[str, Any]]:
    """Seed + live traffic + caught up + one rebuild as of AS_OF."""
    res = run_cli(
        "generate", "seed", "--scale", "0.005", "--truncate", "--seed", "3",
        "--anchor-date", ANCHOR.isoformat(),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    res = run_cli("generate", "live", "--rate", "300", "--duration", "8", "--seed", "5",
                  "--dirty-rate", "0.02", "--json")  # fmt: skip
    assert res.returncode == 0, res.stderr
    catchup.wait_caught_up(stream, 240)
    res, seconds = _rebuild("--as-of", AS_OF.isoformat())
    assert res.returncode == 0, res.stderr
    print(f"gold rebuild took {seconds:.1f}s\n{res.stderr}")
    yield {"settings": stream.base, "stream": stream, "seconds": seconds}


@pytest.mark.parametrize("table", COMPARED)
def test_gold_equals_contract_on_source(built: dict[str, Any], table: str) -> None:
    s: Settings = built["settings"]
    got = ref.gold(s.gold_dsn, table)
    want = ref.reference(s.source_dsn, table, AS_OF)
    assert len(got) == len(want), f"{table}: gold {len(got)} rows, source {len(want)}"
    bad = [(g, w) for g, w in zip(got, want, strict=True) if g != w]
    assert not bad, f"{table}: {len(bad)} rows differ, first: gold {bad[0][0]} source {bad[0][1]}"
    assert got, f"{table} is empty: the test data does not exercise it"


def test_build_log_records_success_and_position(built: dict[str, Any]) -> None:
    s: Settings = built["settings"]
    log = _last_log(s)
    assert log["status"] == "succeeded" and log["as_of"] == AS_OF
    assert log["finished_at"] >= log["started_at"]
    assert set(log["row_counts"]) == set(GOLD_TABLES)
    assert log["row_counts"]["dim_customers"] == len(ref.gold(s.gold_dsn, "dim_customers"))
    assert log["max_commit_ts"] is not None and log["max_source_lsn"] is not None
    schemas = _gold_query(
        s, "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'gold\\_build\\_%%'"
    )
    assert schemas == [], "the staging schema must be dropped by the swap"


def test_customer_history_current_versions_match_source(built: dict[str, Any]) -> None:
    s: Settings = built["settings"]
    current = _gold_query(
        s, "SELECT customer_id, email, customer_segment, loyalty_tier "
        "FROM public.dim_customers_history WHERE is_current",
    )  # fmt: skip
    assert len({r[0] for r in current}) == len(current), "one current version per customer"
    src = psycopg2.connect(s.source_dsn)
    try:
        with src.cursor() as cur:
            cur.execute(
                "SELECT customer_id, lower(trim(email)), customer_segment, loyalty_tier "
                "FROM public.customers"
            )
            want = sorted(cur.fetchall())
    finally:
        src.close()
    assert sorted(current) == want
    dim = _gold_query(
        s, "SELECT customer_id, email, customer_segment, loyalty_tier FROM public.dim_customers"
    )
    assert sorted(dim) == want
    bad = _gold_query(
        s, "SELECT count(*) FROM public.dim_customers_history "
        "WHERE valid_to < valid_from OR (valid_to IS NULL) <> is_current",
    )  # fmt: skip
    assert bad == [(0,)]


def _expected_history(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """SCD2 versions since the last truncate, computed row by row from silver (an
    independent implementation of the rule, for the test only)."""
    open_: dict[int, list[Any]] = {}
    out: list[list[Any]] = []
    for r in silver_changes("customers", rows):
        key = r["customer_id"]
        attrs = (r["email"], r["customer_segment"], r["loyalty_tier"])
        cur = open_.get(key)
        if r["is_delete"]:
            if cur is not None:
                cur[5] = r["commit_ts"]
                del open_[key]
            continue
        if cur is not None and tuple(cur[1:4]) == attrs:
            continue
        if cur is not None:
            cur[5] = r["commit_ts"]
        new = [key, *attrs, r["commit_ts"], None]
        open_[key] = new
        out.append(new)
    return sorted(tuple(v) for v in out)


def test_customer_history_has_a_version_per_change(built: dict[str, Any]) -> None:
    s: Settings = built["settings"]
    rows = read_silver(built["stream"], "customers")
    want = _expected_history(rows)
    since = min(v[4] for v in want)
    got = sorted(
        _gold_query(
            s, "SELECT customer_id, email, customer_segment, loyalty_tier, valid_from, valid_to "
            "FROM public.dim_customers_history WHERE valid_from >= %s", (since,),
        )
    )  # fmt: skip
    assert got == want
    changed = [k for k in {v[0] for v in want} if sum(1 for v in want if v[0] == k) > 1]
    assert changed, "live traffic changed no tier/segment/email: the test exercises nothing"


def test_second_rebuild_is_idempotent(built: dict[str, Any]) -> None:
    s: Settings = built["settings"]
    before = ref.fingerprint(s.gold_dsn, GOLD_TABLES)
    res, _ = _rebuild("--as-of", AS_OF.isoformat())
    assert res.returncode == 0, res.stderr
    assert ref.fingerprint(s.gold_dsn, GOLD_TABLES) == before
    res = run_cli("gold", "verify")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "checks, OK" in res.stdout, res.stdout


def test_as_of_a_time_reads_the_lake_as_it_was_then(built: dict[str, Any]) -> None:
    """Delta time travel: gold built now as of a past moment equals the gold a build at
    that moment produced, although the lake has grown since."""
    s: Settings = built["settings"]
    stream: StreamSettings = built["stream"]
    res, _ = _rebuild("--as-of", AS_OF.isoformat())
    assert res.returncode == 0, res.stderr
    then_gold = ref.fingerprint(s.gold_dsn, GOLD_TABLES)
    time.sleep(1.5)  # commits after this instant are after it to the millisecond
    then = datetime.now(UTC).replace(microsecond=0)
    time.sleep(1.5)
    res = run_cli("generate", "live", "--rate", "200", "--duration", "4", "--seed", "77")
    assert res.returncode == 0, res.stderr
    catchup.wait_caught_up(stream, 240)
    try:
        res, _ = _rebuild("--as-of", then.isoformat().replace("+00:00", "Z"))
        assert res.returncode == 0, res.stderr
        assert "lake as of" in res.stderr
        assert ref.fingerprint(s.gold_dsn, GOLD_TABLES) == then_gold
        res, _ = _rebuild("--as-of", AS_OF.isoformat())
        assert res.returncode == 0, res.stderr
        assert ref.fingerprint(s.gold_dsn, GOLD_TABLES) != then_gold, "the traffic changed nothing"
    finally:
        res, _ = _rebuild("--as-of", AS_OF.isoformat())
        assert res.returncode == 0, res.stderr


def test_as_of_a_day_before_the_lake_existed_builds_empty_gold(built: dict[str, Any]) -> None:
    s: Settings = built["settings"]
    before = AS_OF - timedelta(days=400)
    try:
        res, _ = _rebuild("--as-of", before.isoformat())
        assert res.returncode == 0, res.stderr
        assert ref.gold(s.gold_dsn, "dim_customers") == []
        assert _last_log(s)["as_of"] == before
    finally:
        res, _ = _rebuild("--as-of", AS_OF.isoformat())
        assert res.returncode == 0, res.stderr


def test_failed_rebuild_keeps_previous_gold_and_logs_failure(built: dict[str, Any]) -> None:
    s: Settings = built["settings"]
    before = ref.fingerprint(s.gold_dsn, GOLD_TABLES)
    res, _ = _rebuild(env={"ECOM_SILVER_BUCKET": "nosuch-silver"})
    assert res.returncode == 1
    lines = [line for line in res.stderr.splitlines() if not line.startswith("[")]
    assert len(lines) == 1 and lines[0].startswith("error: gold rebuild #"), res.stderr
    assert "nosuch-silver" in lines[0]
    assert ref.fingerprint(s.gold_dsn, GOLD_TABLES) == before
    log = _last_log(s)
    assert log["status"] == "failed" and log["finished_at"] is not None
    assert "nosuch-silver" in log["error"] and log["step"] == "current state"


@contextlib.contextmanager
def _lock_held(s: Settings, key: int) -> Iterator[Any]:
    """A session of the test's own holding the advisory lock ``key``; yields it."""
    holder = psycopg2.connect(s.gold_dsn, application_name="test lock holder")
    holder.autocommit = True
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (key,))
        yield holder
    finally:
        holder.close()


def test_concurrent_rebuild_is_refused_by_the_lock(built: dict[str, Any]) -> None:
    s: Settings = built["settings"]
    with _lock_held(s, LOCK_KEY) as holder:
        before = _last_log(s)["build_id"]
        res, seconds = _rebuild()
        assert res.returncode == 1
        assert "another gold rebuild is running (since " in res.stderr, res.stderr
        assert seconds < 30
        assert _last_log(s)["build_id"] == before, "a locked-out rebuild must not log a build"
        res, _ = _rebuild("--if-idle")  # the refresh timer's way: skip, not fail
        assert res.returncode == 0, res.stderr
        lines = res.stdout.splitlines()
        assert len(lines) == 1, res.stdout
        assert lines[0].startswith("gold rebuild skipped: another gold rebuild is running")
        res, seconds = _rebuild("--wait-lock", "3")
        assert res.returncode == 1 and seconds >= 3, (seconds, res.stderr)
        assert _last_log(s)["build_id"] == before
        threading.Timer(2.0, holder.close).start()  # the running build ends: the wait wins
        res, _ = _rebuild("--wait-lock", "60", "--as-of", AS_OF.isoformat())
        assert res.returncode == 0, res.stderr
        assert _last_log(s)["build_id"] > before


def test_readers_see_old_or_new_gold_never_a_mix(built: dict[str, Any]) -> None:
    """Rebuilds alternate between two as-of dates (today; a day before the lake existed,
    whose gold is empty) while a reader polls; in every snapshot the 30-day units of
    agg_inventory_status must be the value that belongs to the as-of of the latest
    successful build (both are swapped in one transaction)."""
    s: Settings = built["settings"]
    dates = (AS_OF, AS_OF - timedelta(days=400))
    sql = (
        "SELECT (SELECT as_of FROM public.gold_build_log WHERE status = 'succeeded' "
        "ORDER BY build_id DESC LIMIT 1), (SELECT sum(units_sold_30d) FROM "
        "public.agg_inventory_status)"
    )
    seen: dict[date, set[Any]] = {d: set() for d in dates}
    stop = threading.Event()
    errors: list[BaseException] = []

    def reader() -> None:
        conn = psycopg2.connect(s.gold_dsn)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                while not stop.is_set():
                    cur.execute(sql)
                    row = cur.fetchone()
                    assert row is not None
                    seen.setdefault(row[0], set()).add(row[1])
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            conn.close()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        for d in (*dates, *dates):
            proc = subprocess.run(
                [sys.executable, "-m", "ecom.cli", "gold", "rebuild", "--as-of", d.isoformat()],
                capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            assert proc.returncode == 0, proc.stderr
    finally:
        stop.set()
        thread.join(30)
    assert not errors, errors
    for d in dates:
        assert len(seen[d]) == 1, f"as of {d} readers saw {seen[d]}: a mix of two builds"
    assert seen[dates[0]] != seen[dates[1]], "the two as-of dates must give different gold"
    res, _ = _rebuild("--as-of", AS_OF.isoformat())
    assert res.returncode == 0, res.stderr


def test_lake_maintenance_runs_one_at_a_time(built: dict[str, Any]) -> None:
    """A second optimize or vacuum is refused (or waits) while one runs: delta-rs lets two
    compactions of the same files both commit, which would leave every row twice."""
    s: Settings = built["settings"]
    with _lock_held(s, LAKE_LOCK_KEY) as holder:
        for args in (("optimize", "orders"), ("vacuum", "orders")):
            done = run_cli("lake", *args, timeout=120)
            assert done.returncode == 1, done.stdout + done.stderr
            assert "another lake optimize or vacuum is running (since " in done.stderr, done.stderr
            assert len(done.stderr.strip().splitlines()) <= 2, done.stderr
        threading.Timer(2.0, holder.close).start()  # the running one ends: the wait wins
        done = run_cli("lake", "optimize", "orders", "--wait-lock", "60", timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "files compacted into" in done.stdout + done.stderr


def _lake_rows(lake: Lake) -> dict[str, tuple[int, int]]:
    """Per table and layer: rows, and distinct Kafka (partition, offset) coordinates."""
    from schemas import lake as layout

    out = {}
    for r in lake.refs():
        dt = lake.open(r)
        assert dt is not None, r
        coords = layout.COORDINATES[r.layer]
        t = dt.to_pyarrow_table(columns=[coords.partition, coords.offset])
        pairs = set(zip(t[coords.partition].to_pylist(), t[coords.offset].to_pylist(), strict=True))
        out[str(r)] = (t.num_rows, len(pairs))
    return out


def test_lake_maintainer_compacts_the_recent_days_and_changes_no_row(
    built: dict[str, Any],
) -> None:
    """A maintainer round compacts the day partitions the stream writes (today's here),
    leaves other days alone, changes no row, and skips a round while another maintenance
    holds the lock; the background process starts and stops with its log."""
    from compaction import configuration, maintainer

    s: Settings = built["settings"]
    stream: StreamSettings = built["stream"]
    _traffic(stream, seed=41)  # new small files today
    lake = Lake(s)
    rows = _lake_rows(lake)
    assert all(n == distinct for n, distinct in rows.values()), rows
    gs = configuration.load()
    later = datetime.now(UTC) + timedelta(days=5)  # today is not among that time's 2 days
    assert maintainer.compact_recent(gs, now=later) == []
    with _lock_held(s, LAKE_LOCK_KEY):
        done = run_cli("lake", "maintain", "--once", timeout=300)
        assert done.returncode == 0, done.stderr
        assert "round skipped: another lake optimize or vacuum is running" in (
            done.stdout + done.stderr
        )
    before = {str(r): lake.info(r).files for r in lake.refs()}
    done = run_cli("lake", "maintain", "--once", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "files compacted into" in done.stdout + done.stderr
    after = {str(r): lake.info(r).files for r in lake.refs()}
    assert sum(after.values()) < sum(before.values()), (before, after)
    assert _lake_rows(lake) == rows
    pid, started = maintainer.start(s)
    try:
        assert started and maintainer.running(s) == pid
        assert maintainer.start(s) == (pid, False)  # one per lake
        deadline = time.monotonic() + 60
        log = maintainer.log_file(s)
        while "compacting the newest" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, "the maintainer never started its rounds"
            time.sleep(0.5)
    finally:
        assert maintainer.stop(s) == pid
    assert maintainer.running(s) is None
    assert "stopped" in maintainer.log_file(s).read_text().splitlines()[-1]


def test_lake_maintenance_changes_no_gold(built: dict[str, Any]) -> None:
    """`ecom lake optimize` compacts each table to at most 2 files per day partition and
    `ecom lake vacuum` deletes the replaced files; gold rebuilt on the result is the same."""
    s: Settings = built["settings"]
    res, _ = _rebuild("--as-of", AS_OF.isoformat())
    assert res.returncode == 0, res.stderr
    before = ref.fingerprint(s.gold_dsn, GOLD_TABLES)
    done = run_cli("lake", "optimize", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    lake = Lake(s)
    for ref_ in lake.refs():
        info = lake.info(ref_)
        assert info.exists, ref_
        assert max(info.files_per_day.values()) <= 2, (ref_, info.files_per_day)
    done = run_cli("lake", "vacuum", "--retention", "0", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "files deleted" in done.stdout
    res, _ = _rebuild("--as-of", AS_OF.isoformat())
    assert res.returncode == 0, res.stderr
    assert ref.fingerprint(s.gold_dsn, GOLD_TABLES) == before
    hist = run_cli("lake", "history", "orders", "--layer", "bronze", "--limit", "50", "--json")
    assert hist.returncode == 0, hist.stderr
    import json

    ops = [c["operation"] for c in json.loads(hist.stdout)]
    assert "OPTIMIZE" in ops and "VACUUM END" in ops, ops
    writes = [c for c in json.loads(hist.stdout) if c["operation"] == "WRITE"]
    assert writes and all(c["topic"] == s.cdc_topic("orders") and c["offsets"] for c in writes)


# ---------------------------------------------------------------- incremental builds
def _contract_holds(s: Settings) -> None:
    for table in COMPARED:
        assert ref.gold(s.gold_dsn, table) == ref.reference(s.source_dsn, table, AS_OF), table


def _incremental_then_full(s: Settings) -> dict[str, str]:
    """An incremental build, then a full one: both must give the same gold (returned)."""
    res, _ = _rebuild("--as-of", AS_OF.isoformat())
    assert res.returncode == 0, res.stderr
    log = _last_log(s)
    assert log["kind"] == "incremental", (log["why"], res.stderr)
    assert "incremental build from the state of build #" in res.stderr, res.stderr
    incremental = ref.fingerprint(s.gold_dsn, GOLD_TABLES)
    _contract_holds(s)
    res, _ = _rebuild("--full", "--as-of", AS_OF.isoformat())
    assert res.returncode == 0, res.stderr
    assert _last_log(s)["kind"] == "full"
    assert ref.fingerprint(s.gold_dsn, GOLD_TABLES) == incremental
    return incremental


def _traffic(stream: StreamSettings, seed: int) -> None:
    res = run_cli("generate", "live", "--rate", "200", "--duration", "5", "--seed", str(seed),
                  "--dirty-rate", "0.02")  # fmt: skip
    assert res.returncode == 0, res.stderr
    catchup.wait_caught_up(stream, 240)


def test_incremental_equals_full_after_traffic_and_optimize(built: dict[str, Any]) -> None:
    """Live traffic (updates, deletes, quarantined dirty rows) applied incrementally gives
    the gold a full build gives; also when `ecom lake optimize` rewrote the silver files
    between the two builds (its rewritten rows are all covered already)."""
    s: Settings = built["settings"]
    res, _ = _rebuild("--full", "--as-of", AS_OF.isoformat())
    assert res.returncode == 0, res.stderr
    before = ref.fingerprint(s.gold_dsn, GOLD_TABLES)
    _traffic(built["stream"], 101)
    after = _incremental_then_full(s)
    assert after != before, "the traffic changed no gold: the test exercises nothing"
    _traffic(built["stream"], 102)
    done = run_cli("lake", "optimize", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    _incremental_then_full(s)
    res, _ = _rebuild("--as-of", AS_OF.isoformat())
    assert res.returncode == 0, res.stderr
    assert "no new changes: gold is up to date" in res.stderr, res.stderr


def test_kept_state_survives_the_loss_of_the_local_copy(built: dict[str, Any]) -> None:
    """The state is kept in MinIO: without the local DuckDB database the next build reads
    it from the lake and is still incremental."""
    from compaction.configuration import load as gold_settings

    s: Settings = built["settings"]
    res, _ = _rebuild("--as-of", AS_OF.isoformat())
    assert res.returncode == 0, res.stderr
    _traffic(built["stream"], 103)
    local = gold_settings(s).state_path
    removed = [p for p in local.glob("*.duckdb*") if p.is_file()]
    assert removed, f"no local state in {local}"
    for path in removed:
        path.unlink()
    res, _ = _rebuild("--as-of", AS_OF.isoformat())
    assert res.returncode == 0, res.stderr
    assert "reading the state of build #" in res.stderr, res.stderr
    assert _last_log(s)["kind"] == "incremental"
    _contract_holds(s)


def test_an_incremental_build_failing_at_its_swap_leaves_gold_and_state_usable(
    built: dict[str, Any],
) -> None:
    """The changed rows wait on a lock another session holds on a gold table: the build
    fails at its swap and gold is unchanged. Its local state was committed already, so
    the next build must not start from it: it reads the state of the last good build
    from the lake, and its incremental gold equals a full build's."""
    s: Settings = built["settings"]
    res, _ = _rebuild("--as-of", AS_OF.isoformat())
    assert res.returncode == 0, res.stderr
    _traffic(built["stream"], 105)
    before = ref.fingerprint(s.gold_dsn, GOLD_TABLES)
    holder = psycopg2.connect(s.gold_dsn, application_name="test lock holder")
    try:
        with holder.cursor() as cur:
            cur.execute("LOCK TABLE public.fact_customer_orders IN SHARE MODE")
        res, _ = _rebuild("--as-of", AS_OF.isoformat(), env={"ECOM_GOLD_SWAP_LOCK_TIMEOUT": "1"})
    finally:
        holder.rollback()
        holder.close()
    assert res.returncode == 1, res.stderr
    assert "lock timeout" in res.stderr, res.stderr
    assert ref.fingerprint(s.gold_dsn, GOLD_TABLES) == before
    assert _last_log(s)["status"] == "failed"
    res, _ = _rebuild("--as-of", AS_OF.isoformat())
    assert res.returncode == 0, res.stderr
    assert "reading the state of build #" in res.stderr, res.stderr
    assert _last_log(s)["kind"] == "incremental"
    _contract_holds(s)
    incremental = ref.fingerprint(s.gold_dsn, GOLD_TABLES)
    res, _ = _rebuild("--full", "--as-of", AS_OF.isoformat())
    assert res.returncode == 0, res.stderr
    assert ref.fingerprint(s.gold_dsn, GOLD_TABLES) == incremental


def test_as_of_before_the_kept_state_does_not_replace_it(built: dict[str, Any]) -> None:
    """A build as of a time before the kept state's coverage is a full build from the
    time-travelled tables, keeps no state, and the next build starts from the newer state."""
    s: Settings = built["settings"]
    res, _ = _rebuild("--as-of", AS_OF.isoformat())
    assert res.returncode == 0, res.stderr
    kept = _last_log(s)["build_id"]
    then = datetime.now(UTC).replace(microsecond=0)
    time.sleep(1.5)
    _traffic(built["stream"], 104)
    res, _ = _rebuild("--as-of", AS_OF.isoformat())  # the state now covers the traffic
    assert res.returncode == 0, res.stderr
    newest = _last_log(s)
    assert newest["kind"] == "incremental" and newest["state"] is not None
    res, _ = _rebuild("--as-of", then.isoformat().replace("+00:00", "Z"))
    assert res.returncode == 0, res.stderr
    past = _last_log(s)
    assert past["kind"] == "full" and past["state"] is None, past["why"]
    assert past["build_id"] > newest["build_id"] > kept
    res, _ = _rebuild("--as-of", AS_OF.isoformat())
    assert res.returncode == 0, res.stderr
    assert f"from the state of build #{newest['build_id']}" in res.stderr, res.stderr
    assert _last_log(s)["kind"] == "incremental"
    _contract_holds(s)


def test_incremental_after_a_truncate_equals_full(built: dict[str, Any]) -> None:
    """The source is truncated and seeded again (truncate events in every change-log):
    the incremental build recomputes the whole gold from the cut state. Runs last: it
    replaces the module's data."""
    s: Settings = built["settings"]
    res, _ = _rebuild("--as-of", AS_OF.isoformat())
    assert res.returncode == 0, res.stderr
    res = run_cli(
        "generate", "seed", "--scale", "0.004", "--truncate", "--seed", "9",
        "--anchor-date", ANCHOR.isoformat(),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    catchup.wait_caught_up(built["stream"], 240)
    _incremental_then_full(s)
    assert "a truncate" in (_last_build_why(s, offset=1) or "")


def _last_build_why(s: Settings, offset: int) -> str | None:
    rows = _gold_query(
        s, "SELECT why FROM public.gold_build_log WHERE status = 'succeeded' "
        "ORDER BY build_id DESC LIMIT 1 OFFSET %s", (offset,),
    )  # fmt: skip
    return rows[0][0] if rows else None
