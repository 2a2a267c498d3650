"""Benchmark of the generator stage. DESTRUCTIVE: empties the source tables.

Measures, in one run, against the source database of the current settings:

1. a naive row-by-row loader (one Faker call and one INSERT per row) at a small
   scale, extrapolated LINEARLY to the full scale (it is far too slow to run at 1.0);
2. ``ecom generate seed`` at the full scale in a subprocess: wall time and the
   subprocess's peak RSS (from wait4; the PostgreSQL server's memory is not included);
3. ``ecom generate live`` for N seconds at a target rate on the seeded database,
   plus a short unthrottled run showing the ceiling.

Usage: python -m bench.bench_generator --yes [--scale 1.0] [--live-seconds 60]
(--yes or ECOM_BENCH_YES=1 is required when the source tables hold rows.)
Results: bench/results/generator.json (and a summary on stdout).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
from faker import Faker

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common.settings import load  # noqa: E402
from generator.configuration import scaled_counts  # noqa: E402
from schemas import SOURCE_TABLES  # noqa: E402

ANCHOR_DATE = "2025-06-01"


def run_measured(args: list[str]) -> dict[str, object]:
    """Run ``python -m ecom.cli <args>``; wall time, peak RSS (MB), exit code, output."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ecom.cli", *args],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    out, err = proc.communicate()
    wall = time.monotonic() - t0
    # communicate() reaped the child; its rusage is in RUSAGE_CHILDREN (max over children,
    # and this is the only big child so far in the process for the seed measurement).
    import resource

    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "wall_s": round(wall, 2),
        "peak_rss_mb_max_over_children": round(peak_kb / 1024, 1),
        "returncode": proc.returncode,
        "stdout": out,
        "stderr_tail": err.strip().splitlines()[-3:],
    }


def source_is_empty(dsn: str) -> bool:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            for table in SOURCE_TABLES:
                cur.execute(f"SELECT EXISTS (SELECT 1 FROM public.{table})")
                row = cur.fetchone()
                if row and row[0]:
                    return False
        return True
    finally:
        conn.close()


def truncate(dsn: str) -> None:
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cur.execute(
            f"TRUNCATE {', '.join('public.' + t for t in SOURCE_TABLES)} RESTART IDENTITY CASCADE"
        )
    conn.close()


