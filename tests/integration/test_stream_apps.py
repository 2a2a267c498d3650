"""The stream apps (one Faust agent per worker) against the real stack.

Postgres -> Debezium -> Kafka -> stream worker(s) -> bronze and silver Delta tables in
MinIO + silver topics + dead-letter topic. Nothing is mocked. Each test works on an offset window (end
offsets before and after its own changes) or on keys it created itself, so other tests
writing to the same tables do not disturb it. The session-scoped ``stream`` fixture
keeps one worker running.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from minio import Minio
from prometheus_client.parser import text_string_to_metric_families

from common import http
from common.kafka import client_config
from compaction.lake import Lake
from schemas import PRIMARY_KEYS, SOURCE_TABLES
from schemas.columns import COLUMNS
from stream_apps import metrics_read, rules, workers
from stream_apps.configuration import StreamSettings
from stream_apps.metrics import CONTENT_TYPE, LATENCY_BUCKETS, STAGES
from tests.integration import stream_helpers as h
from tests.integration.conftest import run_cli

pytestmark = pytest.mark.integration

CAUGHT_UP = 150.0  # seconds: generous bound for a worker catching up after a test's changes


@pytest.fixture(scope="module")
def s3(stream: StreamSettings) -> Minio:
    return h.s3_client(stream.base)


def _cli_ok(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    done = run_cli(*args, timeout=timeout)
    assert done.returncode == 0, f"ecom {' '.join(args)} failed: {done.stderr[-2000:]}"
    return done


def _same(a: Any, b: Any) -> bool:
    """Exact equality: same type, same value; decimals also with the same scale."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return isinstance(a, Decimal) and isinstance(b, Decimal) and str(a) == str(b)
    if isinstance(a, datetime) or isinstance(b, datetime):
        return (
            isinstance(a, datetime)
            and isinstance(b, datetime)
            and a.tzinfo is not None
            and b.tzinfo is not None
            and a == b
        )
    return type(a) is type(b) and a == b


def _diff_rows(table: str, silver: dict[int, dict[str, Any]], source: dict[int, dict[str, Any]]
               ) -> list[str]:  # fmt: skip
    problems = []
    missing = sorted(source.keys() - silver.keys())
    extra = sorted(silver.keys() - source.keys())
    if missing:
        problems.append(f"{table}: {len(missing)} source keys missing from silver: {missing[:10]}")
    if extra:
        problems.append(f"{table}: {len(extra)} silver keys not in the source: {extra[:10]}")
    for key in sorted(source.keys() & silver.keys()):
        for col in COLUMNS[table]:
            a, b = silver[key][col.name], source[key][col.name]
            if not _same(a, b):
                problems.append(f"{table}[{key}].{col.name}: silver {a!r} != source {b!r}")
    return problems


def _new_parents(dsn: str) -> dict[str, int]:
    """A customer, a product, a campaign and an order of this test's own."""
    tag = uuid.uuid4().hex[:10]
    customer, product, campaign = h.sql(
        dsn,
        [
            (
                "INSERT INTO customers (email, first_name, last_name, customer_segment, "
                "loyalty_tier, registration_date, updated_at) VALUES (%s, 'T', 'Est', 'New', "
                "'None', now() at time zone 'utc', now() at time zone 'utc') "
                "RETURNING customer_id",
                (f"stream-{tag}@example.test",),
            ),
            (
                "INSERT INTO products (product_name, sku, category, price, stock_quantity, "
                "updated_at) VALUES ('test product', %s, 'Toys', 9.99, 10, "
                "now() at time zone 'utc') RETURNING product_id",
                (f"T-{tag}",),
            ),
            (
                "INSERT INTO marketing_campaigns (campaign_name, channel, budget, roi, "
                "start_date, end_date) VALUES ('test', 'EMAIL', 100, 1.5, '2026-01-01', "
                "'2026-12-31') RETURNING campaign_id",
                (),
            ),
        ],
    )
    (order,) = h.sql(
        dsn,
        [
            (
                "INSERT INTO orders (customer_id, order_date, order_status, total_amount, "
                "campaign_id, updated_at) VALUES (%s, now() at time zone 'utc', 'Pending', "
                "19.98, NULL, now() at time zone 'utc') RETURNING order_id",
                (customer,),
            )
        ],
    )
    return {"customer": customer, "product": product, "campaign": campaign, "order": order}


