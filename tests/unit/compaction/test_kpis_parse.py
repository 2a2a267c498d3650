"""compaction/sql/kpis.sql parses into >= 20 named, described, read-only queries over gold;
the parser rejects malformed files; `ecom kpi --list` works headless."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from common.errors import EcomError
from compaction import kpis

GOLD_TABLES = {
    "dim_customers",
    "dim_products",
    "fact_daily_sales",
    "fact_customer_orders",
    "agg_campaign_performance",
    "agg_inventory_status",
    "dim_customers_history",
    "gold_build_log",
}

# KPIs `ecom kpi` must offer (the old batch pipeline's reports among them).
REQUIRED = {
    "daily_revenue",
    "monthly_revenue",
    "average_order_value",
    "order_conversion",
    "customer_lifetime_value_distribution",
    "top_customers_by_lifetime_value",
    "monthly_retention",
    "repeat_purchase_rate",
    "segment_performance",
    "loyalty_tier_performance",
    "top_products_by_revenue",
    "top_categories",
    "inventory_turnover",
    "stockout_frequency",
    "days_of_cover_distribution",
    "campaign_roi",
    "channel_effectiveness",
    "cost_per_acquisition",
    "cancellation_rate",
    "new_vs_returning_customers",
    "basket_size",
    "revenue_by_weekday",
    "loyalty_tier_changes_per_month",
}


@pytest.fixture(scope="module")
def all_kpis() -> list[kpis.Kpi]:
    return kpis.load()


def test_file_parses_into_at_least_20_unique_named_queries(all_kpis: list[kpis.Kpi]) -> None:
    names = [k.name for k in all_kpis]
    assert len(names) >= 20
    assert len(set(names)) == len(names)
    assert set(names) >= REQUIRED, sorted(REQUIRED - set(names))
    for k in all_kpis:
        assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", k.name), k.name


def test_every_query_has_a_one_line_description(all_kpis: list[kpis.Kpi]) -> None:
    for k in all_kpis:
        assert k.description.strip(), k.name
        assert "\n" not in k.description
        assert len(k.description) >= 20, (k.name, k.description)


def test_every_query_is_one_read_only_select_over_gold_tables(all_kpis: list[kpis.Kpi]) -> None:
    for k in all_kpis:
        body = kpis._strip_comments(k.sql)
        assert re.match(r"(?is)^\s*(WITH|SELECT)\b", body), k.name
        assert ";" not in body, k.name
        assert not re.search(
            r"(?i)\b(INSERT|UPDATE|DELETE|TRUNCATE|DROP|ALTER|CREATE|GRANT)\b", body
        ), k.name
        ctes = set(re.findall(r"(?i)(?:WITH|,)\s*([a-z_][a-z0-9_]*)\s+AS\s*\(", body))
        scan = re.sub(r"(?i)\bDISTINCT\s+FROM\b|\bextract\s*\(\s*\w+\s+FROM\b", " ", body)
        tables = set(re.findall(r"(?i)\b(?:FROM|JOIN)\s+([a-z_][a-z0-9_.]*)", scan))
        tables -= ctes
        assert tables, k.name
        assert tables <= GOLD_TABLES, (k.name, tables - GOLD_TABLES)


def test_money_is_never_cast_to_float(all_kpis: list[kpis.Kpi]) -> None:
    for k in all_kpis:
        assert not re.search(r"(?i)::\s*(float|real|double)|\bdouble precision\b", k.sql), k.name
        assert "percentile_cont" not in k.sql, k.name  # returns double precision


def test_the_file_is_read_from_the_package_and_from_a_path(all_kpis: list[kpis.Kpi]) -> None:
    assert [k.name for k in kpis.load(kpis.SQL_FILE)] == [k.name for k in all_kpis]


# ---------------------------------------------------------------- the parser
def _parse(text: str) -> list[kpis.Kpi]:
    return kpis.parse(text, source="t.sql")


def test_parser_keeps_sql_and_drops_the_semicolon() -> None:
    got = _parse(
        "-- header comment\n\n"
        "-- name: one\n-- description: The first one\nSELECT 1;\n\n"
        "-- name: two\n-- description: The second one\n-- an inner comment\n"
        "WITH x AS (SELECT 2 AS v)\nSELECT v FROM x;\n"
    )
    assert [(k.name, k.description) for k in got] == [
        ("one", "The first one"),
        ("two", "The second one"),
    ]
    assert got[0].sql == "SELECT 1"
    assert got[1].sql.startswith("-- an inner comment\nWITH x")
    assert got[1].sql.endswith("SELECT v FROM x")
    assert got[1].line == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-- name: a\nSELECT 1;\n", "no `-- description:` line"),
        ("-- name: a\n-- description: only words\n", "has no SQL"),
        ("-- name: a\n-- description: x is one\nSELECT 1;\n-- name: a\n-- description: y\nSELECT 2",
         "used twice"),
        ("SELECT 0;\n-- name: a\n-- description: d is one\nSELECT 1", "before the first"),
        ("-- name: NotSnake\n-- description: d\nSELECT 1", "not snake_case"),
        ("-- name: a\n-- description: d is one\nSELECT 1; SELECT 2;", "more than one statement"),
    ],
)  # fmt: skip
def test_parser_rejects_malformed_files(text: str, message: str) -> None:
    with pytest.raises(kpis.KpiFileError, match=re.escape(message)) as err:
        _parse(text)
    assert str(err.value).startswith("t.sql:")


def test_unknown_name_is_one_line_listing_the_names(all_kpis: list[kpis.Kpi]) -> None:
    with pytest.raises(EcomError) as err:
        kpis.get("no_such_kpi")
    text = str(err.value)
    assert "\n" not in text
    assert "unknown KPI 'no_such_kpi'" in text
    for k in all_kpis:
        assert k.name in text


# ---------------------------------------------------------------- the CLI, headless
def _ecom(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECOM_GOLD_SCHEDULE")}
    return subprocess.run(
        [sys.executable, "-m", "ecom.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=Path(__file__).resolve().parents[3],
    )


def test_cli_kpi_list_needs_no_database(all_kpis: list[kpis.Kpi]) -> None:
    res = _ecom("kpi", "--list")
    assert res.returncode == 0, res.stderr
    listed = [line.split()[0] for line in res.stdout.splitlines() if line.strip()]
    assert listed == [k.name for k in all_kpis]
    res = _ecom("kpi", "--list", "--json")
    assert res.returncode == 0, res.stderr
    assert [d["name"] for d in json.loads(res.stdout)] == listed


def test_cli_unknown_kpi_is_one_line_error_before_any_connection() -> None:
    res = _ecom("kpi", "no_such_kpi")
    assert res.returncode == 1
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: unknown KPI 'no_such_kpi'; known: daily_revenue,")
