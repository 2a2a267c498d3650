"""Pure logic of `ecom status`: health rules, exit codes, freshness and output, on
hand-made snapshots (no service is contacted)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from common.errors import ConfigError
from connectors.manage import ConnectorState
from ecom.status import model, report, rules
from ecom.status.model import (
    DlqCounts,
    GoldBuild,
    GoldInfo,
    GroupLag,
    HealthSettings,
    LakeTable,
    PartitionLag,
    RegistryInfo,
    SlotSample,
    Snapshot,
    SubjectState,
)
from ecom.status.probe import dlq_reason
from schemas import SOURCE_TABLES
from stream_apps import rules as stream_rules
from stream_apps.envelope import Coordinates
from stream_apps.workers import WorkerState

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
URL = "http://127.0.0.1:8083"
CFG = HealthSettings(slot_lag_warn_bytes=1000, max_lag=500, sample_seconds=2.0)
RUNNING = ConnectorState("ecommerce-source", "RUNNING", [{"id": "0", "state": "RUNNING"}])
REGISTRY_URL = "http://127.0.0.1:8081/apis/ccompat/v7"
REGISTRY = RegistryInfo(
    REGISTRY_URL,
    True,
    "3.3.3",
    subjects=tuple(
        SubjectState(f"silver.{t}-value", f"silver.{t}", 1, i + 1, "BACKWARD")
        for i, t in enumerate(SOURCE_TABLES)
    ),
)


def _parts(
    lag: int = 0, prev_lag: int | None = None, moved: bool = True
) -> tuple[PartitionLag, ...]:
    """Two partitions; the first holds ``lag`` (and ``prev_lag`` in the first sample)."""
    end, committed = 1000 + lag, 1000
    prev_end = None if prev_lag is None else 1000 + prev_lag - (10 if moved else 0)
    prev_committed = None if prev_lag is None else committed - (10 if moved else 0)
    return (
        PartitionLag("ecom.public.orders", 0, end, committed, prev_end, prev_committed),
        PartitionLag(
            "silver.orders",
            0,
            50,
            50,
            None if prev_lag is None else 50,
            None if prev_lag is None else 50,
        ),
    )


def _snap(**changes: object) -> Snapshot:
    good = GoldBuild(
        7,
        "succeeded",
        "2026-11-28",
        NOW - timedelta(hours=2),
        NOW - timedelta(hours=1),
        NOW - timedelta(hours=3),
        "0/23B8788",
        "done",
    )
    snap = Snapshot(
        checked_at=NOW,
        connect_url=URL,
        slot_name="ecom_cdc_slot",
        connectors=[RUNNING],
        slot=SlotSample(True, True, "reserved", 100, 200, 4 << 30, 5000),
        slot_first=SlotSample(True, True, "reserved", 90, 190, 4 << 30, 4990),
        wal_at_start=5000,
        lag=GroupLag("ecom-stream", "STABLE", 1, _parts(0, 0), 2.0),
        lake=[
            LakeTable(
                kind,
                t,
                f"s3://{kind}/{t}",
                exists=True,
                version=12,
                last_commit=NOW - timedelta(seconds=5),
                files=3,
                bytes=3 << 20,
                rows=1000,
                max_commit_ts=NOW - timedelta(seconds=8 if kind == "bronze" else 9),
                landed_topic=f"ecom.public.{t}",
                landed={0: 99},
            )
            for kind in ("bronze", "silver")
            for t in SOURCE_TABLES
        ],
        gold=GoldInfo(None, good, good),
        dlq=DlqCounts("ecom.dlq", True, 3, {("decode", "not_json"): 2, ("silver", "x"): 1}),
        workers=[WorkerState(0, 4242, True, "http://127.0.0.1:6066/metrics", "/tmp/s-0.log")],
        registry=REGISTRY,
    )
    for key, value in changes.items():
        setattr(snap, key, value)
    return snap


def _critical(snap: Snapshot, cfg: HealthSettings = CFG) -> list[model.Finding]:
    return [f for f in rules.evaluate(snap, cfg) if f.severity == model.CRITICAL]


def test_healthy_pipeline_exits_0_and_has_no_problem() -> None:
    snap = _snap()
    findings = rules.evaluate(snap, CFG)
    assert findings == []
    assert model.exit_code(findings) == 0
    assert model.caught_up(snap)


@pytest.mark.parametrize(
    ("connector", "fix"),
    [
        (ConnectorState("ecommerce-source", "NOT_REGISTERED"), "ecom connectors apply"),
        (
            ConnectorState("ecommerce-source", "PAUSED", [{"id": "0", "state": "PAUSED"}]),
            f"curl -s -X PUT '{URL}/connectors/ecommerce-source/resume'",
        ),
        (
            ConnectorState(
                "ecommerce-source",
                "RUNNING",
                [{"id": "0", "state": "FAILED"}],
                "org.apache.kafka.connect.errors.ConnectException: boom\n  at x",
            ),
            f"curl -s -X POST '{URL}/connectors/ecommerce-source/restart?includeTasks=true&onlyFailed=true'",
        ),
        (
            ConnectorState("ecommerce-source", "RUNNING", []),
            f"curl -s -X POST '{URL}/connectors/ecommerce-source/restart?includeTasks=true&onlyFailed=true'",
        ),
    ],
)
def test_connector_not_running_exits_2_with_its_fix(connector: ConnectorState, fix: str) -> None:
    # the slot stays active (as right after the failure) so only the connector rule fires
    findings = _critical(_snap(connectors=[connector]))
    assert [f.code for f in findings] == [model.EXIT_CONNECTOR]
    assert findings[0].fix[0] == fix
    if connector.trace:
        assert "ConnectException: boom" in findings[0].message
        assert "at x" not in findings[0].message  # only the first trace line


def test_lost_slot_exits_4_with_the_resnapshot_runbook() -> None:
    snap = _snap(slot=SlotSample(True, False, "lost", None, None, None, 5000))
    findings = _critical(snap)
    codes = {f.code for f in findings}
    assert codes == {model.EXIT_SLOT}
    lost = [f for f in findings if "lost" in f.message]
    assert len(lost) == 1
    assert f"curl -s -X DELETE '{URL}/connectors/ecommerce-source/offsets'" in lost[0].fix
    assert any("Runbook: lost replication slot" in step for step in lost[0].fix)


def test_missing_slot_is_lost_only_when_the_connector_exists() -> None:
    gone = _critical(_snap(slot=SlotSample(False)))
    assert [f.code for f in gone] == [model.EXIT_SLOT]
    assert "missing" in gone[0].message and "re-snapshot" in gone[0].message
    fresh = rules.evaluate(
        _snap(
            slot=SlotSample(False),
            connectors=[ConnectorState("ecommerce-source", "NOT_REGISTERED")],
        ),
        CFG,
    )
    assert model.exit_code(fresh) == model.EXIT_CONNECTOR  # no slot yet is expected
    assert any(f.component == "slot" and f.severity == model.WARNING for f in fresh)


def test_inactive_slot_while_connector_runs_is_stalled() -> None:
    snap = _snap(slot=SlotSample(True, False, "reserved", 100, 200, 4 << 30, 5000))
    (finding,) = _critical(snap)
    assert finding.code == model.EXIT_SLOT and "stalled" in finding.message
    assert finding.fix == (rules.restart_cmd(URL, "ecommerce-source"),)


def test_inactive_slot_of_a_paused_connector_points_to_resume() -> None:
    paused = ConnectorState("ecommerce-source", "PAUSED", [{"id": "0", "state": "PAUSED"}])
    snap = _snap(connectors=[paused], slot=SlotSample(True, False, "reserved", 1, 2, 4 << 30, 5000))
    findings = _critical(snap)
    assert model.exit_code(findings) == model.EXIT_CONNECTOR | model.EXIT_SLOT
    slot = [f for f in findings if f.code == model.EXIT_SLOT][0]
    assert slot.fix == (rules.resume_cmd(URL, "ecommerce-source"),)


def test_wal_retained_over_the_threshold_exits_4() -> None:
    at_limit = _snap(slot=SlotSample(True, True, "extended", 10, 1000, 4 << 30, 5000))
    assert _critical(at_limit) == []
    over = _snap(slot=SlotSample(True, True, "extended", 10, 1001, 4 << 30, 5000))
    (finding,) = _critical(over)
    assert finding.code == model.EXIT_SLOT
    assert "ECOM_SLOT_LAG_WARN_BYTES=1000" in finding.message
    assert finding.fix[0] == rules.restart_cmd(URL, "ecommerce-source")


def test_unreserved_slot_is_about_to_be_lost() -> None:
    (finding,) = _critical(_snap(slot=SlotSample(True, True, "unreserved", 1, 2, -5, 5000)))
    assert finding.code == model.EXIT_SLOT and "about to be lost" in finding.message


def test_lag_over_the_maximum_exits_8() -> None:
    ok = _snap(lag=GroupLag("ecom-stream", "STABLE", 1, _parts(500, 500), 2.0))
    assert _critical(ok) == []
    over = _snap(lag=GroupLag("ecom-stream", "STABLE", 1, _parts(501, 501), 2.0))
    (finding,) = _critical(over)
    assert finding.code == model.EXIT_CONSUMER_LAG and "ECOM_STATUS_MAX_LAG=500" in finding.message
    # one worker, one partition per topic: more workers would not help
    assert finding.fix[0].startswith("ecom stream start --workers 1 ")


def test_lag_with_nobody_consuming_exits_8() -> None:
    snap = _snap(lag=GroupLag("ecom-stream", "EMPTY", 0, _parts(5, 5, moved=False), 2.0))
    (finding,) = _critical(snap)
    assert finding.code == model.EXIT_CONSUMER_LAG and "no member" in finding.message
    assert finding.fix == ("ecom stream start",)


def test_growing_lag_is_critical_only_when_nothing_is_committed() -> None:
    stuck = _snap(lag=GroupLag("ecom-stream", "STABLE", 1, _parts(40, 20, moved=False), 2.0))
    (finding,) = _critical(stuck)
    assert finding.code == model.EXIT_CONSUMER_LAG and "from 20 to 40" in finding.message
    busy = _snap(lag=GroupLag("ecom-stream", "STABLE", 1, _parts(40, 20, moved=True), 2.0))
    findings = rules.evaluate(busy, CFG)
    assert model.exit_code(findings) == 0
    assert [f.severity for f in findings] == [model.WARNING]
    shrinking = _snap(lag=GroupLag("ecom-stream", "STABLE", 1, _parts(20, 40, moved=False), 2.0))
    assert rules.evaluate(shrinking, CFG) == []


def test_a_started_worker_down_exits_16() -> None:
    workers = [
        WorkerState(0, 11, True, "http://h:6066/metrics", "l0"),
        WorkerState(1, None, False, "http://h:6067/metrics", "/x/stream-1.log"),
    ]
    (finding,) = _critical(_snap(workers=workers))
    assert finding.code == model.EXIT_WORKER
    assert "stream worker 1" in finding.message and "/x/stream-1.log" in finding.message
    assert finding.fix == ("ecom stream start --workers 2",)


def test_no_worker_here_is_a_warning_unless_the_group_has_members() -> None:
    alone = rules.evaluate(
        _snap(workers=[], lag=GroupLag("ecom-stream", "EMPTY", 0, _parts(0, 0), 2.0)), CFG
    )
    assert model.exit_code(alone) == 0
    assert [f.component for f in alone] == ["stream worker"]
    elsewhere = _snap(workers=[])  # the group has a member: workers run on another host
    assert rules.evaluate(elsewhere, CFG) == []


def test_gold_problems_are_warnings() -> None:
    failed = GoldBuild(8, "failed", "2026-11-28", NOW, NOW, None, None, "gold", "boom")
    good = GoldBuild(
        6,
        "succeeded",
        "2026-11-26",
        NOW - timedelta(days=2),
        NOW - timedelta(hours=30),
        NOW - timedelta(hours=31),
        None,
        "done",
    )
    findings = rules.evaluate(_snap(gold=GoldInfo(None, failed, good)), CFG)
    assert model.exit_code(findings) == 0
    messages = " | ".join(f.message for f in findings)
    assert "#8 failed during gold: boom" in messages
    assert "#6 finished 30h ago" in messages
    none = rules.evaluate(_snap(gold=GoldInfo()), CFG)
    assert [f.message for f in none] == ["no gold build yet"]


def test_exit_bits_add_up() -> None:
    snap = _snap(
        connectors=[ConnectorState("ecommerce-source", "FAILED", [])],
        slot=SlotSample(True, True, "lost", None, None, None, None),
        lag=GroupLag("ecom-stream", "EMPTY", 0, _parts(5, 5, moved=False), 2.0),
        workers=[WorkerState(0, None, False, "w", "l")],
    )
    assert model.exit_code(rules.evaluate(snap, CFG)) == 2 | 4 | 8 | 16 == 30


def test_caught_up_needs_the_wal_confirmed_and_no_lag() -> None:
    assert model.caught_up(_snap())
    assert not model.caught_up(_snap(wal_at_start=5001))
    assert not model.caught_up(_snap(lag=GroupLag("g", "STABLE", 1, _parts(1, 1), 2.0)))
    assert model.caught_up(_snap(wal_at_start=5001, waited_caught_up=True))


def test_freshness_is_now_minus_the_newest_commit_per_layer() -> None:
    fresh = model.freshness(_snap())
    assert set(fresh) == set(SOURCE_TABLES)
    assert fresh["orders"] == {"bronze": 8.0, "silver": 9.0, "gold": 3 * 3600.0}
    empty = model.freshness(_snap(lake=[], gold=GoldInfo()))
    assert empty["orders"] == {"bronze": None, "silver": None, "gold": None}


def test_json_document_has_every_section() -> None:
    snap = _snap(workers=[WorkerState(0, None, False, "w", "l")])
    doc = report.report_dict(snap, rules.evaluate(snap, CFG))
    doc = json.loads(json.dumps(doc))  # serialisable as is
    assert doc["healthy"] is False and doc["exit_code"] == model.EXIT_WORKER
    for key in (
        "connectors",
        "slot",
        "consumer_lag",
        "lake",
        "gold",
        "dlq",
        "freshness_seconds",
        "workers",
        "findings",
        "caught_up",
        "schema_registry",
    ):
        assert key in doc
    assert doc["schema_registry"]["subjects"][0] == {
        "subject": f"silver.{SOURCE_TABLES[0]}-value", "topic": f"silver.{SOURCE_TABLES[0]}",
        "version": 1, "schema_id": 1, "compatibility": "BACKWARD",
    }  # fmt: skip
    assert doc["slot"]["lag_bytes"] == 100 and doc["slot"]["first_sample"]["lag_bytes"] == 90
    assert doc["consumer_lag"]["partitions"][0]["lag"] == 0
    assert (
        doc["lake"]["bronze"]["orders"]["max_commit_ts"] == (NOW - timedelta(seconds=8)).isoformat()
    )
    assert doc["gold"]["last_succeeded_build"]["build_id"] == 7
    assert {"stage": "decode", "reason": "not_json", "count": 2} in doc["dlq"]["by_reason"]
    assert doc["findings"][0]["fix"] == ["ecom stream start --workers 1"]


def test_readable_report() -> None:
    paused = ConnectorState("ecommerce-source", "PAUSED", [{"id": "0", "state": "PAUSED"}])
    snap = _snap(connectors=[paused], slot=SlotSample(True, False, "reserved", 1, 2, 4 << 30, 5000))
    text = report.format_report(snap, rules.evaluate(snap, CFG), CFG)
    assert "UNHEALTHY (exit 6: connector, replication slot)" in text.splitlines()[0]
    assert "ecommerce-source  PAUSED" in text
    assert "caught up: no" in text
    assert f"fix: curl -s -X PUT '{URL}/connectors/ecommerce-source/resume'" in text
    assert "decode  not_json" in text
    healthy = report.format_report(_snap(), [], CFG)
    assert "HEALTHY (exit 0)" in healthy and "problems" not in healthy
    assert "caught up: yes" in healthy
    unproven = report.format_report(_snap(wal_at_start=5001), [], CFG)
    assert "caught up: not proven" in unproven


def test_a_registry_that_does_not_answer_is_critical_with_its_fix() -> None:
    down = RegistryInfo(REGISTRY_URL, False, problem="schema registry at x did not answer")
    snap = _snap(registry=down)
    findings = rules.evaluate(snap, CFG)
    (f,) = findings
    assert (f.component, f.severity, f.code) == ("schema registry", model.CRITICAL, 32)
    assert f.fix[0] == "ecom stack up registry"
    assert model.exit_code(findings) == model.EXIT_REGISTRY
    text = report.format_report(snap, findings, CFG)
    assert "UNHEALTHY (exit 32: schema registry)" in text.splitlines()[0]
    assert f"schema registry {REGISTRY_URL}: DOWN" in text


def test_a_subject_without_backward_compatibility_is_a_warning() -> None:
    subjects = list(REGISTRY.subjects)
    subjects[1] = replace(subjects[1], compatibility="NONE")
    subjects[2] = replace(subjects[2], version=None, schema_id=None, compatibility=None)  # unused
    snap = _snap(registry=replace(REGISTRY, subjects=tuple(subjects)))
    (f,) = rules.evaluate(snap, CFG)
    assert f.severity == model.WARNING and subjects[1].subject in f.message
    assert "'BACKWARD'" not in f.fix[0] and '"BACKWARD"' in f.fix[0]
    assert f.fix[0].endswith(f"'{REGISTRY_URL}/config/{subjects[1].subject}'")
    text = report.format_report(snap, [f], CFG)
    assert f"schema registry {REGISTRY_URL}: up (3.3.3)" in text
    assert f"{subjects[1].subject}" in text and "NONE" in text


def test_refused_schemas_in_the_dlq_point_to_the_runbook() -> None:
    dlq = DlqCounts("ecom.dlq", True, 4, {("silver", "schema_incompatible"): 4})
    (f,) = rules.evaluate(_snap(dlq=dlq), CFG)
    assert f.severity == model.WARNING and "4 silver record(s) not published" in f.message
    assert any("ecom replay" in step for step in f.fix)


def test_human_sizes_and_ages() -> None:
    assert model.human_bytes(None) == "-"
    assert model.human_bytes(512) == "512 B"
    assert model.human_bytes(3 << 30) == "3.0 GiB"
    assert report.human_age(59.9) == "59s"
    assert report.human_age(3 * 3600 + 120) == "3h02m"
    assert report.human_age(None) == "-"


def test_thresholds_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert model.load() == HealthSettings()
    monkeypatch.setenv("ECOM_SLOT_LAG_WARN_BYTES", "2048")
    monkeypatch.setenv("ECOM_STATUS_SAMPLE_SECONDS", "0")
    cfg = model.load()
    assert cfg.slot_lag_warn_bytes == 2048 and cfg.sample_seconds == 0
    monkeypatch.setenv("ECOM_STATUS_MAX_LAG", "lots")
    with pytest.raises(ConfigError, match="ECOM_STATUS_MAX_LAG"):
        model.load()


def test_dlq_reason_reads_what_the_stream_writes() -> None:
    record = stream_rules.dlq_record("decode", "not_json", Coordinates("t", 1, 2, 3), b"k", b"v", "orders")
    assert dlq_reason(record) == ("decode", "not_json")
    assert dlq_reason(b"\xff garbage") == ("?", "unreadable")
    assert dlq_reason(b"[1]") == ("?", "unreadable")
    assert dlq_reason(None) == ("?", "unreadable")


def test_lake_table_counts_offsets_not_landed_per_partition() -> None:
    t = LakeTable("bronze", "orders", landed_topic="ecom.public.orders", landed={0: 99, 1: 40})
    lag = GroupLag(
        "ecom-stream",
        "STABLE",
        1,
        (
            PartitionLag("ecom.public.orders", 0, 100, 100),  # offsets 0..99: all landed
            PartitionLag("ecom.public.orders", 1, 50, 41),  # 41..49 not landed: 9
            PartitionLag("ecom.public.orders", 2, 7, -1),  # nothing landed: 7
            PartitionLag("ecom.public.customers", 0, 500, 0),  # another topic
        ),
    )
    assert t.behind(lag, "ecom.public.orders") == 16
    assert t.behind(lag, "ecom.public.products") is None


def test_partition_lag_never_negative_and_counts_uncommitted() -> None:
    assert PartitionLag("t", 0, 10, -1001).lag == 10  # never committed: everything is behind
    assert PartitionLag("t", 0, 10, 12).lag == 0
    assert replace(PartitionLag("t", 0, 10, 4), prev_end=8, prev_committed=4).prev_lag == 4


def test_a_connector_that_lost_its_position_is_fixed_by_the_runbook_not_a_restart() -> None:
    trace = "io.debezium.DebeziumException: ... but this is no longer available on the server."
    failed = ConnectorState("ecommerce-source", "RUNNING", [{"id": "0", "state": "FAILED"}], trace)
    gone = rules.evaluate(_snap(connectors=[failed], slot=SlotSample(False)), CFG)
    assert model.exit_code(gone) == model.EXIT_CONNECTOR | model.EXIT_SLOT
    runbook = rules.resnapshot_fix(URL, "ecommerce-source", "ecom_cdc_slot")
    assert [f.fix for f in gone] == [runbook, runbook]
    assert "SELECT pg_drop_replication_slot('ecom_cdc_slot');" in " ".join(runbook)
    stopped = ConnectorState("ecommerce-source", "STOPPED", [])
    lost = _snap(connectors=[stopped], slot=SlotSample(True, False, "lost", None, None, None, 1))
    assert {f.fix for f in rules.evaluate(lost, CFG)} == {runbook}


def test_unknown_table_topics_are_named_like_table_topics_of_other_tables() -> None:
    topics = [
        "ecom.public.orders",
        "ecom.public.wishlists",
        "ecom.sales.orders",  # another schema, a contract table: not unknown
        "ecom.transaction",
        "__debezium-heartbeat.ecom",
        "silver.wishlists",
        "other.public.wishlists",
        "ecom.public.x.y",
    ]
    assert model.unknown_table_topics(topics, "ecom") == ["ecom.public.wishlists"]


def test_unknown_table_topic_is_a_warning_with_its_count() -> None:
    snap = _snap(unknown_table_topics={"ecom.public.wishlists": 3})
    findings = rules.evaluate(snap, CFG)
    (f,) = [f for f in findings if f.component == "topics"]
    assert f.severity == model.WARNING and "3 message(s)" in f.message and f.fix
    assert model.exit_code(findings) == 0
    doc = report.report_dict(snap, findings)
    assert doc["unknown_table_topics"] == {"ecom.public.wishlists": 3}


def test_readable_report_lists_each_lake_table_and_the_partitions_behind() -> None:
    base = _snap()
    # the snapshot's lag: ecom.public.orders[0] ends at offset 1000 (last offset 999)
    caught = _snap(lake=[replace(t, landed={0: 999}) for t in base.lake])
    text = report.format_report(caught, [], CFG)
    assert "LAYER" in text and "LAST COMMIT (UTC)" in text and "BEHIND" in text
    (orders,) = [line for line in text.splitlines() if line.startswith("bronze  orders ")]
    assert orders.split()[2] == "12" and orders.split()[-1] == "0"  # version, nothing behind
    assert "partitions behind" not in text
    lagging = _snap(lake=[replace(t, landed={0: 40}) for t in base.lake])
    text = report.format_report(lagging, [], CFG)
    assert "bronze orders[0] 40/999" in text and "silver orders[0] 40/999" in text
