"""The landing's buffers: a table is flushed on rows, bytes or age (a longer age while the
consumer is behind or only snapshot reads wait), both layers get its rows with the offsets they stand for, and rows
of partitions that moved away are dropped. Destinations here are in-memory recorders of
what would be committed (no lake involved: that is tests/integration/test_delta_destination)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from stream_apps import configuration
from stream_apps.destinations import Destination, Span, TableBatch, WriteResult
from stream_apps.landing import FlushPolicy, Landing
from stream_apps.pipeline import BatchProcessor, Msg
from tests.unit.schema_ids import registry
from tests.unit.stream_apps import messages as m

S = configuration.load()


class Recorder(Destination):
    def __init__(self) -> None:
        self.batches: list[TableBatch] = []
        self.forgotten = 0
        self.prepared: list[str] = []

    def write(self, batch: TableBatch) -> WriteResult:
        self.batches.append(batch)
        return WriteResult(rows=batch.rows.num_rows, files=1, version=len(self.batches))

    def forget(self) -> None:
        self.forgotten += 1

    def prepare(self, table: str) -> bool:
        if table == "broken":
            raise OSError("MinIO said no")
        self.prepared.append(table)
        return table != "new"


class Produced:
    def __init__(self) -> None:
        self.records: list[tuple[str, bytes | None, bytes]] = []

    def send_all(self, records: Any) -> int:
        got = list(records)
        self.records += got
        return len(got)


class NoMetrics:
    def processed(self, batch: Any, events: int) -> None:
        pass

    def flushed(self, layer: str, table: str, result: Any, commit_us: list[int]) -> None:
        pass

    def landed(self, layer: str, topic: str, spans: Any) -> None:
        pass

    def stage(self, stage: str, seconds: float) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _landing(policy: FlushPolicy) -> tuple[Landing, Recorder, Recorder, Produced, Clock]:
    bronze, silver, produced, clock = Recorder(), Recorder(), Produced(), Clock()
    processor = BatchProcessor(S, registry())
    landing = Landing(processor, produced, bronze, silver, policy, NoMetrics(), clock=clock)
    return landing, bronze, silver, produced, clock


def _orders(partition: int, offsets: range) -> list[Msg]:
    out = []
    for o in offsets:
        order = {**m.ORDER, "order_id": 1000 + o}
        doc = m.envelope("orders", "u", after=order, before=order)
        out.append(Msg(m.topic("orders"), partition, o, 1_700_000_000_000,
                       m.key("orders", 1000 + o), m.value(doc)))  # fmt: skip
    return out


def _items(partition: int, offsets: range, snapshot: str | None = None) -> list[Msg]:
    """New order items; with ``snapshot`` (Debezium's marker), snapshot reads instead."""
    out = []
    for o in offsets:
        item = {**m.ORDER_ITEM, "order_item_id": 5000 + o}
        if snapshot is None:
            doc = m.envelope("order_items", "c", after=item)
        else:
            doc = m.envelope("order_items", "r", after=item, snapshot=snapshot, tx_id=None)
        out.append(Msg(m.topic("order_items"), partition, o, 1_700_000_000_000,
                       m.key("order_items", 5000 + o), m.value(doc)))  # fmt: skip
    return out


def test_silver_records_are_produced_at_once_and_rows_wait_for_their_flush() -> None:
    landing, bronze, silver, produced, _ = _landing(FlushPolicy(rows=1000, seconds=5))
    landing.ingest(_orders(0, range(10)))
    assert len(produced.records) == 10 and {r[0] for r in produced.records} == {"silver.orders"}
    assert landing.due() == [] and bronze.batches == [] and silver.batches == []


def test_a_table_is_flushed_when_it_holds_enough_rows_and_only_that_table() -> None:
    landing, bronze, silver, _, _ = _landing(FlushPolicy(rows=25, seconds=60))
    landing.ingest(_orders(0, range(20)) + _items(1, range(5)))
    assert landing.due() == []
    landing.ingest(_orders(2, range(7)))
    assert landing.due() == ["orders"]
    landing.write(landing.take(landing.due()))
    (b,) = bronze.batches
    (s,) = silver.batches
    assert (b.table, b.topic, b.rows.num_rows) == ("orders", m.topic("orders"), 27)
    assert b.spans == {0: Span(0, 19), 2: Span(0, 6)}
    assert s.spans == b.spans and s.rows.num_rows == 27
    assert list(landing.buffers) == ["order_items"]  # still waiting


def test_age_limit_and_the_longer_backlog_limit() -> None:
    landing, bronze, _, _, clock = _landing(FlushPolicy(rows=10**6, seconds=1.0, backlog_seconds=10))
    landing.ingest(_orders(0, range(3)))
    clock.now += 0.9
    assert landing.due() == []
    clock.now += 0.2
    assert landing.due() == ["orders"]
    landing.take(["orders"])
    landing.ingest(_orders(0, range(3, 6)), full=True)  # the consumer is behind
    for k in range(6, 25):  # ... and rows keep coming (9.5 s)
        clock.now += 0.5
        landing.ingest(_orders(0, range(k, k + 1)))
        assert landing.due() == []
    clock.now += 0.6
    assert landing.due() == ["orders"]


def test_snapshot_reads_wait_for_the_backlog_limit_until_a_live_change_arrives() -> None:
    policy = FlushPolicy(rows=10**6, seconds=1.0, backlog_seconds=10)
    landing, _, _, _, clock = _landing(policy)
    landing.ingest(_items(0, range(3), snapshot="true"))
    for k in range(10):  # batches keep coming, never full, and only snapshot reads wait
        clock.now += 0.5
        landing.ingest(_items(1, range(k, k + 1), snapshot="last_in_data_collection"))
        assert landing.due() == []
    landing.ingest(_items(0, range(3, 4)))  # a live change: the short limit applies again
    assert landing.due() == ["order_items"]
    landing.take(["order_items"])
    landing.ingest(_items(2, range(2), snapshot="true"))
    for k in range(20):
        clock.now += 0.5
        landing.ingest(_items(3, range(k, k + 1), snapshot="true"))
    assert landing.due() == ["order_items"]  # the backlog limit, 10 s


def test_bulk_rows_are_flushed_once_their_table_stops_receiving_rows() -> None:
    """The end of a snapshot or a backlog: nothing more is coming, so it is not held back
    for the backlog limit."""
    policy = FlushPolicy(rows=10**6, seconds=1.0, backlog_seconds=10)
    landing, _, _, _, clock = _landing(policy)
    landing.ingest(_items(0, range(3), snapshot="true"))
    landing.ingest(_orders(0, range(3)), full=True)
    for k in range(4):  # order items still arrive; orders no longer
        clock.now += 0.4
        landing.ingest(_items(0, range(3 + k, 4 + k), snapshot="true"))
    assert landing.due() == ["orders"]
    clock.now += 0.9
    assert landing.due() == ["orders"]
    clock.now += 0.2
    assert landing.due() == ["order_items", "orders"]


def test_all_buffers_together_are_bounded() -> None:
    landing, _, _, _, _ = _landing(
        FlushPolicy(rows=10**6, bytes=10**9, seconds=60, backlog_seconds=60, memory=100_000)
    )
    landing.ingest(_items(0, range(40)) + _orders(0, range(10)))  # about 46 kB
    assert landing.due() == [] and not landing.over()
    landing.ingest(_orders(0, range(10, 60)))  # about 90 kB more
    assert sorted(landing.due()) == ["order_items", "orders"]  # every table, not only the largest
    assert not landing.over()
    landing.ingest(_orders(0, range(60, 180)))
    assert landing.over()  # twice the bound: the agent waits for the flush


def test_live_changes_keep_the_short_limit_when_snapshot_reads_follow() -> None:
    landing, _, _, _, clock = _landing(FlushPolicy(rows=10**6, seconds=1.0, backlog_seconds=10))
    landing.ingest(_items(0, range(2)))
    landing.ingest(_items(1, range(2), snapshot="true"))
    clock.now += 1.1
    assert landing.due() == ["order_items"]


def test_bytes_limit() -> None:
    landing, _, _, _, _ = _landing(FlushPolicy(rows=10**6, bytes=20_000, seconds=60))
    landing.ingest(_orders(0, range(5)))
    assert landing.due() == []
    landing.ingest(_orders(0, range(5, 100)))
    assert landing.due() == ["orders"]
    assert landing.over(factor=0.5)


def test_spans_cover_offsets_without_a_silver_row() -> None:
    """A tombstone has a bronze row but no silver row: the silver commit still covers its
    offset, so a replay never lands it twice or waits for it."""
    landing, bronze, silver, _, _ = _landing(FlushPolicy(rows=3, seconds=60, silver_seconds=0))
    msgs = _orders(0, range(2)) + [Msg(m.topic("orders"), 0, 2, None, m.key("orders", 1), None)]
    landing.ingest(msgs)
    landing.write(landing.take(landing.due()))
    assert bronze.batches[0].rows.num_rows == 3 and silver.batches[0].rows.num_rows == 2
    assert silver.batches[0].spans == {0: Span(0, 2)}


def test_rows_of_partitions_that_moved_away_are_dropped() -> None:
    landing, bronze, silver, _, _ = _landing(FlushPolicy(rows=1000, seconds=60, silver_seconds=0))
    landing.ingest(_orders(0, range(5)) + _orders(3, range(4)) + _items(3, range(2)))
    landing.drop({(m.topic("orders"), 3), (m.topic("order_items"), 3)})
    assert list(landing.buffers) == ["orders"]
    landing.write(landing.take(["orders"]))
    (b,) = bronze.batches
    assert b.spans == {0: Span(0, 4)} and b.rows.column("partition").to_pylist() == [0] * 5
    assert silver.batches[0].rows.column("bronze_partition").to_pylist() == [0] * 5


# ---------------------------------------------------------------- the silver cadence
def _cadence() -> tuple[Landing, Recorder, Recorder, Produced, Clock]:
    return _landing(FlushPolicy(rows=10**6, seconds=1.0, backlog_seconds=10, silver_seconds=10))


def test_silver_rows_wait_while_the_table_keeps_getting_rows() -> None:
    """Bronze is committed every second; silver rows wait for ``silver_seconds`` and go in
    one commit covering every offset since, and only then is the table reported done."""
    landing, bronze, silver, _, clock = _cadence()
    for i in range(9):  # a row every half second, a bronze flush every second
        landing.ingest(_orders(0, range(2 * i, 2 * i + 1)))
        clock.now += 0.5
        landing.ingest(_orders(1, range(2 * i + 1, 2 * i + 2)))
        clock.now += 0.5
        assert landing.write(landing.take(landing.due())) == set()
    assert len(bronze.batches) == 9 and silver.batches == []
    landing.ingest(_orders(0, range(18, 19)))
    clock.now += 1.0
    assert landing.write(landing.take(landing.due())) == {"orders"}
    (one,) = silver.batches
    assert one.rows.num_rows == 19 == sum(b.rows.num_rows for b in bronze.batches)
    assert one.spans == {0: Span(0, 18), 1: Span(1, 17)}
    assert landing.due() == [] and landing.waiting == {}


def test_silver_rows_of_a_table_that_went_quiet_are_committed() -> None:
    landing, bronze, silver, _, clock = _cadence()
    landing.ingest(_orders(0, range(3)))
    clock.now += 1.0  # bronze due by age; its rows are also a second old: quiet
    assert landing.write(landing.take(landing.due())) == {"orders"}
    assert len(bronze.batches) == len(silver.batches) == 1
    # silver waiting alone (rows kept coming at the flush, then stopped): due once quiet
    landing.ingest(_orders(0, range(3, 5)))
    clock.now += 0.5
    landing.ingest(_orders(0, range(5, 6)))
    clock.now += 0.5
    assert landing.write(landing.take(landing.due())) == set()
    assert landing.due() == [] and list(landing.waiting) == ["orders"]
    clock.now += 0.6
    taken = landing.take(landing.due())
    assert [(t, b.rows) for t, b in taken] == [("orders", 0)]
    assert landing.write(taken) == {"orders"}
    assert len(bronze.batches) == 2 and silver.batches[-1].spans == {0: Span(3, 5)}


def test_waiting_silver_rows_count_toward_the_memory_bound() -> None:
    landing, _, silver, _, clock = _landing(
        FlushPolicy(rows=10**6, bytes=10**9, seconds=1.0, silver_seconds=60, memory=30_000)
    )
    for start in range(0, 40, 10):  # ~11 kB a batch, a seventh of it silver
        landing.ingest(_orders(0, range(start, start + 10)))
        clock.now += 0.5
        landing.write(landing.take(landing.due()))
    assert silver.batches == [] and sum(w.nbytes for w in landing.waiting.values()) > 5_000  # 40 orders waiting
    landing.ingest(_orders(0, range(40, 70)))
    assert landing._buffered() >= 30_000
    assert landing.write(landing.take(landing.due())) == {"orders"}
    assert silver.batches[0].rows.num_rows == 70 and landing._buffered() == 0


def test_waiting_silver_rows_of_partitions_that_moved_away_are_dropped() -> None:
    landing, _, silver, _, clock = _cadence()
    landing.ingest(_orders(0, range(3)) + _orders(4, range(3)))
    clock.now += 0.5
    landing.ingest(_orders(0, range(3, 4)))
    clock.now += 0.5
    landing.write(landing.take(landing.due()))
    assert sorted(landing.waiting["orders"].spans) == [0, 4]
    landing.drop({(m.topic("orders"), 4)})
    clock.now += 1.0
    assert landing.write(landing.take(landing.due())) == {"orders"}
    (one,) = silver.batches
    assert one.spans == {0: Span(0, 3)}
    assert one.rows.column("bronze_partition").to_pylist() == [0] * 4


def test_forget_reaches_both_destinations() -> None:
    landing, bronze, silver, _, _ = _landing(FlushPolicy())
    landing.forget()
    assert (bronze.forgotten, silver.forgotten) == (1, 1)
    assert (bronze.prepared, silver.prepared) == ([], [])


def test_forget_prepares_the_assigned_tables_in_both_layers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    landing, bronze, silver, _, _ = _landing(FlushPolicy())
    with caplog.at_level(logging.INFO, logger="stream_apps.landing"):
        landing.forget(["orders", "customers", "orders", "broken", "new"])
        landing._preparing.shutdown(wait=True)  # the loads run in threads
    assert (bronze.forgotten, silver.forgotten) == (1, 1)
    assert sorted(bronze.prepared) == sorted(silver.prepared) == ["customers", "new", "orders"]
    (line,) = [r.getMessage() for r in caplog.records if "lake table" in r.getMessage()]
    assert line.startswith("loaded 4 lake table(s) for the assigned partitions in ")
    assert line.endswith("s; 2 not created yet; not loaded (their first write will): "
                         "bronze broken, silver broken")  # fmt: skip


def test_a_failed_write_raises_and_nothing_is_reported_flushed() -> None:
    class Broken(Recorder):
        def write(self, batch: TableBatch) -> WriteResult:
            raise RuntimeError("MinIO said no")

    bronze, silver, produced = Broken(), Recorder(), Produced()
    processor = BatchProcessor(S, registry())
    landing = Landing(processor, produced, bronze, silver, FlushPolicy(rows=1), NoMetrics())
    landing.ingest(_orders(0, range(2)))
    with pytest.raises(RuntimeError, match="MinIO said no"):
        landing.write(landing.take(landing.due()))
