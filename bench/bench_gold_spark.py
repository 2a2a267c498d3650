"""Benchmark of the Spark gold engine (``ecom gold rebuild --engine spark``), on the bench
stack, beside the DuckDB engine on the same lake.

At ``--scale S``: seed and the bench-only silver export (as bench_gold.py --input export
does), then, measured each in its own subprocess:

1. ``ecom gold rebuild --full`` (DuckDB), the same-run reference;
2. ``ecom gold rebuild --engine spark --master <--master>``, the whole build: Spark's
   start (a local master's JVM is a child of the measured process, so it is in the
   sampled tree peak, not in the process's own peak), reading silver over s3a, the gold
   queries and the JDBC writes, the swap;
3. ``ecom gold verify`` afterwards: it must exit 0.

Both engines' gold must be the same: the md5 of every gold table's content after each
build is compared. No target applies; the figures say when the Spark engine pays. Both
build as of today from the newest lake: the export was just written, so an as-of day in
the past (the seed's anchor) would read the lake as it was then, before the export.

Usage: python -m bench --only gold_spark@0.1
       python -m bench.bench_gold_spark --scale 0.1 [--master local[2]] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.bench_gold import (  # noqa: E402
    ecom_measured,
    lake_files,
    prepare_export,
    source_rows,
)
from bench.measure import log  # noqa: E402

RESULTS = REPO / "bench" / "results"
_ELAPSED_RE = re.compile(r"^\[\s*([\d.]+)s\] (.*)$")
#: Progress lines that start the Spark build's phases.
_MARKS = {
    "start": "gold rebuild #",
    "session": "spark: starting a session",
    "read": "current state ",
    "gold": "gold: computing",
    "swap": "swap:",
}


def phases(lines: list[str]) -> dict[str, float | None]:
    """Seconds of the Spark build's phases, from its progress lines' elapsed times."""
    marks: dict[str, float] = {}
    for line in lines:
        m = _ELAPSED_RE.match(line)
        if not m:
            continue
        for name, prefix in _MARKS.items():
            if name not in marks and m.group(2).startswith(prefix):
                marks[name] = float(m.group(1))

    def span(a: str, b: str) -> float | None:
        return round(marks[b] - marks[a], 1) if a in marks and b in marks else None

    return {
        "jars_and_log_s": span("start", "session"),
        # the JVM's start and the first table's read and current state
        "spark_start_s": span("session", "read"),
        "current_state_s": span("read", "gold"),
        "gold_and_jdbc_s": span("gold", "swap"),
    }


def fingerprint(gold_dsn: str) -> dict[str, str]:
    """md5 of each gold table's content (order-independent; values as PostgreSQL text)."""
    import psycopg2

    from compaction.gold_sql import GOLD_TABLES

    conn = psycopg2.connect(gold_dsn, options="-c timezone=UTC")
    try:
        out = {}
        with conn.cursor() as cur:
            for table in GOLD_TABLES:
                cur.execute(
                    "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                    f"FROM public.{table.name} AS t"
                )
                row = cur.fetchone()
                out[table.name] = str(row[0]) if row else ""
        return out
    finally:
        conn.close()


def build(label: str, *args: str) -> dict[str, Any]:
    log(f"ecom gold rebuild {' '.join(args)} ({label})")
    m = ecom_measured("gold", "rebuild", *args)
    log(f"  {m.wall_s:.1f}s, peak RSS {m.peak_rss_mb:.0f} MB (tree {m.peak_tree_rss_mb:.0f} "
        f"MB), exit {m.returncode}")  # fmt: skip
    if m.returncode != 0:
        raise SystemExit(f"ecom gold rebuild ({label}) failed")
    return {**m.summary(), "phases": phases(m.lines)}


def measure(master: str) -> dict[str, Any]:
    from common.settings import load

    settings = load()
    duck = build("DuckDB", "--full")
    duck_md5 = fingerprint(settings.gold_dsn)
    spark = build("Spark", "--engine", "spark", "--master", master)
    spark_md5 = fingerprint(settings.gold_dsn)
    ver = ecom_measured("gold", "verify")
    differ = sorted(t for t in duck_md5 if duck_md5[t] != spark_md5.get(t))
    return {
        "duckdb": duck,
        "spark": {**spark, "master": master},
        "verify": {"returncode": ver.returncode, "wall_s": round(ver.wall_s, 2)},
        "same_gold": not differ,
        "tables_differing": differ,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=0.1, help="seed scale")
    ap.add_argument("--master", default="local[2]", help="Spark master (default local[2])")
    ap.add_argument("--rows-per-file", type=int, default=200_000,
                    help="rows per silver commit (one data file each)")  # fmt: skip
    ap.add_argument("--out", default=None, help="result JSON path")
    args = ap.parse_args()
    out_path = Path(args.out) if args.out else RESULTS / f"gold-spark-{args.scale:g}.json"
    if os.environ.get("ECOM_BENCH_YES") != "1":
        print("error: bench_gold_spark replaces the source, the lake and gold of the stack "
              "it runs on; run it through `python -m bench` (the bench stack), or set "
              "ECOM_BENCH_YES=1", file=sys.stderr)  # fmt: skip
        return 2
    from common.settings import load
    from generator.configuration import scaled_counts

    settings = load()
    prep = prepare_export(args.scale, args.rows_per_file)
    src = source_rows(settings.source_dsn)
    silver = lake_files(settings, "silver")
    m = measure(args.master)
    n_src = sum(src.values())
    result = {
        "measured_at_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "as_of": datetime.now(UTC).date().isoformat(),
        "preparation": prep,
        "data": {
            "source_rows": src,
            "source_rows_total": n_src,
            "silver_files": silver,
            "silver_rows_total": sum(x["rows"] for x in silver.values()),
            "scale": round(n_src / sum(scaled_counts(1.0).values()), 3),
        },
        **m,
        "ratio_spark_over_duckdb": round(m["spark"]["wall_s"] / m["duckdb"]["wall_s"], 2),
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"scale {args.scale:g}: DuckDB {m['duckdb']['wall_s']:.1f}s, Spark "
          f"{m['spark']['wall_s']:.1f}s ({args.master}); same gold: {m['same_gold']}; "
          f"verify exit {m['verify']['returncode']}")  # fmt: skip
    return 0 if m["same_gold"] and m["verify"]["returncode"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