def _silver_versions(s: StreamSettings, s3: Minio, table: str, key: int) -> list[dict[str, Any]]:
    return h.history_of(table, h.read_silver(s, table), key)


def _silver_current_row(s: StreamSettings, s3: Minio, table: str, key: int
                        ) -> dict[str, Any] | None:  # fmt: skip
    return h.silver_current(table, h.read_silver(s, table)).get(key)


def _dlq_by_coords(records: list[dict[str, Any]]) -> dict[tuple[str, int, int], dict[str, Any]]:
    return {(r["topic"], r["partition"], r["offset"]): r for r in records}


def _dlq_of_key(records: list[dict[str, Any]], table: str, key: int) -> list[dict[str, Any]]:
    out = []
    for r in records:
        if r.get("table") != table or r.get("key_b64") is None:
            continue
        try:
            k = json.loads(base64.b64decode(r["key_b64"]))
        except ValueError:
            continue
        if isinstance(k, dict) and k.get(PRIMARY_KEYS[table]) == key:
            out.append(r)
    return out


# ---------------------------------------------------------------- 1. snapshot + live
def test_seed_and_live_changes_of_all_tables_land_in_bronze_and_silver(
    stream: StreamSettings, s3: Minio
) -> None:
    s = stream
    _cli_ok("generate", "seed", "--scale", "0.005", "--truncate", "--seed", "7",
            "--anchor-date", "2026-11-01")  # fmt: skip
    h.wait_caught_up(s, 180)
    start = h.end_offsets(s.base.kafka_bootstrap, h.cdc_topics(s))
    done = _cli_ok("generate", "live", "--rate", "300", "--duration", "8", "--seed", "11",
                   "--json")  # fmt: skip
    summary = json.loads(done.stdout)
    h.wait_caught_up(s, CAUGHT_UP)
    end = h.end_offsets(s.base.kafka_bootstrap, h.cdc_topics(s))

    expected: Counter[str] = Counter()
    for key, n in summary["changes"].items():
        expected[key.split(".")[0]] += n
    assert sum(expected.values()) > 1000, summary  # the run really changed rows
    problems = []
    for table in SOURCE_TABLES:
        rows = h.read_bronze(s, table, start, end)
        assert all(r["table"] == table and r["decode_error"] is None for r in rows)
        changes = {
            (r["source_lsn"], h.key_of(r["key"], table)) for r in rows if not r["is_tombstone"]
        }
        assert all(lsn is not None and pk is not None for lsn, pk in changes)
        if len(changes) != expected[table]:
            problems.append(f"{table}: bronze has {len(changes)} changes, generator made "
                            f"{expected[table]}")  # fmt: skip
    assert not problems, problems

    for table in SOURCE_TABLES:
        current = h.silver_current(table, h.read_silver(s, table))
        source = h.source_current(s.base.source_dsn, table)
        assert len(source) >= 40, (table, len(source))  # the seed's rows, at least
        problems += _diff_rows(table, current, source)
    assert not problems, f"{len(problems)} differences, first: {problems[:15]}"


# ---------------------------------------------------------------- 1b. /metrics
METRIC_TYPES = {
    "ecom_stream_events": "counter",
    "ecom_stream_batches": "counter",
    "ecom_stream_rows": "counter",
    "ecom_stream_files": "counter",
    "ecom_stream_commits": "counter",
    "ecom_stream_commit_conflicts": "counter",
    "ecom_stream_replayed_rows_skipped": "counter",
    "ecom_stream_records": "counter",
    "ecom_stream_tombstones": "counter",
    "ecom_stream_columnar_events": "counter",
    "ecom_stream_record_by_record_events": "counter",
    "ecom_stream_dlq": "counter",
    "ecom_stream_last_offset": "gauge",
    "ecom_stream_uptime_seconds": "gauge",
    "ecom_stream_latency_seconds": "histogram",
    "ecom_stream_stage_seconds": "histogram",
}


