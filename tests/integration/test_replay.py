"""`ecom replay` against the real stack: refuse while workers run, dry run, reset + catch-up."""

from __future__ import annotations

import json

import pytest

from ecom import replay
from ecom import status as pipeline_status
from stream_apps import workers
from stream_apps.configuration import StreamSettings
from tests.integration import stream_helpers as h
from tests.integration.conftest import run_cli

TABLE = "marketing_campaigns"  # the smallest table: a quick replay


def committed(s: StreamSettings) -> dict[tuple[str, int], int]:
    topics = [s.base.cdc_topic(TABLE), s.silver_topic(TABLE)]
    return {(x.topic, x.partition): x.committed for x in pipeline_status.consumer_lags(s, topics)}


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
    pipeline_status.wait_caught_up(stream, 240)
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
