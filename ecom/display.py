"""What the CLI prints for the stages' results: text for people, JSON for scripts.

The stages return data (:class:`stack.services.ComponentStatus`,
:class:`connectors.manage.ConnectorState`, KPI rows, :class:`compaction.verify.VerifyReport`);
this module alone decides how it looks.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the types only: `ecom --help` should not load the stages
    from compaction.kpis import Kpi, Row
    from compaction.verify import VerifyReport
    from connectors.manage import ConnectorState
    from stack.services import ComponentStatus
    from stream_apps.workers import WorkerState

#: Rows `ecom kpi` shows per KPI as a table unless --limit says otherwise.
KPI_TABLE_LIMIT = 25


# ---------------------------------------------------------------- stack, connectors, workers
def stack_status(rows: Sequence[ComponentStatus]) -> str:
    header = f"{'component':<10} {'state':<6} {'version':<14} {'endpoint':<18} detail"
    body = [
        f"{r.name:<10} {'up' if r.up else 'DOWN':<6} {r.version or '-':<14} {r.endpoint:<18} {r.detail}"
        for r in rows
    ]
    return "\n".join([header, *body])


def connector_status(states: Sequence[ConnectorState]) -> str:
    """Each connector and its tasks, with the first 40 lines of a failure's trace."""
    lines = []
    for s in states:
        tasks = ", ".join(f"task {t['id']} {t['state']}" for t in s.tasks) or "no tasks"
        lines.append(f"{s.name}: {s.state} ({tasks})")
        if s.trace:
            lines.append("  trace:")
            lines.extend("    " + line for line in s.trace.strip().splitlines()[:40])
    return "\n".join(lines)


def worker_status(states: Sequence[WorkerState]) -> str:
    if not states:
        return "no stream workers (start them with `ecom stream start`)"
    return "\n".join(
        f"worker {w.index}: {'up' if w.up else 'DOWN'} pid={w.pid} {w.web}" for w in states
    )


# ---------------------------------------------------------------- gold verify
def verify_report(report: VerifyReport) -> str:
    """Row counts, the last good build, abandoned builds and up to 20 mismatches."""
    from compaction.gold import ABANDONED_ERROR

    lines = [f"{'gold table':<28} {'rows':>12}"]
    for table, n in report.row_counts.items():
        lines.append(f"{table:<28} {'missing' if n is None else f'{n:,}':>12}")
    if report.last_build:
        b = report.last_build
        lines.append(
            f"last successful build #{b['build_id']} as of {b['as_of']}, finished "
            f"{b['finished_at']}, source up to {b['max_commit_ts']} (LSN {b['max_source_lsn']})"
        )
    else:
        lines.append("no successful build in gold_build_log")
    for b in report.abandoned:
        lines.append(
            f"build #{b['build_id']} (started {b['started_at']}, pid {b['pid']} on "
            f"{b['host']}) failed: {ABANDONED_ERROR}, during {b['step']}; "
            "the next `ecom gold rebuild` closes it"
        )
    verdict = "OK" if report.ok else f"{len(report.mismatches)} MISMATCH(ES)"
    lines.append(f"reconciliation with the source: {report.checks} checks, {verdict}")
    lines += [f"  {m}" for m in report.mismatches[:20]]
    if len(report.mismatches) > 20:
        lines.append(f"  ... and {len(report.mismatches) - 20} more")
    return "\n".join(lines)


# ---------------------------------------------------------------- KPIs
def kpi_cell(value: Any) -> str:
    """Exact text for a cell: decimals as PostgreSQL prints them, NULL as ``NULL``."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def kpi_table(columns: Sequence[str], rows: Sequence[Row], *, limit: int | None = None) -> str:
    """An aligned text table (numbers right-aligned); ``limit`` rows at most (0 = all)."""
    shown = rows if not limit else rows[:limit]
    cells = [[kpi_cell(v) for v in row] for row in shown]
    numeric = [
        any(_is_number(row[i]) for row in shown)
        and all(_is_number(row[i]) or row[i] is None for row in shown)
        for i in range(len(columns))
    ]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return "  ".join(parts).rstrip()

    out = [line(columns), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in cells)
    if not rows:
        out.append("(no rows)")
    elif len(shown) < len(rows):
        out.append(f"({len(shown)} of {len(rows)} rows; --limit 0 shows all)")
    else:
        out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)


def kpi_text(kpi: Kpi, columns: Sequence[str], rows: Sequence[Row], *, limit: int | None) -> str:
    """A titled table for people."""
    title = f"{kpi.name}: {kpi.description}"
    return f"{title}\n{'=' * min(len(title), 100)}\n{kpi_table(columns, rows, limit=limit)}"


def kpi_list(kpis: Sequence[Kpi]) -> str:
    width = max((len(k.name) for k in kpis), default=0)
    return "\n".join(f"{k.name:<{width}}  {k.description}" for k in kpis)


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact: never through float
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return value


def kpi_json(
    kpi: Kpi, columns: Sequence[str], rows: Sequence[Row], *, limit: int | None
) -> dict[str, Any]:
    """JSON-friendly form: decimals as exact strings, dates as ISO text."""
    shown = rows if not limit else rows[:limit]
    return {
        "name": kpi.name,
        "description": kpi.description,
        "columns": list(columns),
        "row_count": len(rows),
        "rows": [{c: _json_value(v) for c, v in zip(columns, r, strict=True)} for r in shown],
    }


def json_text(document: Any) -> str:
    return json.dumps(document, indent=2)
