"""`ecom replay` against the real stack: refuse while workers run, dry run, reset + catch-up,
and the replay proof: a full replay changes nothing in bronze, silver's state or gold."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import date
from typing import Any

import psycopg2
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from compaction import state
from compaction.gold import GOLD_TABLES
from ecom import catchup, replay
from schemas import PRIMARY_KEYS, SOURCE_TABLES
from stream_apps import workers
from stream_apps.configuration import StreamSettings
from tests.integration import stream_helpers as h
from tests.integration.conftest import run_cli

TABLE = "marketing_campaigns"  # the smallest table: a quick replay


def committed(s: StreamSettings) -> dict[tuple[str, int], int]:
    topics = [s.base.cdc_topic(TABLE), s.silver_topic(TABLE)]
    return {(x.topic, x.partition): x.committed for x in catchup.consumer_lags(s, topics)}


def one_error_line(out: str) -> str:
    lines = [x for x in out.strip().splitlines() if x.strip()]
    assert len(lines) == 1, out
    assert lines[0].startswith("error: ")
    return lines[0]


def test_refuses_while_a_worker_runs_and_names_it(stream: StreamSettings) -> None:
    h.wait_until(lambda: h.workers_up(stream, 1), 90, "worker up")
    admin = replay._admin(stream)
    members = h.wait_until(
        lambda: replay.describe_group(admin, stream.app_id).members, 90, "group members"
    )
    before = committed(stream)
    r = run_cli("replay", "--group", stream.app_id, "--table", TABLE, "--to-earliest", "--yes")
    assert r.returncode == 1, r.stdout + r.stderr
    line = one_error_line(r.stderr)
    assert "active member" in line
    assert any(m.split("@")[0] in line for m in members), (line, members)
    assert committed(stream) == before or all(  # workers may commit new offsets, never lower
        committed(stream)[k] >= v for k, v in before.items()
    )


def test_dry_run_prints_the_plan_and_changes_nothing(stream: StreamSettings) -> None:
    h.stop_workers(stream)
    try:
        admin = replay._admin(stream)
        h.wait_until(lambda: not replay.describe_group(admin, stream.app_id).members, 90, "empty")
        before = committed(stream)
        r = run_cli(
            "replay", "--group", stream.app_id, "--table", TABLE, "--to-earliest", "--dry-run"
        )
        assert r.returncode == 0, r.stderr
        assert stream.base.cdc_topic(TABLE) in r.stdout and stream.silver_topic(TABLE) in r.stdout
        assert "reprocess" in r.stdout and "nothing is duplicated" in r.stdout
        assert "ALL dates" in r.stdout and "dry run: nothing changed" in r.stdout
        assert committed(stream) == before
    finally:
        workers.start(stream, 1, wait_seconds=90)


def test_reset_to_earliest_then_catch_up_without_extra_copies(stream: StreamSettings) -> None:
    s3 = h.s3_client(stream.base)
    h.wait_caught_up(stream, 240)
    bronze_before = len(h.lake_objects(s3, stream.base.bronze_bucket, TABLE))
    audit = replay.audit_path(stream.base)
    audit_lines = len(audit.read_text().splitlines()) if audit.exists() else 0
    try:
        r = run_cli(
            "replay",
            "--group",
            stream.app_id,
            "--table",
            TABLE,
            "--to-earliest",
            "--yes",
            "--stop-workers",
        )
        assert r.returncode == 0, r.stdout + r.stderr
        assert not workers.status(stream) or not any(w.up for w in workers.status(stream))
        admin = replay._admin(stream)
        from confluent_kafka.admin import OffsetSpec

        now = committed(stream)
        earliest = replay._list_offsets(admin, {tp: OffsetSpec.earliest() for tp in now})
        assert now == earliest
        lines = audit.read_text().splitlines()
        assert len(lines) == audit_lines + 1
        rec = json.loads(lines[-1])
        assert rec["group"] == stream.app_id and rec["tables"] == [TABLE]
        assert rec["mode"] == "earliest" and rec["dry_run"] is False and rec["applied"] is True
        assert {(p["topic"], p["partition"], p["new"]) for p in rec["partitions"]} == {
            (t, p, o) for (t, p), o in earliest.items()
        }
    finally:
        workers.start(stream, 1, wait_seconds=90)
    catchup.wait_caught_up(stream, 240)
    assert len(h.lake_objects(s3, stream.base.bronze_bucket, TABLE)) == bronze_before


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--group", "no-such-group-xyz", "--to-earliest", "--yes"], "unknown group"),
        (["--table", "nope", "--to-earliest", "--yes"], "unknown table"),
        # --dry-run: validated even while the worker runs (a real run would be refused first)
        (["--to-offset", "99:0", "--dry-run"], "partition 99 out of range"),
        (["--to-offset", "0:999999999999", "--dry-run"], "out of range"),
        (["--to-datetime", "2026-01-01T00:00:00", "--yes"], "no timezone"),
        (["--to-earliest"], "--yes"),  # no TTY, no --yes
        ([], "choose exactly one"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    stream: StreamSettings, args: list[str], needle: str
) -> None:
    before = committed(stream)
    full = list(args) if "--group" in args else ["--group", stream.app_id, *args]
    r = run_cli("replay", *full)
    assert r.returncode == 1, r.stdout + r.stderr
    assert needle in one_error_line(r.stderr)
    now = committed(stream)
    assert all(now[k] >= v for k, v in before.items())  # never moved back


# ---------------------------------------------------------------- replay proof
PROOF_AS_OF = date(2026, 11, 1)
Coords = Counter[tuple[str, int, int]]


def _read_parquet(s3: Any, bucket: str, name: str, columns: list[str] | None = None) -> pa.Table:
    resp = s3.get_object(bucket, name)
    try:
        return pq.read_table(io.BytesIO(resp.read()), columns=columns)
    finally:
        resp.close()
        resp.release_conn()


def bronze_snapshot(s: StreamSettings) -> tuple[list[str], Coords]:
    """Every bronze object key, and how many times each Kafka (topic, partition, offset)
    is held across the bronze objects."""
    s3 = h.s3_client(s.base)
    keys = sorted(n for t in SOURCE_TABLES for n, _ in h.lake_objects(s3, s.base.bronze_bucket, t))
    coords: Coords = Counter()
    for name in keys:
        got = _read_parquet(s3, s.base.bronze_bucket, name, ["topic", "partition", "offset"])
        coords.update(zip(*(got.column(c).to_pylist() for c in got.column_names), strict=True))
    return keys, coords


def silver_log(s: StreamSettings, table: str) -> pa.Table:
    """The whole silver change-log of ``table``, every Parquet object read with pyarrow."""
    s3 = h.s3_client(s.base)
    parts = [
        _read_parquet(s3, s.base.silver_bucket, name)
        for name, _key in h.lake_objects(s3, s.base.silver_bucket, table)
    ]
    if not parts:
        return state.silver_arrow_schema(table).empty_table()
    return pa.concat_tables(parts, promote_options="default")


def silver_snapshot(s: StreamSettings) -> dict[str, Any]:
    """Per table: the raw row count of the change-log, the change-log deduplicated by
    bronze coordinates (every copy of a coordinate must be identical), and silver's
    current state computed by the rebuild's own logic (compaction.state, DuckDB: dedupe
    by bronze coordinates, last version per key by commit position)."""
    con = state.connect(memory_limit="512MB", threads=1)
    out: dict[str, Any] = {"raw": {}, "log": {}, "state": {}}
    try:
        for table in SOURCE_TABLES:
            log = silver_log(s, table)
            out["raw"][table] = log.num_rows
            unique: dict[tuple[int, int], dict[str, Any]] = {}
            for row in log.to_pylist():
                coords = (row["bronze_partition"], row["bronze_offset"])
                first = unique.setdefault(coords, row)
                assert first == row, f"silver {table} {coords}: two different copies"
            out["log"][table] = unique
            state.load_changes(con, table, log)
            pk = PRIMARY_KEYS[table]
            rows = state.current_state(con, table).to_pylist()
            out["state"][table] = sorted(rows, key=lambda r: r[pk])  # noqa: B023
            state.drop_changes(con)
    finally:
        con.close()
    return out


def sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((v is None, v if v is not None else 0) for v in row)


def gold_snapshot(s: StreamSettings) -> dict[str, list[tuple[Any, ...]]]:
    """Every gold table, every column, sorted (gold_build_log is not gold data)."""
    conn = psycopg2.connect(s.base.gold_dsn, options="-c timezone=UTC")
    try:
        out = {}
        with conn.cursor() as cur:
            for table in GOLD_TABLES:
                cur.execute(f"SELECT * FROM public.{table}")  # fixed names
                out[table] = sorted((tuple(r) for r in cur.fetchall()), key=sort_key)
        return out
    finally:
        conn.close()


def rebuild_gold(*args: str) -> None:
    r = run_cli("gold", "rebuild", "--as-of", PROOF_AS_OF.isoformat(), *args, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr


def first_difference(before: list[Any], after: list[Any]) -> str:
    gone = [x for x in before if x not in after]
    new = [x for x in after if x not in before]
    return f"{len(before)} -> {len(after)}; first gone {gone[:1]}, first new {new[:1]}"


def test_full_replay_changes_nothing_in_bronze_silver_or_gold(stream: StreamSettings) -> None:
    """The replay proof: on a caught-up pipeline (seed + live traffic with deletes), reset
    the stream group to the earliest offsets of every topic, catch up again and rebuild:
    the bronze objects, silver's deduplicated change-log and current state, and every
    gold table are exactly what they were.

    The first gold build skips compaction, so the replay meets the small objects the
    workers wrote (batch boundaries the replay does not repeat); the second one
    compacts, which must change nothing in gold and leave each bronze offset once."""
    r = run_cli(
        "generate", "seed", "--scale", "0.002", "--truncate", "--seed", "21",
        "--anchor-date", PROOF_AS_OF.isoformat(),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = run_cli("generate", "live", "--rate", "300", "--duration", "6", "--seed", "23",
                "--dirty-rate", "0.02", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    changes = json.loads(r.stdout)["changes"]
    assert changes.get("orders.delete", 0) > 0, f"live traffic deleted no order: {changes}"
    h.wait_until(lambda: h.workers_up(stream, 1), 90, "worker up")
    catchup.wait_caught_up(stream, 300)

    bronze_before, coords_before = bronze_snapshot(stream)
    silver_before = silver_snapshot(stream)
    rebuild_gold("--no-compact")
    gold_before = gold_snapshot(stream)
    assert bronze_before, "bronze is empty"
    empty = [t for t, rows in gold_before.items() if not rows]
    assert not empty, f"gold tables without rows: the test exercises nothing for {empty}"
    deleted = [t for t, log in silver_before["log"].items()
               if any(row["op"] == "d" for row in log.values())]  # fmt: skip
    assert "orders" in deleted, "the silver change-log holds no order delete"

    try:
        r = run_cli("replay", "--group", stream.app_id, "--to-earliest", "--yes",
                    "--stop-workers")  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        reprocess = int(r.stdout.rsplit("messages to reprocess: ", 1)[1].split()[0])
        assert reprocess >= sum(coords_before.values()), "the replay reprocesses too little"
    finally:
        workers.start(stream, 1, wait_seconds=90)
    catchup.wait_caught_up(stream, 900)

    bronze_after, coords_after = bronze_snapshot(stream)
    assert bronze_after == bronze_before, "bronze objects changed: " + first_difference(
        bronze_before, bronze_after
    )
    assert coords_after == coords_before, "bronze offsets are held a different number of times"
    silver_after = silver_snapshot(stream)
    grew = {t: silver_after["raw"][t] - silver_before["raw"][t] for t in SOURCE_TABLES}
    assert all(n > 0 for n in grew.values()), f"replay re-published nothing to silver: {grew}"
    for table in SOURCE_TABLES:
        b, a = silver_before["log"][table], silver_after["log"][table]
        assert a.keys() == b.keys(), f"silver {table} coordinates changed"
        bad = [c for c in b if a[c] != b[c]]
        assert not bad, f"silver {table} {bad[0]}: {b[bad[0]]} became {a[bad[0]]}"
        assert silver_after["state"][table] == silver_before["state"][table], (
            f"silver current state of {table}: "
            + first_difference(silver_before["state"][table], silver_after["state"][table])
        )
    print(
        f"replay proof: {reprocess:,} messages reprocessed; {len(bronze_before):,} bronze "
        f"objects ({sum(coords_before.values()):,} rows) unchanged; silver change-log rows "
        f"{sum(silver_before['raw'].values()):,} -> {sum(silver_after['raw'].values()):,} "
        f"(copies), current state {sum(len(v) for v in silver_before['state'].values()):,} "
        "rows unchanged"
    )

    rebuild_gold()  # with compaction
    gold_after = gold_snapshot(stream)
    for table in GOLD_TABLES:
        assert gold_after[table] == gold_before[table], f"gold {table}: " + first_difference(
            gold_before[table], gold_after[table]
        )
    compacted_keys, compacted = bronze_snapshot(stream)
    assert set(compacted) == set(coords_before), "compaction lost or invented bronze offsets"
    assert max(compacted.values()) == 1, "compaction left a bronze offset twice"
    print(
        f"gold rows unchanged: { {t: len(rows) for t, rows in gold_after.items()} }; "
        f"bronze compacted {len(bronze_before):,} -> {len(compacted_keys):,} objects"
    )
