"""``ecom gold verify``: row counts of every gold table, and reconciliation with the source.

Checks (the pipeline must have caught up and gold been rebuilt since):

* row counts: dim_customers = source customers, dim_products = source products,
  fact_customer_orders = source orders in O, agg_campaign_performance = valid campaigns;
* per day: number and revenue of the orders in V (fact_customer_orders vs the source);
* per day: units and item revenue over IV (fact_daily_sales vs the source).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg2

from common.settings import Settings
from compaction import gold, sqlfiles
from compaction.exceptions import GoldError

_SOURCE_COUNTS = {
    "dim_customers": "SELECT count(*) FROM public.customers",
    "dim_products": "SELECT count(*) FROM public.products",
    "fact_customer_orders": "SELECT count(*) FROM public.orders WHERE trim(order_status) IN "
    "('Pending', 'Processing', 'Shipped', 'Delivered', 'Cancelled')",
    "agg_campaign_performance": "SELECT count(*) FROM public.marketing_campaigns "
    "WHERE budget IS NULL OR budget >= 0",
}


@dataclass
class VerifyReport:
    row_counts: dict[str, int | None]
    last_build: dict[str, Any] | None
    checks: int = 0
    mismatches: list[str] = field(default_factory=list)
    #: builds logged 'running' whose process died (gold.abandoned_builds), as log rows
    abandoned: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def summary(self) -> str:
        more = f" (+{len(self.mismatches) - 1} more)" if len(self.mismatches) > 1 else ""
        return f"gold does not match the source: {self.mismatches[0]}{more}"


def _fetch(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def _per_day(rows: list[tuple[Any, ...]]) -> dict[date | None, tuple[Any, ...]]:
    return {r[0]: tuple(Decimal(v) if v is not None else Decimal(0) for v in r[1:]) for r in rows}


def _compare_days(
    what: str, names: tuple[str, ...], gold_rows: list[tuple[Any, ...]],
    source_rows: list[tuple[Any, ...]], out: list[str],
) -> int:  # fmt: skip
    g, s = _per_day(gold_rows), _per_day(source_rows)
    days = sorted(set(g) | set(s), key=lambda d: (d is None, d or date.min))
    zero = tuple(Decimal(0) for _ in names)
    for day in days:
        gv, sv = g.get(day, zero), s.get(day, zero)
        if gv != sv:
            diff = ", ".join(
                f"{n} gold {a} vs source {b}"
                for n, a, b in zip(names, gv, sv, strict=True)
                if a != b
            )
            out.append(f"{what} on {day}: {diff}")
    return len(days)


def verify(settings: Settings) -> VerifyReport:
    """Compare gold with the source; the report lists every mismatch (none when OK)."""
    gconn = gold.connect(settings, application="ecom gold verify")
    try:
        counts: dict[str, int | None] = {}
        for table in (*gold.GOLD_TABLES, "gold_build_log"):
            rows = _fetch(gconn, f"SELECT to_regclass('public.{table}') IS NOT NULL")
            counts[table] = (
                int(_fetch(gconn, f"SELECT count(*) FROM public.{table}")[0][0])
                if rows[0][0]
                else None
            )
        report = VerifyReport(counts, None)
        if counts["gold_build_log"] is not None:
            with gconn.cursor() as cur:
                cur.execute(
                    "SELECT build_id, as_of, finished_at, max_commit_ts, max_source_lsn "
                    "FROM public.gold_build_log WHERE status = 'succeeded' "
                    "ORDER BY build_id DESC LIMIT 1"
                )
                row = cur.fetchone()
                if row:
                    names = [d[0] for d in cur.description or ()]
                    report.last_build = dict(zip(names, row, strict=True))
                dead = gold.abandoned_builds(gconn)
                if dead:
                    cur.execute(
                        "SELECT build_id, started_at, step, host, pid FROM public.gold_build_log "
                        "WHERE build_id = ANY(%s) ORDER BY build_id",
                        (dead,),
                    )
                    names = [d[0] for d in cur.description or ()]
                    report.abandoned = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        missing = [t for t in gold.GOLD_TABLES if counts[t] is None]
        if missing:
            report.mismatches.append(
                f"gold tables missing: {', '.join(missing)} (run `ecom gold rebuild`)"
            )
            return report
        try:
            sconn = psycopg2.connect(settings.source_dsn, connect_timeout=10)
        except psycopg2.OperationalError as exc:
            raise GoldError(
                f"cannot connect to the source database {settings.source_db}: "
                f"{' '.join(str(exc).split())}",
                hint="is Postgres up? (`ecom stack status`)",
            ) from exc
        try:
            for table, sql in _SOURCE_COUNTS.items():
                report.checks += 1
                src = int(_fetch(sconn, sql)[0][0])
                if src != counts[table]:
                    report.mismatches.append(f"{table} has {counts[table]:,} rows, source {src:,}")
            report.checks += _compare_days(
                "orders (V)", ("orders", "revenue"),
                _fetch(gconn, sqlfiles.read("verify_gold.sql")),
                _fetch(sconn, sqlfiles.read("verify_source.sql")), report.mismatches,
            )  # fmt: skip
            report.checks += _compare_days(
                "items (IV)", ("units", "revenue"),
                _fetch(gconn, sqlfiles.read("verify_gold_items.sql")),
                _fetch(sconn, sqlfiles.read("verify_source_items.sql")), report.mismatches,
            )  # fmt: skip
        finally:
            sconn.close()
        return report
    finally:
        gconn.close()
