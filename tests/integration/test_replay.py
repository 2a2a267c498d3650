"""`ecom replay` against the real stack: refuse while workers run, dry run, reset + catch-up,
and the replay proof: a full replay changes nothing in bronze, silver's state or gold."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

import psycopg2
import pyarrow as pa
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
    topics = [s.base.cdc_topic(TABLE)]
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
        # the CDC topic only: both lake layers are landed from it, silver topics are output
        assert stream.base.cdc_topic(TABLE) in r.stdout
        assert stream.silver_topic(TABLE) not in r.stdout
        assert "reprocess" in r.stdout
        assert "ALL dates" in r.stdout and "dry run: nothing changed" in r.stdout
        assert committed(stream) == before
    finally:
        workers.start(stream, 1, wait_seconds=90)


def _files_and_rows(s: StreamSettings) -> dict[str, tuple[int, int]]:
    return {layer: h.lake_files(s, layer, TABLE) for layer in ("bronze", "silver")}


def test_reset_to_earliest_then_catch_up_without_extra_copies(stream: StreamSettings) -> None:
    h.wait_caught_up(stream, 240)
    lake_before = _files_and_rows(stream)
    assert lake_before["bronze"][1] > 0, "nothing in bronze to replay"
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
    # the same rows and the same data files in both layers: nothing was landed again
    assert _files_and_rows(stream) == lake_before


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
#: The seed's anchor, and the as-of of the gold builds (today: an earlier day would read
#: the lake as it was before this test wrote it).
PROOF_ANCHOR = date(2026, 11, 1)
PROOF_AS_OF = datetime.now(UTC).date()
Coords = Counter[tuple[str, int, int]]


def bronze_snapshot(s: StreamSettings) -> tuple[dict[str, tuple[int, int]], Coords]:
    """(data files, rows) of every bronze table, and how many times each Kafka (topic,
    partition, offset) is held across them."""
    files = {t: h.lake_files(s, "bronze", t) for t in SOURCE_TABLES}
    coords: Coords = Counter()
    for table in SOURCE_TABLES:
        dt = h.lake_table(s, "bronze", table)
        if dt is not None:
            got = dt.to_pyarrow_table(columns=["topic", "partition", "offset"])
            coords.update(zip(*(got.column(c).to_pylist() for c in got.column_names), strict=True))
    return files, coords


def silver_log(s: StreamSettings, table: str) -> pa.Table:
    """The whole silver change-log of ``table``, its Delta table read with deltalake."""
    dt = h.lake_table(s, "silver", table)
    if dt is None:
        return state.silver_arrow_schema(table).empty_table()
    return dt.to_pyarrow_table()


def silver_snapshot(s: StreamSettings) -> dict[str, Any]:
    """Per table: the data files and raw rows of the change-log, the change-log by bronze
    coordinates (no coordinate may be held twice), and silver's current state computed
    by the rebuild's own logic (compaction.state, DuckDB: last version per key by commit
    position)."""
    con = state.connect(memory_limit="512MB", threads=1)
    out: dict[str, Any] = {"raw": {}, "files": {}, "log": {}, "state": {}}
    try:
        for table in SOURCE_TABLES:
            log = silver_log(s, table)
            out["raw"][table] = log.num_rows
            out["files"][table] = h.lake_files(s, "silver", table)[0]
            unique: dict[tuple[int, int], dict[str, Any]] = {}
            for row in log.to_pylist():
                coords = (row["bronze_partition"], row["bronze_offset"])
                assert coords not in unique, f"silver {table} holds {coords} twice"
                unique[coords] = row
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
    bronze and silver hold the same rows in the same data files (the replay landed
    nothing again, whatever its batch boundaries), silver's current state and every gold
    table are exactly what they were. Then the lake is compacted (``ecom lake
    optimize``): gold rebuilt on it is still the same, and each offset is held once."""
    r = run_cli(
        "generate", "seed", "--scale", "0.002", "--truncate", "--seed", "21",
        "--anchor-date", PROOF_ANCHOR.isoformat(),
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
    rebuild_gold()
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
    assert bronze_after == bronze_before, f"bronze files or rows changed: {bronze_after}"
    assert coords_after == coords_before, "bronze offsets are held a different number of times"
    assert max(coords_after.values()) == 1, "a bronze offset is held twice"
    silver_after = silver_snapshot(stream)
    assert silver_after["raw"] == silver_before["raw"], "silver rows changed"
    assert silver_after["files"] == silver_before["files"], "silver data files changed"
    for table in SOURCE_TABLES:
        b, a = silver_before["log"][table], silver_after["log"][table]
        assert a.keys() == b.keys(), f"silver {table} coordinates changed"
        bad = [c for c in b if a[c] != b[c]]
        assert not bad, f"silver {table} {bad[0]}: {b[bad[0]]} became {a[bad[0]]}"
        assert silver_after["state"][table] == silver_before["state"][table], (
            f"silver current state of {table}: "
            + first_difference(silver_before["state"][table], silver_after["state"][table])
        )
    files = sum(f for f, _ in bronze_before.values()) + sum(silver_before["files"].values())
    print(
        f"replay proof: {reprocess:,} messages reprocessed; {files:,} data files, "
        f"{sum(coords_before.values()):,} bronze and {sum(silver_before['raw'].values()):,} "
        f"silver rows unchanged; current state "
        f"{sum(len(v) for v in silver_before['state'].values()):,} rows unchanged"
    )
    rebuild_gold()
    assert gold_snapshot(stream) == gold_before, "gold changed after the replay"

    r = run_cli("lake", "optimize", timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    rebuild_gold()
    gold_after = gold_snapshot(stream)
    for table in GOLD_TABLES:
        assert gold_after[table] == gold_before[table], f"gold {table}: " + first_difference(
            gold_before[table], gold_after[table]
        )
    compacted_files, compacted = bronze_snapshot(stream)
    assert compacted == coords_before, "compaction lost, invented or repeated bronze offsets"
    print(
        f"gold rows unchanged: { {t: len(rows) for t, rows in gold_after.items()} }; "
        f"bronze compacted {sum(f for f, _ in bronze_before.values()):,} -> "
        f"{sum(f for f, _ in compacted_files.values()):,} files"
    )
