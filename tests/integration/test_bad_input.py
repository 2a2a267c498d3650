"""The bad-input catalogue against the real stack (README, "Bad input").

Kinds already exercised by test_stream_apps.py (not JSON, truncated JSON, unknown op,
wrong type, quarantine rules, a column added then dropped) are not repeated here. Every
case checks that nothing crashes (the worker keeps its pid) and nothing is lost (bronze
keeps the message byte for byte; a dead letter carries stage, reason and the original
bytes; a real change made afterwards still reaches silver).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest
from confluent_kafka import Producer
from minio import Minio

from common.kafka import client_config
from compaction import state
from schemas import PRIMARY_KEYS
from schemas.columns import COLUMNS
from stream_apps import metrics_read, workers
from stream_apps.configuration import StreamSettings
from tests.integration import gold_reference as ref
from tests.integration import stream_helpers as h
from tests.integration.conftest import run_cli

pytestmark = pytest.mark.integration

CAUGHT_UP = 150.0
OVERSIZED_BYTES = 5_300_000  # over the 5 MiB limit, under the broker's 10 MB


def _produce(bootstrap: str, messages: list[tuple[str, bytes | None, bytes, int | None]]
             ) -> list[tuple[int, int]]:  # fmt: skip
    """Produce (topic, key, value, partition) messages; their (partition, offset)."""
    producer = Producer(client_config(bootstrap, {"enable.idempotence": True,
                                                  "message.max.bytes": 10_000_000}))  # fmt: skip
    coords: dict[int, tuple[int, int]] = {}
    for i, (tp, k, v, partition) in enumerate(messages):

        def report(err: Any, msg: Any, i: int = i) -> None:
            assert err is None, err
            coords[i] = (msg.partition(), msg.offset())

        kwargs: dict[str, Any] = {} if partition is None else {"partition": partition}
        producer.produce(tp, value=v, key=k, on_delivery=report, **kwargs)
    assert producer.flush(60) == 0
    return [coords[i] for i in range(len(messages))]


def _event(table: str, op: str, after: dict[str, Any] | None) -> dict[str, Any]:
    now_us = int(time.time() * 1e6)
    return {
        "before": None, "after": after, "op": op, "ts_ms": now_us // 1000, "transaction": None,
        "source": {"version": "3.6.1.Final", "connector": "postgresql", "name": "ecom",
                   "ts_ms": now_us // 1000, "ts_us": now_us, "snapshot": "false",
                   "db": "ecommerce_source", "sequence": '["100","200"]', "schema": "public",
                   "table": table, "txId": 1, "lsn": 200},
    }  # fmt: skip


def _metrics(s: StreamSettings) -> list[str]:
    return workers.metrics_text(s)


def _silver_coords(s: StreamSettings, s3: Minio, table: str) -> set[tuple[str, int, int]]:
    return {(r["bronze_topic"], r["bronze_partition"], r["bronze_offset"])
            for r in h.read_silver(s, table)}  # fmt: skip


def _compacted(table: str, rows: list[dict[str, Any]]) -> Any:
    """A DuckDB connection holding ``changes`` as the nightly job builds it."""
    con = state.connect(memory_limit="1GB", threads=1)
    state.load_changes(
        con, table, pa.Table.from_pylist(rows, schema=state.silver_arrow_schema(table))
    )
    return con


@pytest.fixture(scope="module")
def s3(stream: StreamSettings) -> Minio:
    return h.s3_client(stream.base)


# ---------------------------------------------------------------- dead-lettered kinds
@dataclass(frozen=True)
class Bad:
    table: str
    key: bytes | None
    value: bytes
    reason: str
    bronze_error: str | None  # decode_error of the bronze row (None: the envelope is fine)


def _bad_inputs(base_id: int) -> dict[str, Bad]:
    def item(i: int, **changes: Any) -> dict[str, Any]:
        return {"order_item_id": base_id + i, "order_id": 1, "product_id": 1, "quantity": 1,
                "unit_price": "1.00", **changes}  # fmt: skip

    def order(i: int, **changes: Any) -> dict[str, Any]:
        return {"order_id": base_id + i, "customer_id": 1, "order_date": 1_700_000_000_000_000,
                "order_status": "Pending", "total_amount": "1.00", "campaign_id": None,
                "updated_at": 1_700_000_000_000_000, **changes}  # fmt: skip

    def k(table: str, i: int) -> bytes:
        return json.dumps({PRIMARY_KEYS[table]: base_id + i}).encode()

    def v(doc: dict[str, Any]) -> bytes:
        return json.dumps(doc).encode()

    price = next(c for c in COLUMNS["order_items"] if c.name == "unit_price")
    too_big = "9" * ((price.precision or 0) - (price.scale or 0) + 1) + ".00"
    return {
        "missing_after": Bad("orders", k("orders", 1), v(_event("orders", "c", None)),
                             "missing_after", "missing_after"),
        "missing_key": Bad("order_items", None, v(_event("order_items", "c", item(2))),
                           "missing_key", "missing_key"),
        "not_an_object": Bad("order_items", k("order_items", 3), b'["c", 1]', "not_an_object",
                             "not_an_object"),
        "decimal_out_of_range": Bad("order_items", k("order_items", 4),
                                    v(_event("order_items", "c", item(4, unit_price=too_big))),
                                    "decimal_out_of_range", None),
        "timestamp_out_of_range": Bad("orders", k("orders", 5),
                                      v(_event("orders", "c", order(5, order_date=10**18))),
                                      "timestamp_out_of_range", None),
        "oversized": Bad("orders", k("orders", 6),
                         v(_event("orders", "c", order(6, order_status="x" * OVERSIZED_BYTES))),
                         "oversized", "oversized"),
    }  # fmt: skip


@pytest.fixture(scope="module")
def injected(stream: StreamSettings, s3: Minio) -> Iterator[dict[str, Any]]:
    """Every bad message produced at once onto its table's CDC topic, then a real insert;
    waits until the stream has caught up."""
    s = stream
    h.wait_caught_up(s, CAUGHT_UP)
    pid = h.worker_pids(s)[0]
    dlq_start = h.end_offsets(s.base.kafka_bootstrap, [s.dlq_topic])
    bad = _bad_inputs(2_100_000_000 + int(time.time()) % 40_000_000)
    coords = _produce(s.base.kafka_bootstrap,
                      [(s.base.cdc_topic(b.table), b.key, b.value, None) for b in bad.values()])  # fmt: skip
    (campaign,) = h.sql(s.base.source_dsn, [(
        "INSERT INTO marketing_campaigns (campaign_name, channel, budget, roi, start_date, "
        "end_date) VALUES ('after bad input', 'EMAIL', 1, 1, '2026-01-01', '2026-02-01') "
        "RETURNING campaign_id", ())])  # fmt: skip
    h.wait_caught_up(s, CAUGHT_UP)
    yield {
        "bad": bad,
        "coords": dict(zip(bad, coords, strict=True)),
        "dlq": {(r["topic"], r["partition"], r["offset"]): r for r in h.read_dlq(s, dlq_start)},
        "pid": pid,
        "campaign": campaign,
    }


@pytest.mark.parametrize("kind", list(_bad_inputs(0)))
def test_bad_message_goes_to_the_dlq_with_its_reason(
    kind: str, injected: dict[str, Any], stream: StreamSettings, s3: Minio
) -> None:
    s = stream
    bad: Bad = injected["bad"][kind]
    partition, offset = injected["coords"][kind]
    topic = s.base.cdc_topic(bad.table)
    rec = injected["dlq"].get((topic, partition, offset))
    assert rec is not None, f"{kind} at {partition}/{offset} was not dead-lettered"
    assert (rec["stage"], rec["reason"], rec["table"]) == ("decode", bad.reason, bad.table)
    assert rec["detail"], rec
    assert base64.b64decode(rec["value_b64"]) == bad.value
    assert (
        rec["key_b64"] is None if bad.key is None else base64.b64decode(rec["key_b64"]) == bad.key
    )
    # bronze keeps the message byte for byte
    window_start = {(topic, partition): offset}
    window_end = {(topic, partition): offset + 1}
    (row,) = h.read_bronze(s, bad.table, window_start, window_end)
    assert row["value"] == bad.value and row["key"] == bad.key
    assert row["decode_error"] == bad.bronze_error
    # nothing of it in silver; the reason is counted on /metrics
    assert (topic, partition, offset) not in _silver_coords(s, s3, bad.table)
    assert metrics_read.counter_total(_metrics(s), "dlq", stage="decode", reason=bad.reason) >= 1


def test_the_stream_goes_on_after_bad_input(
    injected: dict[str, Any], stream: StreamSettings, s3: Minio
) -> None:
    s = stream
    assert h.worker_pids(s).get(0) == injected["pid"], "the worker restarted: it crashed"
    assert h.workers_up(s, 1)
    campaign = injected["campaign"]
    rows = h.silver_current("marketing_campaigns", h.read_silver(s, "marketing_campaigns"))
    assert rows[campaign]["campaign_name"] == "after bad input"


# ---------------------------------------------------------------- a topic of an unknown table
def test_topic_of_an_unknown_table_is_left_in_kafka(stream: StreamSettings, s3: Minio) -> None:
    """The workers subscribe to the six table topics only: another table's topic is never
    read (nothing crashes, nothing is dead-lettered); its messages stay in Kafka and
    `ecom status` counts them (a warning naming the topic)."""
    from confluent_kafka.admin import AdminClient, NewTopic

    s = stream
    bootstrap = s.base.kafka_bootstrap
    topic = f"{s.base.topic_prefix}.public.wishlists"
    admin = AdminClient(client_config(bootstrap))
    if topic not in admin.list_topics(timeout=10).topics:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1,
                                      config={"retention.ms": "-1"})])[topic].result(30)  # fmt: skip
    pid = h.worker_pids(s)[0]
    dlq_start = h.end_offsets(bootstrap, [s.dlq_topic])
    value = json.dumps(_event("wishlists", "c", {"wishlist_id": 1, "name": "x"})).encode()
    ((partition, offset),) = _produce(bootstrap, [(topic, b'{"wishlist_id":1}', value, 0)])
    time.sleep(6)  # longer than the workers' metadata refresh (5 s)
    h.wait_caught_up(s, CAUGHT_UP)
    kept = h.read_window(bootstrap, {(topic, partition): offset}, {(topic, partition): offset + 1})
    assert [m[4] for m in kept] == [value], "the message must stay in Kafka"
    lags = h.catchup.consumer_lags(s, [topic])
    assert lags and all(x.committed < 0 for x in lags), "the stream group must not consume it"
    assert not [r for r in h.read_dlq(s, dlq_start) if r["topic"] == topic]
    assert not list(s3.list_objects(s.base.bronze_bucket, prefix="_unknown/", recursive=True))
    assert h.worker_pids(s).get(0) == pid and h.workers_up(s, 1)
    # counted where operators look: `ecom status` names the topic and its messages
    from ecom.status import model, probe

    counts = probe.unknown_topic_counts(s)
    assert counts.get(topic, 0) >= 1, counts
    assert model.unknown_table_topics([topic], s.base.topic_prefix) == [topic]


# ---------------------------------------------------------------- truncate
def test_truncate_removes_the_table_rows_from_silver_state_and_gold(
    stream: StreamSettings, s3: Minio
) -> None:
    s = stream
    dsn = s.base.source_dsn
    table = "inventory_transactions"
    h.wait_caught_up(s, CAUGHT_UP)
    topic = s.base.cdc_topic(table)
    start = h.end_offsets(s.base.kafka_bootstrap, [topic])
    (product,) = h.sql(dsn, [(
        "INSERT INTO products (product_name, sku, category, price, stock_quantity, updated_at) "
        "VALUES ('truncate test', %s, 'Toys', 3.00, 5, now() at time zone 'utc') "
        "RETURNING product_id", (f"TRUNC-{uuid.uuid4().hex[:8]}",))])  # fmt: skip
    move = ("INSERT INTO inventory_transactions (product_id, transaction_type, quantity, "
            "transaction_date) VALUES (%s, %s, %s, now() at time zone 'utc') "
            "RETURNING transaction_id")  # fmt: skip
    before = h.sql(dsn, [(move, (product, "IN", 10)), (move, (product, "OUT", 2))])
    h.sql(dsn, [("TRUNCATE public.inventory_transactions RESTART IDENTITY", ())])
    (after,) = h.sql(dsn, [(move, (product, "ADJUSTMENT", 7))])
    assert after == 1, "RESTART IDENTITY: ids start again (and may repeat old ones)"
    h.wait_caught_up(s, CAUGHT_UP)
    end = h.end_offsets(s.base.kafka_bootstrap, [topic])

    # bronze: the truncate event, without a key
    bronze = h.read_bronze(s, table, start, end)
    truncates = [r for r in bronze if r["op"] == "t"]
    assert len(truncates) == 1 and truncates[0]["key"] is None, [r["op"] for r in bronze]
    assert {r["op"] for r in bronze if not r["is_tombstone"]} == {"c", "t"}
    # silver: a truncate record (delete flag, no key) after the two moves
    log = h.read_silver(s, table)
    t_rows = [r for r in log if (r["bronze_partition"], r["bronze_offset"]) ==
              (truncates[0]["partition"], truncates[0]["offset"])]  # fmt: skip
    assert [(r["op"], r["is_delete"], r["transaction_id"]) for r in t_rows] == [("t", True, None)]
    # compaction: the current state is exactly the source table (the moves before are gone)
    con = _compacted(table, log)
    current = {r["transaction_id"]: r for r in state.current_state(con, table).to_pylist()}
    source = h.source_current(dsn, table)
    assert set(current) == set(source) == {after}
    assert current[after]["quantity"] == 7 and current[after]["transaction_type"] == "ADJUSTMENT"
    assert len(before) == 2
    # gold, rebuilt: the inventory status counts only what is left
    as_of = datetime.now(UTC).date()
    done = run_cli("gold", "rebuild", "--as-of", as_of.isoformat(), timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    got = ref.gold(s.base.gold_dsn, "agg_inventory_status")
    assert got == ref.reference(dsn, "agg_inventory_status", as_of)
    mine = [r for r in got if r[0] == product]
    assert [(r[4], r[5], r[6], r[7]) for r in mine] == [(0, 0, 7, 1)]  # in, out, adj, count


# ---------------------------------------------------------------- duplicate delivery
def test_duplicate_delivery_is_deduplicated_by_key_and_lsn(
    stream: StreamSettings, s3: Minio
) -> None:
    """The same event delivered twice (as Debezium does after a Connect crash): bronze, the
    raw log, keeps both deliveries; compaction keeps one per (key, LSN); the current state
    and the SCD2 history are those of the source."""
    s = stream
    dsn = s.base.source_dsn
    bootstrap = s.base.kafka_bootstrap
    topic = s.base.cdc_topic("customers")
    h.wait_caught_up(s, CAUGHT_UP)
    start = h.end_offsets(bootstrap, [topic])
    (cid,) = h.sql(dsn, [(
        "INSERT INTO customers (email, first_name, last_name, customer_segment, loyalty_tier, "
        "registration_date, updated_at) VALUES (%s, 'Dup', 'Licate', 'New', 'None', "
        "now() at time zone 'utc', now() at time zone 'utc') RETURNING customer_id",
        (f"dup-{uuid.uuid4().hex[:10]}@example.test",))])  # fmt: skip
    h.sql(dsn, [("UPDATE customers SET loyalty_tier = 'Gold' WHERE customer_id = %s", (cid,))])
    h.wait_caught_up(s, CAUGHT_UP)
    mid = h.end_offsets(bootstrap, [topic])
    originals = [m for m in h.read_window(bootstrap, start, mid)
                 if m[4] is not None and h.key_of(m[3], "customers") == cid]  # fmt: skip
    assert [json.loads(m[4] or b"{}")["op"] for m in originals] == ["c", "u"]
    # both delivered again, the create last: an old version arriving after a newer one
    _produce(bootstrap, [(topic, m[3], m[4] or b"", m[1]) for m in (originals[1], originals[0])])
    h.wait_caught_up(s, CAUGHT_UP)
    end = h.end_offsets(bootstrap, [topic])

    bronze = [r for r in h.read_bronze(s, "customers", start, end)
              if not r["is_tombstone"] and h.key_of(r["key"], "customers") == cid]  # fmt: skip
    assert len(bronze) == 4 and len({r["offset"] for r in bronze}) == 4
    assert len({(r["source_lsn"], r["value"]) for r in bronze}) == 2
    lsns = sorted({r["source_lsn"] for r in bronze})
    log = h.read_silver(s, "customers")  # ids may repeat across truncates: match LSNs
    mine = [r for r in log if r["customer_id"] == cid and r["source_lsn"] in lsns]
    assert len(mine) == 4 and len({(r["bronze_partition"], r["bronze_offset"]) for r in mine}) == 4
    con = _compacted("customers", log)
    kept = con.execute("SELECT op, source_lsn FROM changes WHERE customer_id = ? "
                       "AND source_lsn IN (?, ?) ORDER BY k0, k1, k2, k3", [cid, *lsns]).fetchall()  # fmt: skip
    assert kept == [("c", lsns[0]), ("u", lsns[1])]
    current = {r["customer_id"]: r for r in state.current_state(con, "customers").to_pylist()}
    assert current[cid]["loyalty_tier"] == "Gold"
    assert current[cid]["email"] == h.source_current(dsn, "customers")[cid]["email"]
    created = min(r["commit_ts"] for r in mine)
    history = sorted((r["valid_from"], r["loyalty_tier"], r["is_current"])
                     for r in state.customers_history(con).to_pylist()
                     if r["customer_id"] == cid and r["valid_from"] >= created)  # fmt: skip
    assert [(tier, now) for _at, tier, now in history] == [("None", False), ("Gold", True)]
