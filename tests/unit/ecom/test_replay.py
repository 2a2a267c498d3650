"""Pure logic of `ecom replay`: input parsing and plan computation on given offsets."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from common.settings import load
from ecom import replay
from ecom.replay import ReplayError, Target, TopicRef
from schemas import SOURCE_TABLES
from stream_apps import configuration


def test_parse_offsets() -> None:
    assert replay.parse_offsets(["0:10", "2:0"]) == {0: 10, 2: 0}


@pytest.mark.parametrize("bad", [["x"], ["0:"], [":1"], ["-1:3"], ["0:-3"], ["0:1", "0:2"], []])
def test_parse_offsets_rejects(bad: list[str]) -> None:
    with pytest.raises(ReplayError):
        replay.parse_offsets(bad)


def test_datetime_needs_timezone() -> None:
    assert replay.parse_datetime("2026-11-28T07:00:00Z") == datetime(2026, 11, 28, 7, tzinfo=UTC)
    assert replay.parse_datetime("2026-11-28T08:00:00+01:00").astimezone(UTC).hour == 7
    with pytest.raises(ReplayError, match="no timezone"):
        replay.parse_datetime("2026-11-28T07:00:00")
    with pytest.raises(ReplayError, match="bad --to-datetime"):
        replay.parse_datetime("yesterday")


def test_make_target() -> None:
    assert replay.make_target(to_earliest=True).mode == "earliest"
    t = replay.make_target(to_datetime="1970-01-01T00:00:01Z")
    assert (t.mode, t.timestamp_ms) == ("datetime", 1000)
    assert replay.make_target(to_offset=["1:5"]).offsets == {1: 5}
    with pytest.raises(ReplayError):
        replay.make_target()
    with pytest.raises(ReplayError):
        replay.make_target(to_earliest=True, to_offset=["0:1"])


def test_validate_tables() -> None:
    assert replay.validate_tables(None) == SOURCE_TABLES
    assert replay.validate_tables(["orders", "orders"]) == ("orders",)
    with pytest.raises(ReplayError, match="unknown table 'nope'"):
        replay.validate_tables(["nope"])


def test_topics_for_are_the_cdc_topics_only() -> None:
    """Both lake layers are landed from the CDC topics: nothing re-reads silver topics."""
    s = configuration.load()
    for group in ("ecom-stream", "other"):
        refs = replay.topics_for(group, ["orders", "customers"], s)
        assert [(r.layer, r.topic) for r in refs] == [
            ("cdc", s.base.cdc_topic("orders")),
            ("cdc", s.base.cdc_topic("customers")),
        ]


REFS = [TopicRef("orders", "bronze", "cdc.orders"), TopicRef("orders", "silver", "silver.orders")]
PARTS = {"cdc.orders": [0, 1], "silver.orders": [0, 1]}
EARLIEST = {
    ("cdc.orders", 0): 0,
    ("cdc.orders", 1): 5,
    ("silver.orders", 0): 0,
    ("silver.orders", 1): 0,
}
END = {
    ("cdc.orders", 0): 100,
    ("cdc.orders", 1): 50,
    ("silver.orders", 0): 80,
    ("silver.orders", 1): 60,
}
COMMITTED = {
    ("cdc.orders", 0): 90,
    ("cdc.orders", 1): 50,
    ("silver.orders", 0): 80,
    ("silver.orders", 1): -1001,
}


def plan(target: Target, by_time: dict[tuple[str, int], int] | None = None) -> replay.ReplayPlan:
    return replay.build_plan(
        "ecom-stream",
        ("orders",),
        REFS,
        target,
        PARTS,
        EARLIEST,
        END,
        COMMITTED,
        by_time,
    )


def test_plan_earliest() -> None:
    p = plan(Target("earliest"))
    rows = {(x.topic, x.partition): (x.current, x.new, x.reprocess) for x in p.partitions}
    assert rows == {
        ("cdc.orders", 0): (90, 0, 90),
        ("cdc.orders", 1): (50, 5, 45),
        ("silver.orders", 0): (80, 0, 80),
        ("silver.orders", 1): (-1, 0, 60),  # nothing committed: up to the end
    }
    assert p.total_reprocess == 275
    text = replay.format_plan(p)
    assert "adds no row and no file" in text and "ALL dates" in text


def test_plan_datetime_past_end_goes_to_latest() -> None:
    by_time = {
        ("cdc.orders", 0): 40,
        ("cdc.orders", 1): -1,
        ("silver.orders", 0): 30,
        ("silver.orders", 1): -1,
    }
    p = plan(Target("datetime", timestamp_ms=1), by_time)
    new = {(x.topic, x.partition): x.new for x in p.partitions}
    assert new[("cdc.orders", 0)] == 40 and new[("cdc.orders", 1)] == 50
    assert new[("silver.orders", 1)] == 60


def test_plan_offsets_only_named_partitions() -> None:
    p = plan(Target("offset", offsets={0: 10}))
    assert [(x.topic, x.partition, x.new) for x in p.partitions] == [
        ("cdc.orders", 0, 10),
        ("silver.orders", 0, 10),
    ]


def test_plan_offset_out_of_range() -> None:
    with pytest.raises(ReplayError, match=r"offset 90 out of range for silver.orders\[0\]"):
        plan(Target("offset", offsets={0: 90}))
    with pytest.raises(ReplayError, match=r"offset 1 out of range for cdc.orders\[1\]"):
        plan(Target("offset", offsets={1: 1}))  # below earliest (5)


def test_plan_partition_out_of_range() -> None:
    with pytest.raises(ReplayError, match="partition 7 out of range"):
        plan(Target("offset", offsets={7: 0}))


def test_audit_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = load().model_copy(update={"home": tmp_path})
    p = plan(Target("earliest"))
    path = replay.write_audit(settings, p)
    replay.write_audit(settings, p)
    lines = path.read_text().splitlines()
    assert path == tmp_path / "logs" / "replay-audit.jsonl" and len(lines) == 2
    rec = json.loads(lines[0])
    assert rec["group"] == "ecom-stream" and rec["mode"] == "earliest" and rec["dry_run"] is True
    assert rec["who"] and rec["when"].endswith("+00:00")
    assert {"topic": "cdc.orders", "partition": 0, "old": 90, "new": 0} in rec["partitions"]


def test_refuses_members_and_local_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    s = configuration.load()
    monkeypatch.setattr(replay, "local_workers", lambda _s: [])
    with pytest.raises(ReplayError, match=r"1 active member\(s\): faust-1@10.0.0.1"):
        replay._refuse_running(s, s.app_id, replay.GroupInfo("STABLE", ["faust-1@10.0.0.1"]))
    replay._refuse_running(s, s.app_id, replay.GroupInfo("EMPTY", []))
    monkeypatch.setattr(replay, "local_workers", lambda _s: ["worker 0 (pid 42)"])
    with pytest.raises(ReplayError, match=r"running: worker 0 \(pid 42\)"):
        replay._refuse_running(s, s.app_id, replay.GroupInfo("EMPTY", []))
    replay._refuse_running(s, "some-other-group", replay.GroupInfo("EMPTY", []))
