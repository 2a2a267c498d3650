"""`python -m bench [--only ...] [--skip ...] [--scales ...]` (or `make bench`, `ecom bench`):
the benchmark suite (bench/suite.py): every part, results in bench/results/<date>.json/.md.

Benchmarks run against a separate *bench stack* (its own state folder and ports), so
they never touch the development stack's data: ECOM_HOME=/var/tmp/ecom-bench and every
port shifted by +10000 unless ECOM_BENCH_HOME / ECOM_BENCH_PORT_SHIFT say otherwise.
Each benchmark module runs as its own process (`python -m bench.bench_<name>`), so one
benchmark's memory never inflates another's peak-RSS figure. The bench stack is
stopped at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys

PORTS = {
    "ECOM_PG_PORT": 5432,
    "ECOM_KAFKA_PORT": 9092,
    "ECOM_KAFKA_CONTROLLER_PORT": 9093,
    "ECOM_CONNECT_PORT": 8083,
    "ECOM_S3_PORT": 9000,
    "ECOM_S3_CONSOLE_PORT": 9001,
    "ECOM_STREAM_WEB_PORT": 6066,
    "ECOM_REGISTRY_PORT": 8081,
    "ECOM_REGISTRY_MANAGEMENT_PORT": 9002,
}


def bench_env() -> dict[str, str]:
    shift = int(os.environ.get("ECOM_BENCH_PORT_SHIFT", "10000"))
    env = dict(os.environ)
    env["ECOM_HOME"] = os.environ.get("ECOM_BENCH_HOME", "/var/tmp/ecom-bench")
    env.update({name: str(port + shift) for name, port in PORTS.items()})
    env["ECOM_BENCH_YES"] = "1"  # the bench stack's data is the benchmark's own
    return env


def main(argv: list[str]) -> int:
    import argparse

    from bench import suite

    ap = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run the benchmark suite on the bench stack (see bench/suite.py).",
    )
    ap.add_argument("parts", nargs="*", metavar="PART[@SCALE]",
                    help=f"same as --only (parts: {', '.join(suite.PARTS)})")  # fmt: skip
    ap.add_argument("--only", default=None, help="comma-separated PART or PART@SCALE to run")
    ap.add_argument("--skip", default=None, help="comma-separated PART or PART@SCALE to skip")
    ap.add_argument("--scales", default=",".join(f"{s:g}" for s in suite.DEFAULT_SCALES),
                    help="scales of the scaled parts: stream, gold_stream, gold, lake (default 0.1,1,10)")  # fmt: skip
    ap.add_argument("--generator-scale", type=float, default=1.0, help="seed scale (default 1)")
    ap.add_argument("--live-seconds", type=float, default=60.0, help="live traffic seconds")
    ap.add_argument("--gold-traffic-seconds", type=float, default=600.0,
                    help="gold_stream@S: seconds of live traffic at 1,000 changes/s before "
                    "the incremental build (default 600; 0: none)")  # fmt: skip
    args = ap.parse_args(argv)
    if args.parts:
        args.only = ",".join(filter(None, [args.only, *args.parts]))
    try:
        suite.parse_selectors(args.only)
        suite.parse_selectors(args.skip)
        suite.parse_scales(args.scales)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    env = bench_env()
    print(
        f"bench stack: ECOM_HOME={env['ECOM_HOME']}, ports +{int(env['ECOM_PG_PORT']) - 5432}",
        flush=True,
    )
    up = subprocess.call([sys.executable, "-m", "ecom.cli", "stack", "up"], env=env)
    if up != 0:
        return up
    try:
        return suite.run(args, env)
    finally:
        subprocess.call([sys.executable, "-m", "ecom.cli", "stack", "down"], env=env)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