def naive_load(dsn: str, scale: float, seed: int = 1) -> dict[str, object]:
    """The row-by-row baseline: Faker per row, one INSERT per row, one commit."""
    counts = scaled_counts(scale)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rnd = random.Random(seed)
    truncate(dsn)
    conn = psycopg2.connect(dsn)
    t0 = time.monotonic()
    with conn, conn.cursor() as cur:
        for i in range(1, counts["customers"] + 1):
            cur.execute(
                "INSERT INTO customers (customer_id, email, first_name, last_name, customer_segment,"
                " loyalty_tier, registration_date, updated_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
                (i, f"{i}.{fake.email()}", fake.first_name(), fake.last_name(),
                 rnd.choice(["Premium", "Regular", "New"]),
                 rnd.choice(["Gold", "Silver", "Bronze", "None"]),
                 fake.date_time_between("-3y", "now"), fake.date_time_between("-1y", "now")),
            )  # fmt: skip
        for i in range(1, counts["products"] + 1):
            cur.execute(
                "INSERT INTO products (product_id, product_name, sku, category, price,"
                " stock_quantity, updated_at) VALUES (%s,%s,%s,%s,%s,%s,%s)",
                (i, fake.catch_phrase(), f"SKU-{i:07d}", fake.word(),
                 round(rnd.uniform(1, 500), 2), rnd.randint(0, 500), fake.date_time_between("-1y")),
            )  # fmt: skip
        for i in range(1, counts["marketing_campaigns"] + 1):
            start = fake.date_between("-2y", "today")
            cur.execute(
                "INSERT INTO marketing_campaigns (campaign_id, campaign_name, channel, budget, roi,"
                " start_date, end_date) VALUES (%s,%s,%s,%s,%s,%s,%s)",
                (i, fake.bs(), rnd.choice(["EMAIL", "SMS", "SOCIAL", "DISPLAY", "SEARCH"]),
                 round(rnd.uniform(100, 50000), 2), round(rnd.uniform(-1, 5), 2),
                 start, start + dt.timedelta(days=30)),
            )  # fmt: skip
        for i in range(1, counts["orders"] + 1):
            cur.execute(
                "INSERT INTO orders (order_id, customer_id, order_date, order_status, total_amount,"
                " campaign_id, updated_at) VALUES (%s,%s,%s,%s,%s,%s,%s)",
                (i, rnd.randint(1, counts["customers"]), fake.date_time_between("-2y"),
                 rnd.choice(["Pending", "Processing", "Shipped", "Delivered", "Cancelled"]),
                 round(rnd.uniform(5, 900), 2),
                 rnd.choice([None, rnd.randint(1, counts["marketing_campaigns"])]),
                 fake.date_time_between("-2y")),
            )  # fmt: skip
        for i in range(1, counts["order_items"] + 1):
            order_id = i if i <= counts["orders"] else rnd.randint(1, counts["orders"])
            cur.execute(
                "INSERT INTO order_items (order_item_id, order_id, product_id, quantity, unit_price)"
                " VALUES (%s,%s,%s,%s,%s)",
                (i, order_id, rnd.randint(1, counts["products"]), rnd.randint(1, 5),
                 round(rnd.uniform(1, 500), 2)),
            )  # fmt: skip
        for i in range(1, counts["inventory_transactions"] + 1):
            cur.execute(
                "INSERT INTO inventory_transactions (transaction_id, product_id, transaction_type,"
                " quantity, transaction_date) VALUES (%s,%s,%s,%s,%s)",
                (i, rnd.randint(1, counts["products"]), rnd.choice(["IN", "OUT", "ADJUSTMENT"]),
                 rnd.randint(1, 100), fake.date_time_between("-2y")),
            )  # fmt: skip
    elapsed = time.monotonic() - t0
    conn.close()
    rows = sum(counts.values())
    return {"scale": scale, "rows": rows, "wall_s": round(elapsed, 2),
            "rows_per_s": round(rows / elapsed, 1)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--yes", action="store_true", help="confirm emptying the source tables")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--baseline-scale", type=float, default=0.01)
    parser.add_argument("--live-seconds", type=float, default=60.0)
    parser.add_argument("--live-rate", type=float, default=2000.0)
    parser.add_argument("--ceiling-seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=8,
                        help="sessions of the unthrottled live run (default 8)")  # fmt: skip
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "generator.json"))
    args = parser.parse_args()
    settings = load()
    dsn = settings.source_dsn
    confirmed = args.yes or os.environ.get("ECOM_BENCH_YES") == "1"
    if not confirmed and not source_is_empty(dsn):
        print(
            "error: this benchmark empties the six source tables, which hold rows "
            "(re-run with --yes or ECOM_BENCH_YES=1)",
            file=sys.stderr,
        )
        return 2

    # a bench stack that was just reset has no source schema yet
    init = subprocess.run([sys.executable, "-m", "ecom.cli", "db", "init"], cwd=REPO,
                          capture_output=True, text=True, check=False)  # fmt: skip
    if init.returncode != 0:
        print(f"ecom db init failed: {init.stderr.strip()[-500:]}", file=sys.stderr)
        return 1
    print(
        f"[{time.strftime('%H:%M:%S')}] 1/4 naive row-by-row loader at scale {args.baseline_scale} ...",
        flush=True,
    )
    naive = naive_load(dsn, args.baseline_scale)
    full_rows = sum(scaled_counts(args.scale).values())
    naive["extrapolated_to_scale"] = args.scale
    naive["extrapolated_wall_s"] = round(naive["wall_s"] * full_rows / naive["rows"], 1)  # type: ignore[operator]

    print(
        f"[{time.strftime('%H:%M:%S')}] 2/4 ecom generate seed --scale {args.scale} ...", flush=True
    )
    seed = run_measured(["generate", "seed", "--scale", str(args.scale), "--seed", "42",
                         "--anchor-date", ANCHOR_DATE, "--truncate"])  # fmt: skip
    if seed["returncode"] != 0:
        print(f"seed failed: {seed['stderr_tail']}", file=sys.stderr)
        return 1
    seed["rows"] = full_rows
    seed["rows_per_s"] = round(full_rows / seed["wall_s"], 1)  # type: ignore[operator]

    print(
        f"3/4 ecom generate live --rate {args.live_rate} for {args.live_seconds}s ...", flush=True
    )
    live = run_measured(["generate", "live", "--rate", str(args.live_rate), "--duration",
                         str(args.live_seconds), "--seed", "1", "--json"])  # fmt: skip
    live_summary = json.loads(str(live["stdout"])) if live["returncode"] == 0 else None

    print(
        f"[{time.strftime('%H:%M:%S')}] 4/4 unthrottled live for {args.ceiling_seconds}s ...",
        flush=True,
    )
    ceiling = run_measured(["generate", "live", "--rate", "1000000", "--duration",
                            str(args.ceiling_seconds), "--seed", "2", "--json",
                            "--connections", str(args.connections)])  # fmt: skip
    ceiling_summary = json.loads(str(ceiling["stdout"])) if ceiling["returncode"] == 0 else None

    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT version()")
        pg_version = cur.fetchone()[0]  # type: ignore[index]
    conn.close()
    result = {
        "measured_at_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "postgres": pg_version,
        },  # fmt: skip
        "seed": {k: v for k, v in seed.items() if k != "stdout"},
        "naive_row_by_row_baseline": naive,
        "seed_speedup_vs_naive_extrapolated": round(
            float(str(naive["extrapolated_wall_s"])) / float(str(seed["wall_s"])), 1
        ),
        "live_target": {
            "rate": args.live_rate,
            "seconds": args.live_seconds,
            "process_wall_s": live["wall_s"],
            "summary": live_summary,
        },  # fmt: skip
        "live_unthrottled": {
            "seconds": args.ceiling_seconds,
            "connections": args.connections,
            "summary": ceiling_summary,
        },
        "notes": [
            "naive baseline measured at a small scale in this run and extrapolated linearly",
            "peak RSS is the maximum over the benchmark's child processes (the seed run is "
            "the largest); PostgreSQL server memory is not included",
        ],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"seed scale {args.scale}: {seed['wall_s']}s wall, peak RSS "
          f"{seed['peak_rss_mb_max_over_children']} MB, {seed['rows_per_s']:,} rows/s")  # fmt: skip
    print(f"naive row-by-row: {naive['rows']} rows in {naive['wall_s']}s at scale "
          f"{args.baseline_scale}; EXTRAPOLATED linearly to scale {args.scale}: "
          f"{naive['extrapolated_wall_s']}s -> seed is "
          f"{result['seed_speedup_vs_naive_extrapolated']}x faster")  # fmt: skip
    for label, summ in (("live (target)", live_summary), ("live (unthrottled)", ceiling_summary)):
        if summ:
            print(f"{label}: {summ['rate_rows_per_s']:,} row changes/s sustained over "
                  f"{summ['elapsed_s']}s, {summ['transactions']} transactions, "
                  f"{summ['errors']} rejected")  # fmt: skip
        else:
            print(f"{label}: FAILED")
    print(f"results written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
