"""What the CLI prints for the stages' results (ecom/display.py)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from compaction.gold import ABANDONED_ERROR
from compaction.kpis import Kpi
from compaction.verify import VerifyReport
from connectors.manage import ConnectorState
from ecom import display
from stack.services import ComponentStatus
from stream_apps.workers import WorkerState


def test_stack_status_is_one_aligned_line_per_component() -> None:
    rows = [
        ComponentStatus("postgres", True, 10, "16.4", "127.0.0.1:5432", "accepting"),
        ComponentStatus("kafka", False, None, "", "127.0.0.1:9092", "not running"),
    ]
    lines = display.stack_status(rows).splitlines()
    assert lines[0].split() == ["component", "state", "version", "endpoint", "detail"]
    assert lines[1].split() == ["postgres", "up", "16.4", "127.0.0.1:5432", "accepting"]
    assert lines[2].split() == ["kafka", "DOWN", "-", "127.0.0.1:9092", "not", "running"]
    assert len({line.index("127.0.0.1") for line in lines[1:]}) == 1


def test_connector_status_shows_tasks_and_the_trace() -> None:
    ok = ConnectorState("a", "RUNNING", [{"id": "0", "state": "RUNNING"}])
    failed = ConnectorState("b", "FAILED", [], trace="boom\nat x")
    assert display.connector_status([ok, failed]).splitlines() == [
        "a: RUNNING (task 0 RUNNING)",
        "b: FAILED (no tasks)",
        "  trace:",
        "    boom",
        "    at x",
    ]


def test_verify_report_names_counts_builds_and_mismatches() -> None:
    report = VerifyReport(
        row_counts={"dim_customers": 1234, "dim_products": None},
        last_build=None,
        checks=3,
        mismatches=[f"day {i}: differs" for i in range(22)],
        abandoned=[{"build_id": 9, "started_at": "t0", "pid": 42, "host": "h", "step": "swap"}],
    )
    lines = display.verify_report(report).splitlines()
    assert lines[1].split() == ["dim_customers", "1,234"]
    assert lines[2].split() == ["dim_products", "missing"]
    assert "no successful build in gold_build_log" in lines
    assert any(ABANDONED_ERROR in line and "#9" in line for line in lines)
    assert "reconciliation with the source: 3 checks, 22 MISMATCH(ES)" in lines
    assert lines[-1] == "  ... and 2 more" and lines[-2] == "  day 19: differs"


def test_table_is_aligned_with_numbers_right_and_exact_decimals() -> None:
    text = display.kpi_table(
        ["day", "orders", "revenue", "note"],
        [
            (dt.date(2026, 1, 5), 1, Decimal("100.00"), None),
            (dt.date(2026, 2, 10), 12, Decimal("1250.74"), "busy"),
        ],
    )
    lines = text.splitlines()
    assert lines[0].split() == ["day", "orders", "revenue", "note"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2] == "2026-01-05       1   100.00  NULL"
    assert lines[3] == "2026-02-10      12  1250.74  busy"
    assert lines[-1] == "(2 rows)"


def test_table_limit_says_how_many_rows_were_cut() -> None:
    rows = [(i,) for i in range(30)]
    text = display.kpi_table(["n"], rows, limit=5)
    assert text.splitlines()[-1] == "(5 of 30 rows; --limit 0 shows all)"
    assert len(display.kpi_table(["n"], rows, limit=0).splitlines()) == 2 + 30 + 1
    assert display.kpi_table(["n"], []).endswith("(no rows)")


def test_json_keeps_decimals_exact() -> None:
    kpi = Kpi("k", "a description", "SELECT 1", 1)
    doc = display.kpi_json(kpi, ["d", "x"], [(dt.date(2026, 1, 5), Decimal("0.10"))], limit=None)
    assert doc["rows"] == [{"d": "2026-01-05", "x": "0.10"}]
    assert json.loads(display.json_text(doc))["row_count"] == 1


def test_worker_status_says_how_to_start_when_there_are_none() -> None:
    assert "ecom stream start" in display.worker_status([])
    up = WorkerState(0, 123, True, "http://127.0.0.1:6066", "/x/stream-0.log")
    down = WorkerState(1, None, False, "http://127.0.0.1:6067", "/x/stream-1.log")
    assert display.worker_status([up, down]).splitlines() == [
        "worker 0: up pid=123 http://127.0.0.1:6066",
        "worker 1: DOWN pid=None http://127.0.0.1:6067",
    ]
