"""`python -m bench [NAME ...]` (or `make bench`): run every bench/bench_*.py in turn.

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
from pathlib import Path

PORTS = {
    "ECOM_PG_PORT": 5432,
    "ECOM_KAFKA_PORT": 9092,
    "ECOM_KAFKA_CONTROLLER_PORT": 9093,
    "ECOM_CONNECT_PORT": 8083,
    "ECOM_S3_PORT": 9000,
    "ECOM_S3_CONSOLE_PORT": 9001,
    "ECOM_STREAM_WEB_PORT": 6066,
}


def bench_env() -> dict[str, str]:
    shift = int(os.environ.get("ECOM_BENCH_PORT_SHIFT", "10000"))
    env = dict(os.environ)
    env["ECOM_HOME"] = os.environ.get("ECOM_BENCH_HOME", "/var/tmp/ecom-bench")
    env.update({name: str(port + shift) for name, port in PORTS.items()})
    env["ECOM_BENCH_YES"] = "1"  # the bench stack's data is the benchmark's own
    return env


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    # gold reads the change-log that the stream benchmark leaves on the bench stack
    order = {"bench_generator": 0, "bench_stream": 1, "bench_gold": 2}
    names = sorted((p.stem for p in here.glob("bench_*.py")), key=lambda n: (order.get(n, 9), n))
    wanted = [f"bench_{a}" if not a.startswith("bench_") else a for a in argv]
    unknown = [w for w in wanted if w not in names]
    if unknown:
        print(
            f"error: unknown benchmark(s) {', '.join(unknown)}; have {', '.join(names)}",
            file=sys.stderr,
        )
        return 1
    env = bench_env()
    print(
        f"bench stack: ECOM_HOME={env['ECOM_HOME']}, ports +{env['ECOM_PG_PORT'][:-4]}0000",
        flush=True,
    )
    up = subprocess.call([sys.executable, "-m", "ecom.cli", "stack", "up"], env=env)
    if up != 0:
        return up
    failed = 0
    try:
        for name in sorted(wanted, key=names.index) if wanted else names:
            print(f"== {name}", flush=True)
            rc = subprocess.call([sys.executable, "-m", f"bench.{name}"], env=env)
            failed += rc != 0
    finally:
        subprocess.call([sys.executable, "-m", "ecom.cli", "stack", "down"], env=env)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
