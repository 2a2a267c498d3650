"""`ecom demo`: from nothing to a fresh, verified gold, in one command.

Steps: start the stack (installing it the first time), create the source schema,
register the Debezium connector, start the stream workers, make one change and show
its Debezium event, run a burst of live traffic, wait until the pipeline has caught
up, show what landed in bronze and silver, rebuild gold, verify it against the
source, print a few headline KPIs, and write the HTML report (`ecom report`).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg2

from common.errors import TransientError
from common.kafka import client_config
from common.progress import SILENT, Reporter
from common.settings import Settings
from compaction import maintainer
from connectors import manage
from ecom import catchup, dbinit, display, report
from schemas import SOURCE_TABLES
from stack import services
from stream_apps import configuration as stream_configuration
from stream_apps import workers

CAPTURE_TIMEOUT = 60.0


@dataclass(frozen=True)
class DemoOptions:
    scale: float = 0.01
    live_seconds: float = 10.0
    rate: float = 200.0
    workers: int = 1


def run(settings: Settings, options: DemoOptions | None = None, progress: Reporter = SILENT) -> str:
    opts = options or DemoOptions()
    progress("starting the stack")
    rows = services.up(settings, progress=progress)
    progress("creating the source schema")
    dbinit.init(settings, progress=progress)
    progress("registering the Debezium connector")
    manage.apply_all(settings, progress=progress)
    stream = stream_configuration.load()
    progress(f"starting {opts.workers} stream worker(s) and the lake maintainer")
    workers.start(stream, opts.workers, progress=progress)
    maintainer.start(settings)
    if opts.scale > 0:
        _seed_if_empty(settings, opts.scale, progress)
    progress("making a change in the source database and waiting for its event")
    event, latency = capture_one_change(settings)
    before = lake_counts(settings)
    applied: dict[str, int] = {}
    if opts.live_seconds > 0:
        progress(f"live traffic: {opts.rate:.0f} row changes/s for {opts.live_seconds:.0f}s")
        applied = _live(settings, opts, progress)
    progress("waiting until the pipeline has caught up")
    t0 = time.monotonic()
    catchup.wait_caught_up(stream, timeout=300)
    progress(f"caught up in {time.monotonic() - t0:.1f}s")
    after = lake_counts(settings)
    progress("rebuilding gold from the silver change-log")
    gold_text = _gold(settings, progress)
    progress("writing the HTML report")
    report_path = report.write_report(settings, progress=progress)
    progress("measuring freshness")
    fresh_text = _freshness(stream)
    return "\n".join(
        [
            display.stack_status(rows),
            "",
            f"Captured in {latency:.2f}s on topic {settings.cdc_topic('customers')}:",
            json.dumps(_summary(event), indent=2),
            "",
            _format_lake(applied, before, after),
            "",
            gold_text,
            "",
            fresh_text,
            "",
            f"Report (open it in a browser): {report_path}",
            "",
            f"MinIO console: http://{settings.host}:{settings.s3_console_port} "
            f"(user {settings.s3_access_key}); metrics: http://{settings.host}:"
            f"{stream.web_port}/metrics; `ecom config show` lists every endpoint.",
            "Stop everything with `ecom demo --down` (data is kept).",
        ]
    )


HEADLINE_KPIS = ("daily_revenue", "top_products_by_revenue", "channel_effectiveness")


def _gold(settings: Settings, progress: Reporter) -> str:
    """Rebuild gold, verify it against the source, and show a few headline KPIs."""
    from compaction import configuration as gold_configuration
    from compaction import kpis, rebuild, verify
    from compaction.exceptions import VerifyMismatch

    result = rebuild.rebuild(gold_configuration.load(), progress=progress)
    report = verify.verify(settings)
    if not report.ok:
        raise VerifyMismatch(report.summary())
    parts = [
        f"Gold build #{result.build_id} as of {result.as_of} in {result.seconds:.1f}s; verify:",
        display.verify_report(report),
    ]
    known = set(kpis.names())
    for name in HEADLINE_KPIS:
        if name in known:
            columns, rows = kpis.run(settings.gold_dsn, name)
            parts += ["", display.kpi_text(kpis.get(name), columns, rows, limit=5)]
    return "\n".join(parts)


def _freshness(stream: stream_configuration.StreamSettings) -> str:
    """Per table, now minus the newest source commit visible in bronze, silver and gold
    (the figures `ecom status` reports)."""
    from ecom.status import model, probe
    from ecom.status.report import human_age, table

    snap = probe.collect(stream, model.load())
    ages = model.freshness(snap)
    rows = [
        [t, *(human_age(ages[t][layer]) for layer in ("bronze", "silver", "gold"))]
        for t in SOURCE_TABLES
    ]
    lines = table(["TABLE", "BRONZE", "SILVER", "GOLD"], rows)
    return "\n".join(["Freshness (now minus the newest source commit in each layer):", *lines])


def down(settings: Settings, progress: Reporter = SILENT) -> None:
    workers.stop(stream_configuration.load(), progress=progress)
    maintainer.stop(settings)
    services.down(settings, progress=progress)


def _seed_if_empty(settings: Settings, scale: float, progress: Reporter) -> None:
    """Seed a small shop once; a re-run keeps the data it has (the demo is idempotent)."""
    from generator import SeedConfig, load_seed, today_utc_midnight

    with psycopg2.connect(settings.source_dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT " + " + ".join(f"(SELECT count(*) FROM {t})" for t in SOURCE_TABLES)
        )  # fixed table names
        row = cur.fetchone()
    if row and row[0] > 0:
        progress(f"source already holds {row[0]:,} rows: not seeding again")
        return
    progress(f"seeding the source at scale {scale}")
    config = SeedConfig(
        scale=scale, seed=42, dirty_rate=0.001, truncate=False, anchor=today_utc_midnight()
    )
    load_seed(settings.source_dsn, config, progress=progress)


def _live(settings: Settings, opts: DemoOptions, progress: Reporter) -> dict[str, int]:
    from generator import LiveConfig, run_live

    summary = run_live(
        settings.source_dsn,
        LiveConfig(rate=opts.rate, duration=opts.live_seconds, report_every=5.0),
        stop=threading.Event(),
        on_report=lambda r: progress(f"  {r.total_rows:,} row changes so far"),
    )
    applied: dict[str, int] = {}
    for key, n in summary.changes.items():
        table = key.split(".", 1)[0]
        applied[table] = applied.get(table, 0) + n
    return applied


@dataclass(frozen=True)
class LakeCount:
    objects: int
    rows: int


def lake_counts(settings: Settings) -> dict[tuple[str, str], LakeCount]:
    """Data files and rows per (layer, table), from each Delta table's log."""
    from compaction.lake import Lake

    lake = Lake(settings)
    out: dict[tuple[str, str], LakeCount] = {}
    for ref in lake.refs():
        info = lake.info(ref)
        out[(ref.layer, ref.table)] = LakeCount(info.files, info.rows)
    return out


