"""`ecom report`: one self-contained HTML page of charts over the gold tables.

The numbers come from the KPI queries of ``compaction/sql/kpis.sql`` (run read-only
by :mod:`compaction.kpis`), the freshness from ``gold_build_log`` and from the times of
the newest bronze and silver objects in MinIO. :mod:`ecom.report_render` turns them
into the page (inline CSS, SVG and script: it opens offline and fetches nothing).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from common import pg
from common.errors import TerminalError
from common.progress import SILENT, Reporter
from common.settings import Settings
from compaction import kpis
from compaction.gold import GOLD_TABLES
from ecom import report_render as r

log = logging.getLogger(__name__)

TOP_PRODUCTS = 15
#: KPI query per chart (compaction/sql/kpis.sql).
KPIS = {
    "daily": "daily_revenue",
    "categories": "top_categories",
    "products": "top_products_by_revenue",
    "channels": "channel_effectiveness",
    "inventory": "stock_status_distribution",
    "segments": "segment_performance",
}
REBUILD_HINT = "run `ecom gold rebuild` first"


class GoldNotBuilt(TerminalError):
    """The gold tables are missing or empty: there is nothing to report."""


def default_path(settings: Settings) -> Path:
    return settings.home / "reports" / "report.html"


# ---------------------------------------------------------------- gold
def _connect(settings: Settings) -> Any:
    conn = pg.connect(
        settings.gold_dsn, f"the gold database {settings.gold_db}",
        hint="start the stack with `ecom stack up`, or check ECOM_PG_* and ECOM_GOLD_DB",
        connect_timeout=5, options="-c timezone=UTC",
    )  # fmt: skip
    conn.set_session(readonly=True, autocommit=True)
    return conn


def check_gold(settings: Settings) -> dict[str, int]:
    """Row count of every gold table; GoldNotBuilt if one is missing or all are empty."""
    conn = _connect(settings)
    try:
        with conn.cursor() as cur:
            counts: dict[str, int] = {}
            for table in GOLD_TABLES:
                cur.execute("SELECT to_regclass(%s)", (f"public.{table}",))
                row = cur.fetchone()
                if row is None or row[0] is None:
                    raise GoldNotBuilt(
                        f"gold is missing in database {settings.gold_db}: no table public.{table}",
                        hint=REBUILD_HINT,
                    )
                cur.execute(f"SELECT count(*) FROM public.{table}")  # a fixed table name
                counted = cur.fetchone()
                counts[table] = int(counted[0]) if counted else 0
    finally:
        conn.close()
    if not any(counts.values()):
        raise GoldNotBuilt(
            f"gold is empty in database {settings.gold_db}: every gold table has 0 rows",
            hint=f"{REBUILD_HINT} (after the stream has landed data: `ecom status`)",
        )
    return counts


def last_build(settings: Settings) -> r.BuildInfo | None:
    """The newest successful build of ``gold_build_log``, None if there is none."""
    conn = _connect(settings)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('public.gold_build_log')")
            row = cur.fetchone()
            if row is None or row[0] is None:
                return None
            cur.execute(
                "SELECT build_id, as_of, finished_at, max_commit_ts, max_source_lsn::text, "
                "row_counts FROM public.gold_build_log WHERE status = 'succeeded' "
                "ORDER BY build_id DESC LIMIT 1"
            )
            found = cur.fetchone()
    finally:
        conn.close()
    if found is None:
        return None
    build_id, as_of, finished_at, max_commit_ts, lsn, counts = found
    return r.BuildInfo(
        build_id=int(build_id),
        as_of=as_of,
        finished_at=finished_at,
        max_commit_ts=max_commit_ts,
        max_source_lsn=lsn,
        row_counts={str(k): int(v) for k, v in (counts or {}).items()},
    )


def _dicts(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _dec(value: Any) -> Decimal:
    return Decimal(0) if value is None else Decimal(value)


def from_kpis(results: Mapping[str, list[dict[str, Any]]]) -> dict[str, list[Any]]:
    """The charts' rows from the KPI rows (keyed like :data:`KPIS`)."""
    daily = sorted(
        (r.DailyRevenue(x["sale_date"], _dec(x["revenue"]), int(x["orders"]))
         for x in results["daily"]),
        key=lambda d: d.day,
    )  # fmt: skip
    return {
        "daily": daily,
        "categories": [
            r.CategoryRevenue(str(x["category"]), _dec(x["revenue"]), int(x["units_sold"] or 0),
                              x["revenue_share"])
            for x in results["categories"]
        ],
        "products": [
            r.ProductRevenue(str(x["product_name"]), str(x["sku"]), _dec(x["revenue"]),
                             int(x["units_sold"] or 0))
            for x in results["products"][:TOP_PRODUCTS]
        ],
        "channels": [
            r.ChannelRoi(str(x["channel"]), int(x["campaigns"] or 0), x["budget"],
                         _dec(x["attributed_revenue"]), x["revenue_to_budget"])
            for x in results["channels"]
        ],
        "inventory": [
            r.StockStatus(str(x["stock_status"]), int(x["products"]), x["share"])
            for x in results["inventory"]
        ],
        "segments": [
            r.Segment(str(x["customer_segment"]), int(x["customers"]), int(x["buyers"]),
                      _dec(x["order_value"]), x["value_share"])
            for x in results["segments"]
        ],
    }  # fmt: skip


