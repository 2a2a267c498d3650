"""`ecom status` against the real stack: a healthy pipeline exits 0 with every section
filled in; a paused connector, a slot over its WAL threshold and a crashed worker each
make it exit with their own bit; an unreachable component is one line and exit 1.

The session's ``stream`` fixture keeps one worker running; each test leaves the
pipeline as it found it (connector running, one worker up, nothing in flight).
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg2
import pytest

from common.connect import ConnectClient
from common.kafka import client_config
from connectors import manage
from ecom.status import model
from stream_apps.configuration import StreamSettings
from tests.integration import stream_helpers as h
from tests.integration.conftest import run_cli

pytestmark = pytest.mark.integration

CAUGHT_UP = 150.0


def _status(*args: str, **env: str) -> tuple[int, dict[str, Any]]:
    done = run_cli("status", "--json", *args, env=env, timeout=240)
    assert done.returncode != 1, f"ecom status failed: {done.stderr[-2000:]}"
    return done.returncode, json.loads(done.stdout)


def _insert_customer(dsn: str) -> datetime:
    """A new customer of this test's own; returns its transaction's start time (UTC),
    which is at most its commit time."""
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO customers (email, first_name, last_name, customer_segment, "
                "loyalty_tier, registration_date, updated_at) VALUES (%s, 'S', 'Tatus', 'New', "
                "'None', now() at time zone 'utc', now() at time zone 'utc') RETURNING now()",
                (f"status-{uuid.uuid4().hex[:10]}@example.test",),
            )
            (started,) = cur.fetchone()
    finally:
        conn.close()
    return started.astimezone(UTC)


def _dlq_count(doc: dict[str, Any], stage: str, reason: str) -> int:
    return sum(
        r["count"] for r in doc["dlq"]["by_reason"] if r["stage"] == stage and r["reason"] == reason
    )


def test_healthy_pipeline_exits_0_with_every_section(stream: StreamSettings) -> None:
    from confluent_kafka import Producer

    s = stream
    h.wait_caught_up(s, CAUGHT_UP)
    code, before = _status("--wait-caught-up", "120")
    assert code == 0, before["findings"]
    not_json_before = _dlq_count(before, "decode", "not_json")

    # one garbage message on a CDC topic (the worker dead-letters it) and one real change
    producer = Producer(client_config(s.base))
    producer.produce(s.base.cdc_topic("orders"), key=b'{"order_id": 2100000001}',
                     value=b"\x00\xffnot json for status")  # fmt: skip
    assert producer.flush(30) == 0
    started = _insert_customer(s.base.source_dsn)
    h.wait_caught_up(s, CAUGHT_UP)

    code, doc = _status()
    checked = datetime.fromisoformat(doc["checked_at"])
    assert code == 0, doc["findings"]
    assert doc["healthy"] is True and doc["exit_code"] == 0
    assert [f for f in doc["findings"] if f["severity"] == "critical"] == []
    # connector and slot
    (conn,) = doc["connectors"]
    assert conn["state"] == "RUNNING" and conn["healthy"] is True
    slot = doc["slot"]
    assert slot["exists"] and slot["active"] is True
    assert slot["wal_status"] in ("reserved", "extended")
    assert 0 <= slot["lag_bytes"] <= slot["retained_bytes"] < 1 << 30
    assert slot["safe_wal_size"] > 0 and slot["first_sample"] is not None
    # consumer lag: every CDC partition (the group reads nothing else), nothing behind
    lag = doc["consumer_lag"]
    assert lag["group"] == s.app_id and lag["members"] >= 1
    topics = {p["topic"] for p in lag["partitions"]}
    assert topics == set(h.cdc_topics(s))
    assert len(lag["partitions"]) == 6 * s.partitions
    assert lag["total"] == 0 and all(p["lag"] == 0 for p in lag["partitions"])
    # the garbage message was counted by stage and reason
    assert _dlq_count(doc, "decode", "not_json") == not_json_before + 1
    assert doc["dlq"]["total"] >= _dlq_count(doc, "decode", "not_json")
    assert doc["dlq"]["partial"] is False
    # lake and freshness: the new customer is in the bronze and silver Delta tables, which
    # hold every offset of the customers topic
    for kind in ("bronze", "silver"):
        cust = doc["lake"][kind]["customers"]
        assert cust["exists"] and cust["version"] >= 0 and cust["files"] >= 1, cust
        assert cust["uri"].endswith("/customers") and cust["rows"] > 0
        assert datetime.fromisoformat(cust["last_commit"]) >= started
        assert datetime.fromisoformat(cust["max_commit_ts"]) >= started
        assert cust["landed_offsets"], cust
        age = doc["freshness_seconds"]["customers"][kind]
        assert 0 <= age <= (checked - started).total_seconds() + 1
    # caught up: bronze holds every offset of the topic (it lands every message)
    assert doc["lake"]["bronze"]["customers"]["behind"] == 0
    # workers
    assert [w["up"] for w in doc["workers"]] == [True]
    # the schema registry and the silver topics' subjects (customers got a record above)
    reg = doc["schema_registry"]
    assert reg["up"] is True and reg["version"] and reg["url"] == s.base.schema_registry_url
    subjects = {x["topic"]: x for x in reg["subjects"]}
    assert set(subjects) == set(h.silver_topics(s))
    customers = subjects[s.silver_topic("customers")]
    assert customers["version"] >= 1 and customers["compatibility"] == "BACKWARD"
    assert all(x["compatibility"] == "BACKWARD" for x in reg["subjects"] if x["version"])
    assert before["caught_up"] is True  # proven by --wait-caught-up

    # the same, for people
    done = run_cli("status", timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.splitlines()[0].endswith("HEALTHY (exit 0)")
    for heading in ("CONNECTOR", "REPLICATION SLOT", "consumer group", "TOPIC", "LAST COMMIT",
                    "BEHIND", "freshness", "dead letters", "STREAM WORKER", "schema registry",
                    "SUBJECT", "caught up: "):  # fmt: skip
        assert heading in out
    assert "not_json" in out


def test_slot_over_its_wal_threshold_exits_4(stream: StreamSettings) -> None:
    _insert_customer(stream.base.source_dsn)  # some WAL after the slot's restart point
    code, doc = _status(ECOM_SLOT_LAG_WARN_BYTES="0", ECOM_STATUS_SAMPLE_SECONDS="0")
    assert code & model.EXIT_SLOT, doc["findings"]
    (finding,) = [f for f in doc["findings"] if f["component"] == "slot"]
    assert "ECOM_SLOT_LAG_WARN_BYTES=0" in finding["message"]
    assert finding["fix"][0].startswith("curl -s -X POST ")
    assert "/connectors/ecommerce-source/restart" in finding["fix"][0]
    h.wait_caught_up(stream, CAUGHT_UP)


def test_paused_connector_exits_2_with_the_resume_command(stream: StreamSettings) -> None:
    s = stream
    name = manage.definition_names()[0]
    connect = ConnectClient(s.base.connect_url)
    assert connect.request("PUT", f"/connectors/{name}/pause").status == 202
    try:
        h.wait_until(lambda: manage.state(s.base, name).state == "PAUSED", 60, "PAUSED")
        code, doc = _status(ECOM_STATUS_SAMPLE_SECONDS="0")
        assert code & model.EXIT_CONNECTOR, doc["findings"]
        assert doc["healthy"] is False and doc["connectors"][0]["state"] == "PAUSED"
        (finding,) = [f for f in doc["findings"] if f["component"] == "connector"]
        assert finding["fix"] == [f"curl -s -X PUT '{s.base.connect_url}/connectors/{name}/resume'"]
    finally:
        connect.resume(name)
        manage.wait_running(s.base, name, 90)
    h.wait_until(lambda: _status(ECOM_STATUS_SAMPLE_SECONDS="0")[0] == 0, 90, "status healthy")


def test_crashed_worker_exits_16_until_restarted(stream: StreamSettings) -> None:
    s = stream
    (pid,) = h.worker_pids(s).values()
    h.kill_hard(pid)  # a crash: the pid file stays, as after exit 70
    try:
        done = run_cli("status", env={"ECOM_STATUS_SAMPLE_SECONDS": "0"}, timeout=240)
        assert done.returncode & model.EXIT_WORKER, done.stdout + done.stderr
        assert "UNHEALTHY" in done.stdout.splitlines()[0]
        assert "stream worker 0 was started but is down" in done.stdout
        assert "fix: ecom stream start --workers 1" in done.stdout
    finally:
        h.start_workers(s, 1)
    h.wait_caught_up(s, CAUGHT_UP)
    code, doc = _status(ECOM_STATUS_SAMPLE_SECONDS="0")
    assert code == 0, doc["findings"]


def test_registry_down_exits_32_and_the_rest_is_still_checked(stream: StreamSettings) -> None:
    s = stream
    assert run_cli("stack", "down", "registry", timeout=120).returncode == 0
    try:
        done = run_cli("status", "--json", env={"ECOM_STATUS_SAMPLE_SECONDS": "0"}, timeout=240)
        assert done.returncode & model.EXIT_REGISTRY, done.stdout[-2000:] + done.stderr
        doc = json.loads(done.stdout)
        assert doc["schema_registry"]["up"] is False and doc["schema_registry"]["problem"]
        (finding,) = [f for f in doc["findings"] if f["component"] == "schema registry"]
        assert finding["severity"] == "critical" and finding["fix"][0] == "ecom stack up registry"
        assert doc["lake"]["silver"]["customers"]["exists"]  # everything else was read
        text = run_cli("status", env={"ECOM_STATUS_SAMPLE_SECONDS": "0"}, timeout=240).stdout
        assert "schema registry" in text.splitlines()[0] and "DOWN" in text
    finally:
        up = run_cli("stack", "up", "registry", timeout=300)
        assert up.returncode == 0, up.stderr[-2000:]
    h.wait_caught_up(s, CAUGHT_UP)


def test_unreachable_component_is_one_line_and_exit_1(stream: StreamSettings) -> None:
    t0 = time.monotonic()
    done = run_cli("status", env={"ECOM_CONNECT_PORT": "1"}, timeout=60)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: cannot check the pipeline: connect (http://")
    assert "ecom stack up" in lines[0]
    assert done.stdout == ""
    assert time.monotonic() - t0 < 30