def test_metrics_parse_with_one_help_and_type_per_family(stream: StreamSettings) -> None:
    s = stream
    h.wait_caught_up(s, CAUGHT_UP)
    _cli_ok("generate", "live", "--rate", "200", "--duration", "3", "--seed", "5")
    h.wait_caught_up(s, CAUGHT_UP)
    worker = next(w for w in workers.status(s) if w.up)
    resp = http.request("GET", worker.web, timeout=5)
    assert resp.status == 200, resp.status
    content_type, text = resp.headers["Content-Type"], resp.data.decode()
    assert content_type == CONTENT_TYPE
    families = {f.name: f for f in text_string_to_metric_families(text)}
    ours = {name: f.type for name, f in families.items() if name.startswith("ecom_stream_")}
    assert ours == METRIC_TYPES
    helps = [families[name].documentation for name in METRIC_TYPES]
    assert all(helps) and len(set(helps)) == len(helps), helps
    latency = families["ecom_stream_latency_seconds"].samples
    for path in ("source_to_bronze", "source_to_silver"):
        bounds = [float(x.labels["le"]) for x in latency
                  if x.name.endswith("_bucket") and x.labels["path"] == path]  # fmt: skip
        assert bounds == [*LATENCY_BUCKETS, float("inf")], path
        assert metrics_read.latency_quantile([text], path, 0.99) is not None, path
    assert metrics_read.counter_total([text], "events", agent="changes") > 0
    assert metrics_read.counter_total([text], "records", agent="silver") > 0
    assert metrics_read.counter_total([text], "commits", agent="bronze") > 0
    timed = {
        x.labels["stage"]
        for x in families["ecom_stream_stage_seconds"].samples
        if x.name.endswith("_count") and x.value > 0
    }
    assert timed == set(STAGES), timed
    for layer in ("bronze", "silver"):
        landed = metrics_read.landed_offsets([text], layer)
        assert landed and all(t.startswith(f"{s.base.topic_prefix}.public.") for t, _p in landed)