# ---------------------------------------------------------------- lake
def lake_freshness(settings: Settings) -> tuple[datetime | None, datetime | None, str]:
    """Newest object time in the bronze and silver buckets; a note instead if MinIO
    cannot be read (the report is about gold: it does not fail for that)."""
    from minio.error import S3Error
    from urllib3.exceptions import HTTPError

    from common.s3 import minio_client

    s3 = minio_client(settings, read_timeout=15.0, retries=1)
    newest: list[datetime | None] = []
    try:
        for bucket in (settings.bronze_bucket, settings.silver_bucket):
            times = [o.last_modified for o in s3.list_objects(bucket, recursive=True)]
            newest.append(max((t for t in times if t is not None), default=None))
    except (S3Error, HTTPError, OSError) as exc:
        log.warning("lake freshness unavailable: %s", exc)
        return None, None, f"bronze and silver times not available: MinIO could not be read ({exc})"
    return newest[0], newest[1], ""


# ---------------------------------------------------------------- report
def collect(settings: Settings, *, progress: Reporter = SILENT) -> r.ReportData:
    """Everything the page shows, read now."""
    counts = check_gold(settings)
    progress(f"gold has {sum(counts.values()):,} rows in {len(counts)} tables")
    results: dict[str, list[dict[str, Any]]] = {}
    by_name = {name: key for key, name in KPIS.items()}
    for kpi, columns, rows in kpis.run_many(settings.gold_dsn, list(KPIS.values())):
        results[by_name[kpi.name]] = _dicts(columns, rows)
    progress(f"ran {len(results)} KPI queries")
    bronze, silver, note = lake_freshness(settings)
    data = from_kpis(results)
    return r.ReportData(
        generated_at=datetime.now(UTC),
        freshness=r.Freshness(last_build(settings), bronze, silver, note),
        **data,
    )


def write_html(html: str, out: Path) -> Path:
    """Write atomically (a temporary file renamed into place); returns the absolute path."""
    out = out.expanduser().resolve()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.parent / f".{out.name}.{os.getpid()}.tmp"  # same folder: rename is atomic
        tmp.write_text(html, encoding="utf-8")
        os.replace(tmp, out)
    except OSError as exc:
        raise TerminalError(
            f"cannot write the report to {out}: {exc.strerror or exc}",
            hint="choose another path with --out",
        ) from exc
    return out


def write_report(
    settings: Settings, out: Path | None = None, *, progress: Reporter = SILENT
) -> Path:
    """Collect, render and write the report; returns where it is."""
    data = collect(settings, progress=progress)
    path = write_html(r.render(data), out or default_path(settings))
    progress(f"report written to {path}")
    return path