def _format_lake(
    applied: dict[str, int],
    before: dict[tuple[str, str], LakeCount],
    after: dict[tuple[str, str], LakeCount],
) -> str:
    head = (
        f"{'table':<24} {'live changes':>12} {'bronze rows':>11} {'+new':>6} "
        f"{'silver rows':>11} {'+new':>6} {'data files':>10}"
    )
    lines = ["What landed in the lake (Delta tables s3://bronze/<table>, s3://silver/<table>):", head]
    for table in SOURCE_TABLES:
        b0, b1 = before[("bronze", table)], after[("bronze", table)]
        s0, s1 = before[("silver", table)], after[("silver", table)]
        lines.append(
            f"{table:<24} {applied.get(table, 0):>12,} {b1.rows:>11,} "
            f"{b1.rows - b0.rows:>+6,} {s1.rows:>11,} {s1.rows - s0.rows:>+6,} "
            f"{b1.objects + s1.objects:>10,}"
        )
    return "\n".join(lines)


def capture_one_change(settings: Settings) -> tuple[dict[str, Any], float]:
    """Insert then update one customer; return the update's change event and the latency."""
    from confluent_kafka import OFFSET_END, Consumer, TopicPartition

    topic = settings.cdc_topic("customers")
    consumer = Consumer(
        client_config(
            settings,
            {
                "group.id": f"ecom-demo-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            },
        )
    )
    try:
        md = consumer.list_topics(topic, timeout=10)
        parts = md.topics[topic].partitions if topic in md.topics else {}
        if parts and md.topics[topic].error is None:
            consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in parts])
        else:  # first run: the topic appears with the first event
            consumer.subscribe([topic])
        email = f"demo-{uuid.uuid4().hex[:10]}@example.com"
        now = datetime.now(UTC).replace(tzinfo=None)
        with psycopg2.connect(settings.source_dsn) as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO customers (email, first_name, last_name, customer_segment, "
                "loyalty_tier, registration_date, updated_at) "
                "VALUES (%s, 'Demo', 'Customer', 'New', 'None', %s, %s) RETURNING customer_id",
                (email, now, now),
            )
            row = cur.fetchone()
            assert row is not None
            customer_id = row[0]
            cur.execute(
                "UPDATE customers SET loyalty_tier = 'Bronze', updated_at = %s "
                "WHERE customer_id = %s",
                (now, customer_id),
            )
        t0 = time.monotonic()
        deadline = t0 + CAPTURE_TIMEOUT
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None or msg.error() or msg.value() is None:
                continue
            value = msg.value()
            if value is None:
                continue
            event = json.loads(value)
            after = event.get("after") or {}
            if after.get("customer_id") == customer_id and event.get("op") == "u":
                event["_kafka"] = {"partition": msg.partition(), "offset": msg.offset()}
                return event, time.monotonic() - t0
        raise TransientError(
            f"no change event for customer {customer_id} on {topic} within {CAPTURE_TIMEOUT:.0f}s",
            hint="check `ecom connectors status` and `ecom stack logs connect`",
        )
    finally:
        consumer.close()


def _summary(event: dict[str, Any]) -> dict[str, Any]:
    src = event.get("source", {})
    return {
        "op": event.get("op"),
        "before": {k: (event.get("before") or {}).get(k) for k in ("customer_id", "loyalty_tier")},
        "after": {
            k: (event.get("after") or {}).get(k) for k in ("customer_id", "email", "loyalty_tier")
        },
        "source": {k: src.get(k) for k in ("lsn", "txId", "ts_us", "table")},
        "kafka": event.get("_kafka"),
    }