# ---------------------------------------------------------------- 2. kill -9
def test_kill_9_mid_batch_then_restart_loses_nothing(stream: StreamSettings, s3: Minio) -> None:
    s = stream
    h.wait_caught_up(s, CAUGHT_UP)
    bootstrap = s.base.kafka_bootstrap
    start = h.end_offsets(bootstrap, h.cdc_topics(s))
    dlq_start = h.end_offsets(bootstrap, [s.dlq_topic])
    gen = subprocess.Popen(
        [sys.executable, "-m", "ecom.cli", "generate", "live", "--rate", "500",
         "--duration", "15", "--seed", "21"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        # the worker is busy with this test's events (a batch in flight) before the kill
        def consumed_some() -> bool:
            lags = {(x.topic, x.partition): x.committed
                    for x in h.catchup.consumer_lags(s, h.cdc_topics(s))}  # fmt: skip
            return any(c > start.get(tp, 0) for tp, c in lags.items())

        h.wait_until(consumed_some, 30, "the worker to commit some of this test's events")

        # Kill right after a bronze commit, before its offsets are committed to Kafka (that
        # follows within ~1 s), so the restarted worker must replay landed offsets.
        def bronze_version() -> int:
            dt = h.lake_table(s, "bronze", "orders")
            return -1 if dt is None else int(dt.version())

        seen = bronze_version()
        h.wait_until(lambda: bronze_version() > seen, 20, "a new bronze commit", poll=0.02)
        victim = h.worker_pids(s)[0]
        h.kill_hard(victim)
        frozen = {(x.topic, x.partition): x.committed
                  for x in h.catchup.consumer_lags(s, h.cdc_topics(s))}  # fmt: skip
        lake = Lake(s.base)
        topic = s.base.cdc_topic("orders")
        landed = lake.info(lake.ref("bronze", "orders"), {topic: s.partitions}).offsets[topic]
        landed_uncommitted = sum(
            max(0, last + 1 - frozen.get((topic, p), 0)) for p, last in landed.items()
        )
        time.sleep(1.0)
        h.start_workers(s, 1)
        assert h.worker_pids(s)[0] != victim
        out, err = gen.communicate(timeout=90)
        assert gen.returncode == 0, err[-2000:]
    finally:
        if gen.poll() is None:
            gen.kill()
            gen.wait()
    h.wait_caught_up(s, 180)
    end = h.end_offsets(bootstrap, h.cdc_topics(s))
    assert sum(end.values()) - sum(start.get(tp, 0) for tp in end) > 3000

    # bronze: every offset of the window, exactly once; silver: no bronze offset twice
    problems = []
    for table in SOURCE_TABLES:
        rows = h.read_bronze(s, table, start, end)
        by_offset: dict[tuple[str, int, int], dict[str, Any]] = {}
        for r in rows:
            k = (r["topic"], r["partition"], r["offset"])
            if k in by_offset:
                problems.append(f"bronze holds {k} twice")
            by_offset[k] = r
        for layer in ("bronze", "silver"):
            dupes = h.duplicate_coordinates(s, layer, table)
            if dupes:
                problems.append(f"{layer} {table}: {dupes} rows repeat Kafka coordinates")
        topic = s.base.cdc_topic(table)
        for (t, p), hi in end.items():
            if t != topic:
                continue
            want = set(range(start.get((t, p), 0), hi))
            have = {o for (tt, pp, o) in by_offset if (tt, pp) == (t, p)}
            if want != have:
                problems.append(f"bronze {t}[{p}]: missing {sorted(want - have)[:10]} "
                                f"({len(want - have)}), extra {sorted(have - want)[:10]}")  # fmt: skip
    assert not problems, problems

    # silver: every non-tombstone event of the window has a silver record (data or 'q'
    # marker) or a dead-letter record
    silver_coords = set()
    for table in SOURCE_TABLES:
        for r in h.read_silver(s, table):
            silver_coords.add((r["bronze_topic"], r["bronze_partition"], r["bronze_offset"]))
    dlq_coords = set(_dlq_by_coords(h.read_dlq(s, dlq_start)))
    events = [(t, p, o) for t, p, o, _k, v in h.read_window(bootstrap, start, end) if v is not None]
    assert events
    lost = [c for c in events if c not in silver_coords and c not in dlq_coords]
    assert not lost, f"{len(lost)} events neither in silver nor dead-lettered: {lost[:10]}"
    replayed = metrics_read.counter_total(workers.metrics_text(s), "replayed_rows_skipped")
    print(
        f"kill -9 test: {len(events)} events, no duplicate in bronze or silver, "
        f"{replayed:g} replayed rows skipped by the restarted worker; at the kill "
        f"{landed_uncommitted} orders offsets were landed but not committed"
    )


# ---------------------------------------------------------------- 3. poison messages
def _valid_envelope(order_item_id: int, quantity: Any) -> dict[str, Any]:
    now_us = int(time.time() * 1e6)
    return {
        "before": None,
        "after": {"order_item_id": order_item_id, "order_id": 1, "product_id": 1,
                  "quantity": quantity, "unit_price": "1.00"},
        "source": {"version": "3.6.1.Final", "connector": "postgresql", "name": "ecom",
                   "ts_ms": now_us // 1000, "ts_us": now_us, "snapshot": "false",
                   "db": "ecommerce_source", "sequence": "[\"100\",\"200\"]",
                   "schema": "public", "table": "order_items", "txId": 1, "lsn": 200},
        "transaction": None,
        "op": "c",
        "ts_ms": now_us // 1000,
    }  # fmt: skip


def test_poison_messages_go_to_the_dlq_and_the_stream_goes_on(
    stream: StreamSettings, s3: Minio
) -> None:
    from confluent_kafka import Producer

    s = stream
    topic = s.base.cdc_topic("order_items")
    bootstrap = s.base.kafka_bootstrap
    dlq_start = h.end_offsets(bootstrap, [s.dlq_topic])
    base_id = 2_000_000_000 + int(time.time()) % 100_000_000
    envelope = json.dumps(_valid_envelope(base_id + 3, 3)).encode()
    unknown_op = dict(_valid_envelope(base_id + 2, 2), op="x")
    poison = [
        ("not_json", b"\x00\xffnot json"),
        ("truncated_json", envelope[: len(envelope) // 2]),
        ("unknown_op", json.dumps(unknown_op).encode()),
        ("wrong_type", json.dumps(_valid_envelope(base_id + 4, "seven")).encode()),
    ]
    delivered: list[tuple[str, bytes, bytes, int, int]] = []
    producer = Producer(client_config(bootstrap, {"enable.idempotence": True}))
    for i, (reason, value) in enumerate(poison):
        key = json.dumps({"order_item_id": base_id + i}).encode()

        def report(err: Any, msg: Any, reason: str = reason, value: bytes = value,
                   key: bytes = key) -> None:  # fmt: skip
            assert err is None, err
            delivered.append((reason, key, value, msg.partition(), msg.offset()))

        producer.produce(topic, value=value, key=key, partition=i % 3, on_delivery=report)
    assert producer.flush(30) == 0
    assert len(delivered) == len(poison)

    # the stream goes on: a real insert made afterwards reaches silver
    parents = _new_parents(s.base.source_dsn)
    (item,) = h.sql(s.base.source_dsn, [(
        "INSERT INTO order_items (order_id, product_id, quantity, unit_price) "
        "VALUES (%s, %s, 2, 9.99) RETURNING order_item_id", (parents["order"], parents["product"]),
    )])  # fmt: skip
    h.wait_caught_up(s, CAUGHT_UP)

    dlq = _dlq_by_coords(h.read_dlq(s, dlq_start))
    for reason, key, value, partition, offset in delivered:
        rec = dlq.get((topic, partition, offset))
        assert rec is not None, f"{reason} message at {partition}/{offset} not dead-lettered"
        assert rec["reason"] == reason, rec
        assert rec["stage"] == "decode"
        assert rec["table"] == "order_items"
        assert base64.b64decode(rec["value_b64"]) == value
        assert base64.b64decode(rec["key_b64"]) == key
        assert rec["timestamp_ms"] is not None
    # bronze keeps them byte for byte
    bronze = {(r["partition"], r["offset"]): r for r in h.read_bronze(s, "order_items")}
    for reason, _key, value, partition, offset in delivered:
        row = bronze[(partition, offset)]
        assert row["value"] == value
        assert row["decode_error"] == (None if reason == "wrong_type" else reason)
    # none of them entered silver; the real row did
    versions = _silver_versions(s, s3, "order_items", item)
    assert [v["op"] for v in versions] == ["c"], versions
    assert versions[0]["quantity"] == 2 and versions[0]["unit_price"] == Decimal("9.99")
    silver = h.read_silver(s, "order_items")
    poisoned = {(topic, p, o) for _r, _k, _v, p, o in delivered}
    assert not [r for r in silver
                if (r["bronze_topic"], r["bronze_partition"], r["bronze_offset"]) in poisoned]  # fmt: skip
    assert h.workers_up(s, 1)


# ---------------------------------------------------------------- 4. quarantine
def test_quarantined_rows_go_to_the_dlq_and_end_the_key_in_silver(
    stream: StreamSettings, s3: Minio
) -> None:
    s = stream
    dsn = s.base.source_dsn
    dlq_start = h.end_offsets(s.base.kafka_bootstrap, [s.dlq_topic])
    p = _new_parents(dsn)
    item_qty, item_price, lost_order, gift, campaign = h.sql(dsn, [
        ("INSERT INTO order_items (order_id, product_id, quantity, unit_price) "
         "VALUES (%s, %s, 0, 5.00) RETURNING order_item_id", (p["order"], p["product"])),
        ("INSERT INTO order_items (order_id, product_id, quantity, unit_price) "
         "VALUES (%s, %s, 1, -1) RETURNING order_item_id", (p["order"], p["product"])),
        ("INSERT INTO orders (customer_id, order_date, order_status, total_amount, updated_at) "
         "VALUES (%s, now() at time zone 'utc', 'Lost', 1.00, now() at time zone 'utc') "
         "RETURNING order_id", (p["customer"],)),
        ("INSERT INTO inventory_transactions (product_id, transaction_type, quantity, "
         "transaction_date) VALUES (%s, 'GIFT', 1, now() at time zone 'utc') "
         "RETURNING transaction_id", (p["product"],)),
        ("INSERT INTO marketing_campaigns (campaign_name, channel, budget, roi, start_date, "
         "end_date) VALUES ('neg', 'SMS', -5, 0, '2026-01-01', '2026-02-01') "
         "RETURNING campaign_id", ()),
    ])  # fmt: skip
    # an order first valid, then invalid, then valid again
    (flip,) = h.sql(dsn, [(
        "INSERT INTO orders (customer_id, order_date, order_status, total_amount, updated_at) "
        "VALUES (%s, now() at time zone 'utc', 'Shipped', 3.00, now() at time zone 'utc') "
        "RETURNING order_id", (p["customer"],))])  # fmt: skip
    h.wait_caught_up(s, CAUGHT_UP)
    row = _silver_current_row(s, s3, "orders", flip)
    assert row is not None and row["order_status"] == "Shipped"

    h.sql(dsn, [("UPDATE orders SET order_status = ' Misplaced ' WHERE order_id = %s", (flip,))])
    h.wait_caught_up(s, CAUGHT_UP)
    assert _silver_current_row(s, s3, "orders", flip) is None

    dlq = h.read_dlq(s, dlq_start)
    changelog = {t: h.read_silver(s, t) for t in set(SOURCE_TABLES) - {"customers"}}
    cases = [
        ("order_items", item_qty, "order_items.quantity<=0"),
        ("order_items", item_price, "order_items.unit_price<0"),
        ("orders", lost_order, "orders.order_status invalid"),
        ("orders", flip, "orders.order_status invalid"),
        ("inventory_transactions", gift, "inventory_transactions.transaction_type invalid"),
        ("marketing_campaigns", campaign, "marketing_campaigns.budget<0"),
    ]
    for table, key, reason in cases:
        recs = _dlq_of_key(dlq, table, key)
        assert len(recs) == 1, (table, key, recs)
        assert recs[0]["stage"] == "silver" and recs[0]["reason"] == reason, recs[0]
        value = json.loads(base64.b64decode(recs[0]["value_b64"]))
        assert value["after"][PRIMARY_KEYS[table]] == key
        # silver holds only the marker: op q, a delete, the key, null columns
        versions = h.history_of(table, changelog[table], key)
        quarantined = [v for v in versions if v["op"] == rules.QUARANTINED_OP]
        assert len(quarantined) == 1, versions
        q = quarantined[0]
        assert q["is_delete"] is True
        assert (q["bronze_topic"], q["bronze_partition"], q["bronze_offset"]) == (
            recs[0]["topic"], recs[0]["partition"], recs[0]["offset"])  # fmt: skip
        assert all(q[c.name] is None for c in COLUMNS[table] if c.name != PRIMARY_KEYS[table])
        if key != flip:
            assert versions == quarantined, versions
        assert h.silver_current(table, changelog[table]).get(key) is None

    h.sql(dsn, [("UPDATE orders SET order_status = 'Delivered' WHERE order_id = %s", (flip,))])
    h.wait_caught_up(s, CAUGHT_UP)
    row = _silver_current_row(s, s3, "orders", flip)
    assert row is not None and row["order_status"] == "Delivered"
    assert [v["op"] for v in _silver_versions(s, s3, "orders", flip)] == ["c", "q", "u"]


# ---------------------------------------------------------------- 5. schema evolution
@pytest.fixture()
def products_color(stream: StreamSettings) -> Iterator[str]:
    dsn = stream.base.source_dsn
    h.sql(dsn, [("ALTER TABLE products DROP COLUMN IF EXISTS color", ())])
    try:
        yield dsn
    finally:
        h.sql(dsn, [("ALTER TABLE products DROP COLUMN IF EXISTS color", ())])


def test_added_column_flows_through_without_restart(
    stream: StreamSettings, s3: Minio, products_color: str
) -> None:
    s = stream
    dsn = products_color
    bootstrap = s.base.kafka_bootstrap
    pid = h.worker_pids(s)[0]
    silver_start = h.end_offsets(bootstrap, [s.silver_topic("products")])
    tag = uuid.uuid4().hex[:8]
    (old,) = h.sql(dsn, [(
        "INSERT INTO products (product_name, sku, category, price, stock_quantity, updated_at) "
        "VALUES ('before color', %s, 'Toys', 1.00, 1, now() at time zone 'utc') "
        "RETURNING product_id", (f"OLD-{tag}",))])  # fmt: skip
    h.sql(dsn, [("ALTER TABLE products ADD COLUMN color VARCHAR(20)", ())])
    (teal,) = h.sql(dsn, [(
        "INSERT INTO products (product_name, sku, category, price, stock_quantity, updated_at, "
        "color) VALUES ('teal thing', %s, 'Toys', 2.50, 3, now() at time zone 'utc', 'teal') "
        "RETURNING product_id", (f"TEAL-{tag}",))])  # fmt: skip
    h.wait_caught_up(s, CAUGHT_UP)

    # Earlier tests may truncate the source with RESTART IDENTITY, so a product id can
    # also name an older product in the lake: rows are told apart by this test's skus.
    def ours(sku: str, row: dict[str, Any]) -> bool:
        return row.get("sku") == sku.upper()

    # bronze: the raw column is in the value JSON
    bronze = [json.loads(r["value"]) for r in h.read_bronze(s, "products")
              if h.key_of(r["key"], "products") == teal and r["value"]]  # fmt: skip
    bronze = [v for v in bronze if (v.get("after") or {}).get("sku") == f"TEAL-{tag}"]
    assert bronze and bronze[0]["after"]["color"] == "teal"

    # silver topic: a newer schema version with `color`; older records still decode
    decoder = h.SilverDecoder(s)
    records = h.read_silver_topic(s, decoder, "products", silver_start)
    mine = {r["product_id"]: (v, r) for v, r in records}
    version, record = mine[teal]
    assert version > 1 and record["color"] == "teal"
    old_version, old_record = mine[old]
    # written before the column existed: no color (a worker that evolved earlier writes
    # the newer version with color null)
    assert old_version <= version and old_record.get("color") is None
    assert old_record["sku"] == f"OLD-{tag}".upper()
    every = h.read_silver_topic(s, decoder, "products")  # the whole topic decodes
    assert any(v == 1 for v, _r in every)

    # silver Delta table: a new nullable column by schema merge; older rows hold null
    versions = [v for v in _silver_versions(s, s3, "products", teal) if ours(f"TEAL-{tag}", v)]
    assert len(versions) == 1 and versions[0]["color"] == "teal"
    assert versions[0]["price"] == Decimal("2.50")
    dt = h.lake_table(s, "silver", "products")
    assert dt is not None and "color" in dt.schema().to_arrow().names
    olds = [v for v in _silver_versions(s, s3, "products", old) if ours(f"OLD-{tag}", v)]
    assert olds and all(v.get("color") is None for v in olds)

    # dropping the column: the next insert still flows, the worker never restarted
    h.sql(dsn, [("ALTER TABLE products DROP COLUMN color", ())])
    (after,) = h.sql(dsn, [(
        "INSERT INTO products (product_name, sku, category, price, stock_quantity, updated_at) "
        "VALUES ('after color', %s, 'Toys', 4.00, 5, now() at time zone 'utc') "
        "RETURNING product_id", (f"AFTER-{tag}",))])  # fmt: skip
    h.wait_caught_up(s, CAUGHT_UP)
    versions = [v for v in _silver_versions(s, s3, "products", after) if ours(f"AFTER-{tag}", v)]
    assert [v["op"] for v in versions] == ["c"] and versions[0]["sku"] == f"AFTER-{tag}".upper()
    assert h.worker_pids(s).get(0) == pid and h.workers_up(s, 1)


# ---------------------------------------------------------------- 6. two workers
def test_two_workers_share_the_partitions(stream: StreamSettings, s3: Minio) -> None:
    s = stream
    bootstrap = s.base.kafka_bootstrap
    try:
        h.start_workers(s, 2)

        members = workers.wait_assigned(s, 2, timeout=60)
        a, b = members
        assert a and b and not (a & b), members
        all_cdc = {tp for tp in h.end_offsets(bootstrap, h.cdc_topics(s))}
        assert a | b == all_cdc

        h.wait_caught_up(s, CAUGHT_UP)
        start = h.end_offsets(bootstrap, h.cdc_topics(s))
        _cli_ok("generate", "live", "--rate", "400", "--duration", "4", "--seed", "31")
        h.wait_caught_up(s, CAUGHT_UP)
        end = h.end_offsets(bootstrap, h.cdc_topics(s))
        per_member = [0, 0]
        for table in SOURCE_TABLES:
            rows = h.dedupe(h.read_bronze(s, table, start, end),
                            ("topic", "partition", "offset"))  # fmt: skip
            have = defaultdict(set)
            for r in rows:
                have[(r["topic"], r["partition"])].add(r["offset"])
                per_member[0 if (r["topic"], r["partition"]) in a else 1] += 1
            for tp, hi in end.items():
                if tp[0] == s.base.cdc_topic(table):
                    assert have[tp] == set(range(start.get(tp, 0), hi)), tp
        assert all(per_member), f"one worker landed nothing: {per_member}"
        # both workers report landing bronze events in their metrics
        for port in (s.web_port, s.web_port + 1):
            text = http.get_text(f"http://{s.base.host}:{port}/metrics", timeout=5)
            assert metrics_read.counter_total([text], "events", agent="changes") > 0, port
            assert metrics_read.counter_total([text], "commits", agent="silver") > 0, port
        # two writers committed to the same tables at once: nothing landed twice
        for table in SOURCE_TABLES:
            for layer in ("bronze", "silver"):
                assert h.duplicate_coordinates(s, layer, table) == 0, (layer, table)
    finally:
        h.stop_worker(s, 1)
    assert h.workers_up(s, 1) and set(h.worker_pids(s)) == {0}


# ---------------------------------------------------------------- 7. CLI status
def test_status_commands(stream: StreamSettings) -> None:
    s = stream
    done = run_cli("status", "--wait-caught-up", "120", timeout=180)
    assert done.returncode == 0, done.stderr
    assert "caught up: yes" in done.stdout
    done = run_cli("stream", "status")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "worker 0: up" in done.stdout
    # the integration session stops the maintainer; `ecom stream status` says so
    assert "lake maintainer: not running (`ecom stream start` starts it)" in done.stdout
    try:
        h.stop_workers(s)
        done = run_cli("stream", "status")
        assert done.returncode == 1, done.stdout
    finally:
        h.start_workers(s, 1)
    assert h.workers_up(s, 1)


def test_helpers_compare_exactly() -> None:
    """The comparison the silver/source test relies on is strict."""
    assert not _same(Decimal("1.10"), Decimal("1.1"))
    assert not _same(1, True)
    assert not _same(date(2026, 1, 1), datetime(2026, 1, 1))
    assert _same(None, None) and not _same(None, "")
