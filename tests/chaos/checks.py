"""What must hold after every drill, and what it cost (events processed again).

* bronze: every offset of the drill's CDC window landed exactly once (no (topic,
  partition, offset) twice anywhere in a bronze table), no decode error, and every source
  change (the WAL tap's table, key, LSN) is there;
* silver: no (bronze_topic, bronze_partition, bronze_offset) twice anywhere in a silver
  table, and the change-log as the gold build reads it (``compaction.state.load_changes``)
  holds each (key, LSN) of the drill exactly once, with the source's op;
* the dead-letter topic got nothing (the load has no dirty rows);
* gold, rebuilt, equals the contract computed on the source.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
from minio import Minio

from compaction import state
from schemas import PRIMARY_KEYS, SOURCE_TABLES
from stream_apps.configuration import StreamSettings
from tests.chaos.harness import DrillResult, metric_total
from tests.chaos.waltap import SourceChange
from tests.integration import gold_reference as ref
from tests.integration import stream_helpers as h
from tests.integration.conftest import run_cli


def _by_table(changes: list[SourceChange]) -> dict[str, set[tuple[int, int | None]]]:
    out: dict[str, set[tuple[int, int | None]]] = {t: set() for t in SOURCE_TABLES}
    for c in changes:
        out[c.table].add((c.lsn, c.key))
    return out


def bronze(s: StreamSettings, s3: Minio, r: DrillResult) -> dict[str, int]:
    """Every offset of the window and every source change in bronze; returns counts."""
    win = r.window
    want = _by_table(r.changes)
    stats = Counter[str](bronze_duplicate_rows=0, reemitted_by_debezium=0)
    problems: list[str] = []
    for table in SOURCE_TABLES:
        dupes = h.duplicate_coordinates(s, "bronze", table)
        stats["bronze_duplicate_rows"] += dupes
        if dupes:
            problems.append(f"bronze {table}: {dupes} rows repeat a (topic, partition, offset)")
        rows = h.read_bronze(s, table, win.cdc_start, win.cdc_end)
        first: dict[tuple[str, int, int], dict[str, Any]] = {}
        for row in rows:
            first.setdefault((row["topic"], row["partition"], row["offset"]), row)
        topic = s.base.cdc_topic(table)
        for (t, p), hi in win.cdc_end.items():
            if t == topic:
                need = set(range(win.cdc_start.get((t, p), 0), hi))
                have = {o for (tt, pp, o) in first if (tt, pp) == (t, p)}
                if need - have:
                    problems.append(f"bronze {t}[{p}] misses {len(need - have)} offsets, "
                                    f"e.g. {sorted(need - have)[:5]}")  # fmt: skip
        errors = [r["decode_error"] for r in first.values() if r["decode_error"]]
        if errors:
            problems.append(f"bronze {table}: decode errors {Counter(errors)}")
        events = [r for r in first.values() if not r["is_tombstone"]]
        got = {(r["source_lsn"], h.key_of(r["key"], table)) for r in events}
        stats["cdc_events"] += len(events)
        stats["reemitted_by_debezium"] += len(events) - len(got)
        stats["source_changes"] += len(want[table])
        missing = want[table] - got
        if missing:
            problems.append(f"{table}: {len(missing)} source changes not in bronze, e.g. "
                            f"{sorted(missing)[:5]}")  # fmt: skip
        extra = got - want[table]
        if extra:
            problems.append(f"{table}: {len(extra)} bronze changes the source never made, "
                            f"e.g. {sorted(extra, key=str)[:5]}")  # fmt: skip
    if not r.load.failures:  # the generator's own count agrees with the WAL
        made = r.load.changes_per_table()
        for table in SOURCE_TABLES:
            if made.get(table, 0) != len(want[table]):
                problems.append(f"{table}: generator reports {made.get(table, 0)} changes, "
                                f"the WAL {len(want[table])}")  # fmt: skip
    assert not problems, f"{len(problems)} bronze problems: {problems[:10]}"
    assert stats["source_changes"] > r.load.rate * 5, f"too little load: {dict(stats)}"
    after = metric_total(s, "replayed_rows_skipped")
    stats["bronze_replay_skipped"] = int(
        sum(v - r.skipped_before.get(pid, 0.0) for pid, v in after.items())
    )
    return dict(stats)


def read_lake_arrow(s: StreamSettings, table: str) -> pa.Table:
    """The whole silver Delta table of ``table`` (the columns the gold build reads)."""
    dt = h.lake_table(s, "silver", table)
    schema = state.silver_arrow_schema(table)
    if dt is None:
        return schema.empty_table()
    return dt.to_pyarrow_dataset().to_table(columns=schema.names).cast(schema)


def silver(s: StreamSettings, s3: Minio, r: DrillResult) -> dict[str, int]:
    """Silver holds each offset once, and its change-log each source change exactly once."""
    want_ops = {(c.table, c.key, c.lsn): c.op for c in r.changes}
    win = r.window
    stats = Counter[str](silver_log_duplicate_rows=0, silver_missing=0)
    problems: list[str] = []
    for table in SOURCE_TABLES:
        pk = PRIMARY_KEYS[table]
        dupes = h.duplicate_coordinates(s, "silver", table)
        if dupes:
            problems.append(f"silver {table}: {dupes} rows repeat a bronze (topic, partition, "
                            "offset)")  # fmt: skip
        log_rows = read_lake_arrow(s, table)
        topic = s.base.cdc_topic(table)
        in_window = [
            (p, o)
            for t, p, o in zip(
                log_rows["bronze_topic"].to_pylist(),
                log_rows["bronze_partition"].to_pylist(),
                log_rows["bronze_offset"].to_pylist(),
                strict=True,
            )  # fmt: skip
            if t == topic and win.cdc_start.get((t, p), 0) <= o < win.cdc_end.get((t, p), 0)
        ]
        stats["silver_log_duplicate_rows"] += len(in_window) - len(set(in_window)) + dupes
        con = state.connect(memory_limit="1GB", threads=1)
        try:
            state.load_changes(con, table, log_rows)
            rows = con.execute(
                f"SELECT {pk}, source_lsn, op FROM changes WHERE op <> 't'"
            ).fetchall()
        finally:
            con.close()
        seen = Counter[tuple[int, int]]()
        ops: dict[tuple[int, int], str] = {}
        for key, lsn, op in rows:
            if (table, key, lsn) in want_ops:
                seen[(key, lsn)] += 1
                ops[(key, lsn)] = op
        twice = [k for k, n in seen.items() if n > 1]
        if twice:
            problems.append(f"silver {table}: {len(twice)} (key, LSN) more than once after "
                            f"dedupe, e.g. {twice[:5]}")  # fmt: skip
        for (t, key, lsn), op in want_ops.items():
            if t != table:
                continue
            if (key, lsn) not in seen:
                stats["silver_missing"] += 1
                if stats["silver_missing"] <= 5:
                    problems.append(f"silver {table}: change {key}@{lsn} ({op}) missing")
            elif ops[(key, lsn)] != op:
                problems.append(f"silver {table}: {key}@{lsn} is {ops[(key, lsn)]}, source {op}")
    assert not problems, f"{len(problems)} silver problems: {problems[:10]}"

    decoder = h.SilverDecoder(s)
    coords = []
    for topic, _p, _o, _k, value in h.read_window(s.base.kafka_bootstrap, win.silver_start,
                                                  win.silver_end):  # fmt: skip
        if value is not None:
            rec = decoder.decode(topic, value)[2]
            coords.append((rec["bronze_topic"], rec["bronze_partition"], rec["bronze_offset"]))
    stats["silver_records"] = len(coords)
    stats["silver_reprocessed"] = len(coords) - len(set(coords))
    return dict(stats)


def dead_letters(s: StreamSettings, r: DrillResult) -> None:
    records = h.read_dlq(s, r.window.dlq_start)
    reasons = Counter((x["stage"], x["reason"]) for x in records)
    assert not records, f"{len(records)} dead letters, none expected: {dict(reasons)}"


def _gold_problems(s: StreamSettings, as_of: date) -> list[str]:
    problems = []
    for table in ref.COLUMNS:
        got = ref.gold(s.base.gold_dsn, table)
        want = ref.reference(s.base.source_dsn, table, as_of)
        if len(got) != len(want):
            problems.append(f"{table}: gold {len(got)} rows, source {len(want)}")
            continue
        bad = [(g, w) for g, w in zip(got, want, strict=True) if g != w]
        if bad:
            problems.append(f"{table}: {len(bad)} rows differ, e.g. gold {bad[0][0]} "
                            f"source {bad[0][1]}")  # fmt: skip
    return problems


def gold(s: StreamSettings) -> float:
    """Rebuild gold (incremental when the kept state allows it, as a user's refresh);
    every gold table equals the contract computed on the source. On a difference, a full
    build follows, so the report says whether the lake or the incremental build is wrong."""
    as_of = datetime.now(UTC).date()
    t0 = time.monotonic()
    done = run_cli("gold", "rebuild", "--as-of", as_of.isoformat(), timeout=600)
    seconds = time.monotonic() - t0
    assert done.returncode == 0, f"gold rebuild failed: {done.stderr[-2000:]}"
    problems = _gold_problems(s, as_of)
    if problems:
        full = run_cli("gold", "rebuild", "--full", "--as-of", as_of.isoformat(), timeout=600)
        after = _gold_problems(s, as_of) if full.returncode == 0 else None
        verdict = (
            f"a full build then failed: {full.stderr[-500:]}" if after is None
            else "a full build then matches the source: the incremental build is wrong"
            if not after else f"a full build differs too (the lake is wrong): {after[:3]}"
        )  # fmt: skip
        log = (done.stdout + done.stderr)[-3000:]
        raise AssertionError(f"{problems}\n{verdict}\nthe incremental build said:\n{log}")
    return seconds
